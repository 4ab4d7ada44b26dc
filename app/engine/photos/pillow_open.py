"""Opening a file with Pillow safely: read-only, header first, bombs refused, every failure named.

* Files are opened read-only (``open(path, "rb")``); nothing here ever writes to a source photo.
* HEIC/HEIF through pillow-heif, registered lazily on first use (importing it costs ~50 ms).
* Decompression bombs are refused from the header, before any pixel is decoded, with a message
  giving the dimensions. Pillow's own guard (``Image.MAX_IMAGE_PIXELS``) stays in force as a
  backstop; its warning is silenced inside our calls (our limit is the policy) and its error
  becomes an :class:`ImageLoadError`. Pillow refuses anything over ``2 * MAX_IMAGE_PIXELS``
  whatever ``max_pixels`` says, unless the application raises that global itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from app.engine.photos import formats
from app.engine.photos.errors import ImageLoadError, megapixels

log = logging.getLogger(__name__)

MAX_PIXELS = 178_956_970  # Pillow's hard limit (2 * its default MAX_IMAGE_PIXELS): ~179 MP.

MB = 1024 * 1024
# The most memory one photo's decode may take: the full-size frame Pillow holds plus any full-size
# conversion it needs before it can be shrunk. The pixel cap alone let a 1.3 MB PNG of 13000x13000
# 16-bit RGBA (169 MP, under the cap) take 2.2 GB; by bytes it is refused from the header (still.py).
MAX_DECODE_BYTES = 512 * MB
# Bytes per pixel Pillow holds for each mode (multi-band 8-bit modes take 4).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_NO_REDUCE = ("1", "P", "PA", "I;16", "I;16B", "I;16L", "I;16N")  # converted at full size first


def decode_bytes_needed(mode: str, size: tuple[int, int]) -> int:
    """Peak bytes to decode a frame of ``mode`` and ``size``: the frame, plus the full-size 4-byte
    copy a mode that cannot be reduced in place needs (palette, 1-bit, 16-bit greyscale)."""
    per_pixel = _MODE_BYTES.get(mode, 4) + (4 if mode in _NO_REDUCE else 0)
    return size[0] * size[1] * per_pixel


_heif_lock = threading.Lock()
_heif_state: bool | None = None  # None: not tried yet; True/False: pillow-heif usable or not


def ensure_heif() -> bool:
    """Register pillow-heif's opener once, on first use."""
    global _heif_state
    if _heif_state is None:
        with _heif_lock:
            if _heif_state is None:
                try:
                    import pillow_heif

                    pillow_heif.register_heif_opener()
                    _heif_state = True
                except ImportError:
                    _heif_state = False
    return bool(_heif_state)


def decodable_formats() -> list[str]:
    """The formats this Pillow build decodes (HEIF included once pillow-heif is registered)."""
    ensure_heif()
    return formats.decodable_formats()


# warnings.catch_warnings swaps a process-global list; serialise our own uses of it so two loader
# threads cannot restore each other's filters and leave one behind.
_warnings_lock = threading.Lock()


@contextlib.contextmanager
def pillow_bomb_guard(path: Path) -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning (our pixel check is the policy) and turn its
    DecompressionBombError into an ImageLoadError."""
    with _warnings_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            yield
        except Image.DecompressionBombError as exc:
            limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
            raise ImageLoadError(
                path, f"image is too large to decode safely, over Pillow's {megapixels(limit)} MP limit ({exc})"
            ) from exc


def _identify_refused(fh: IO[bytes]) -> str | None:
    """Name a format Pillow knows but we refused, with the reason, for the message; None if nobody knows it."""
    try:
        fh.seek(0)
        with pillow_bomb_guard(Path()), Image.open(fh) as other:
            name = other.format or "unknown"
            reason = formats.refusal_reason(name, type(other)) or "not decoded"
            return f"unsupported format '{name}': {reason}"
    except Exception:  # any parser failure just means "unrecognised"
        log.debug("no Pillow plugin identifies it", exc_info=True)
        return None


def open_image(fh: IO[bytes], path: Path, max_pixels: int = MAX_PIXELS) -> ImageFile.ImageFile:
    """Parse the header only (no pixels), restricted to the formats we decode."""
    names = decodable_formats()
    head = fh.read(32)
    if not head:
        raise ImageLoadError(path, "file is empty")
    fh.seek(0)
    try:
        with pillow_bomb_guard(path):
            im = Image.open(fh, formats=names)
    except ImageLoadError:  # Pillow's bomb error: say how big, from the header alone
        size = _header_size(fh, head, names)
        if size is not None:
            pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
            check_pixels(path, size, min(max_pixels, pillow_limit))
        raise
    except UnidentifiedImageError as exc:
        sniffed = formats.sniff(head)
        if sniffed == "HEIF" and "HEIF" not in names:
            raise ImageLoadError(path, "HEIC/HEIF support needs pillow-heif, which is not installed") from exc
        if sniffed is not None and sniffed in names:
            raise ImageLoadError(path, f"truncated or corrupt {formats.label(sniffed)} data") from exc
        refused = _identify_refused(fh)
        if refused is not None:
            raise ImageLoadError(path, refused) from exc
        raise ImageLoadError(path, "not an image (unrecognised format)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        fmt = formats.sniff(head)
        raise ImageLoadError(path, f"truncated or corrupt {formats.label(fmt)} data") from exc
    if im.width <= 0 or im.height <= 0:
        raise ImageLoadError(path, f"image has no pixels ({im.width}x{im.height})")
    return im


def _header_size(fh: IO[bytes], head: bytes, names: list[str]) -> tuple[int, int] | None:
    """Dimensions straight from a plugin's header parser, which (unlike Image.open) does not run
    Pillow's bomb check; only used to word the error for an image Pillow refused."""
    for name in names:
        factory, accept = Image.OPEN[name]
        if accept is not None and not accept(head):
            continue
        try:
            fh.seek(0)
            with factory(fh, "") as parsed:
                return parsed.size
        except Exception:  # a plugin that cannot parse it: try the next
            log.debug("%s cannot read the header", name, exc_info=True)
            continue
    return None


def check_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    """Refuse an image over ``max_pixels``, giving its dimensions."""
    width, height = size
    if width * height > max_pixels:
        raise ImageLoadError(
            path,
            f"image is {width}x{height} = {megapixels(width * height)} MP, over the {megapixels(max_pixels)} MP limit",
        )


def exif_needs_decode(im: Image.Image) -> bool:
    """True when reading ``im``'s EXIF would decode a frame too big to decode (a PNG keeps its
    EXIF after the pixel data at times, and Pillow decodes the image to find it)."""
    return bool(im.format == "PNG" and "exif" not in im.info and getattr(im, "tile", None)
                and decode_bytes_needed(im.mode, im.size) > MAX_DECODE_BYTES)


def exif_orientation(im: Image.Image) -> int:
    """EXIF orientation (1-8); 1 when absent or unreadable (corrupt EXIF must not block a photo).

    A PNG whose EXIF is not in its header would be decoded whole by Pillow to look for it after the
    pixel data; for a frame over MAX_DECODE_BYTES that decode is what we refuse, so it counts as 1."""
    if exif_needs_decode(im):
        return 1
    try:
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # corrupt EXIF must not block a photo: upright as stored
        log.debug("unreadable EXIF orientation", exc_info=True)
        return 1


def frame_count(im: Image.Image) -> int:
    """Frames (GIF, WebP, APNG, FLI) or pages (TIFF, DCX); 1 for a single still. Only the first is used."""
    try:
        return max(1, int(getattr(im, "n_frames", 1)))
    except Exception:  # a damaged frame table must not block the first frame
        log.debug("unreadable frame count", exc_info=True)
        return 1


@contextlib.contextmanager
def open_readonly(path: Path) -> Iterator[IO[bytes]]:
    """Open a user's file for reading only, mapping OS errors to clear ImageLoadErrors."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError as exc:
        raise ImageLoadError(path, "file not found") from exc
    except IsADirectoryError as exc:
        raise ImageLoadError(path, "is a directory, not a file") from exc
    except PermissionError as exc:
        raise ImageLoadError(path, "permission denied") from exc
    except OSError as exc:
        raise ImageLoadError(path, f"cannot open file ({exc.strerror or exc})") from exc
    with fh:
        if os.path.isdir(path):  # Windows/odd filesystems may open directories
            raise ImageLoadError(path, "is a directory, not a file")
        yield fh
