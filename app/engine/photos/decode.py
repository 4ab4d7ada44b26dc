"""Loading the photos photographers actually have, safely, as 8-bit RGB for the model.

Everything that reads a user's photo goes through here, so the rules live in one place:

* Files are opened read-only (``open(path, "rb")``); nothing here ever writes to a source photo.
* Supported: JPEG (and MPO, the multi-picture JPEG some cameras write), PNG, TIFF, WebP and
  HEIC/HEIF (through pillow-heif, registered lazily on first use). GIF, BMP and the other
  formats Pillow knows are refused with ``unsupported format 'GIF'``: they are not how
  photographers deliver photos, and decoding fewer formats is a smaller attack surface.
* EXIF orientation is applied, so width/height are what a viewer shows.
* Every mode is normalised to 8-bit RGB: CMYK and embedded ICC profiles go through LittleCMS to
  sRGB, 16-bit and float images are scaled (Pillow's own ``convert`` would clip them), palette
  and alpha images are composited on white.
* Decompression bombs are refused from the header, before any pixel is decoded, with a message
  giving the dimensions. Pillow's own guard (``Image.MAX_IMAGE_PIXELS``) stays in force as a
  backstop; its warning is silenced inside our calls (our limit is the policy) and its error
  becomes an :class:`ImageLoadError`. Pillow refuses anything over ``2 * MAX_IMAGE_PIXELS``
  whatever ``max_pixels`` says, unless the application raises that global itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np
from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from app.engine import atomic

PHOTO_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif"}
)
# Pillow format names we decode. MPO is what Pillow calls a JPEG with extra frames (many cameras).
SUPPORTED_FORMATS: frozenset[str] = frozenset({"JPEG", "MPO", "PNG", "TIFF", "WEBP", "HEIF"})
_SUPPORTED_TEXT = "JPEG, PNG, TIFF, WebP, HEIC/HEIF"

DEFAULT_MAX_EDGE = 1024
MAX_PIXELS = 178_956_970  # Pillow's hard limit (2 * its default MAX_IMAGE_PIXELS): ~179 MP.
THUMBNAIL_QUALITY = 85

# Folder names that hold OS or NAS clutter, never the user's photos.
_JUNK_DIRS = frozenset({"__MACOSX", "@eaDir", "$RECYCLE.BIN", "System Volume Information"})

# Magic numbers, to say "truncated or corrupt JPEG data" rather than "not an image" when a
# photo is cut so short that Pillow cannot even parse its header.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"WEBP", 8, "WEBP"),
    (b"ftypheic", 4, "HEIF"),
    (b"ftypheix", 4, "HEIF"),
    (b"ftypmif1", 4, "HEIF"),
    (b"ftyphevc", 4, "HEIF"),
    (b"ftypmsf1", 4, "HEIF"),
)

_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_WHITE = (255, 255, 255)


class ImageLoadError(ValueError):
    """A photo could not be loaded; ``str()`` is ``"<path>: <reason>"`` for the user."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[ImageLoadError], tuple[Path, str]]:
        # Exceptions pickle their args; ours take (path, reason), so crossing processes works.
        return (type(self), (self.path, self.reason))


@dataclass(frozen=True)
class PhotoInfo:
    """What the header says, without decoding pixels. Width/height are after EXIF orientation."""

    path: Path
    format: str
    width: int
    height: int
    mode: str
    orientation: int = 1
    taken_at: datetime | None = None  # EXIF DateTimeOriginal (camera local time, naive)
    camera: str | None = None  # EXIF Make + Model

    @property
    def pixels(self) -> int:
        return self.width * self.height


# --------------------------------------------------------------------------- Pillow plumbing

_heif_lock = threading.Lock()
_heif_state: bool | None = None  # None: not tried yet; True/False: pillow-heif usable or not


def _ensure_heif() -> bool:
    """Register pillow-heif's opener once, on first use (importing it costs ~50 ms)."""
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


def _decodable_formats() -> list[str]:
    """The supported formats this Pillow build can open (Image.open fails on unknown names)."""
    _ensure_heif()
    Image.init()  # imports every plugin once, so Image.OPEN is complete; cheap after the first call
    return sorted(SUPPORTED_FORMATS & set(Image.OPEN))


# warnings.catch_warnings swaps a process-global list; serialise our own uses of it so two loader
# threads cannot restore each other's filters and leave one behind.
_warnings_lock = threading.Lock()


@contextlib.contextmanager
def _pillow_bomb_guard(path: Path) -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning (our pixel check is the policy) and turn its
    DecompressionBombError into an ImageLoadError."""
    with _warnings_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            yield
        except Image.DecompressionBombError as exc:
            limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
            raise ImageLoadError(
                path, f"image is too large to decode safely, over Pillow's {_mp(limit)} MP limit ({exc})"
            ) from exc


def _mp(pixels: int) -> str:
    """Megapixels for messages: whole numbers when big, one decimal when small."""
    mp = pixels / 1_000_000
    return f"{mp:.0f}" if mp >= 10 else f"{mp:.1f}"


def _sniff(head: bytes) -> str | None:
    for magic, offset, fmt in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return fmt
    return None


def _identify_unsupported(fh: IO[bytes]) -> str | None:
    """Name the format of a file we refused, for the message; None if nobody knows it."""
    try:
        fh.seek(0)
        with _pillow_bomb_guard(Path()), Image.open(fh) as other:
            return other.format or "unknown"
    except Exception:  # any parser failure just means "unrecognised"
        return None


def _open_image(fh: IO[bytes], path: Path, max_pixels: int = MAX_PIXELS) -> ImageFile.ImageFile:
    """Parse the header only (no pixels), restricted to the formats we decode."""
    formats = _decodable_formats()
    head = fh.read(32)
    if not head:
        raise ImageLoadError(path, "file is empty")
    fh.seek(0)
    try:
        with _pillow_bomb_guard(path):
            im = Image.open(fh, formats=formats)
    except ImageLoadError:  # Pillow's bomb error: say how big, from the header alone
        size = _header_size(fh, head, formats)
        if size is not None:
            pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
            _check_pixels(path, size, min(max_pixels, pillow_limit))
        raise
    except UnidentifiedImageError as exc:
        sniffed = _sniff(head)
        if sniffed == "HEIF" and "HEIF" not in formats:
            raise ImageLoadError(path, "HEIC/HEIF support needs pillow-heif, which is not installed") from exc
        if sniffed in SUPPORTED_FORMATS:
            raise ImageLoadError(path, f"truncated or corrupt {_label(sniffed)} data") from exc
        other = _identify_unsupported(fh)
        if other is not None:
            raise ImageLoadError(
                path, f"unsupported format '{other}' (supported: {_SUPPORTED_TEXT})"
            ) from exc
        raise ImageLoadError(path, "not an image (unrecognised format)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        fmt = _sniff(head)
        raise ImageLoadError(path, f"truncated or corrupt {_label(fmt) if fmt else 'image'} data") from exc
    if im.width <= 0 or im.height <= 0:
        raise ImageLoadError(path, f"image has no pixels ({im.width}x{im.height})")
    return im


def _header_size(fh: IO[bytes], head: bytes, formats: list[str]) -> tuple[int, int] | None:
    """Dimensions straight from a plugin's header parser, which (unlike Image.open) does not run
    Pillow's bomb check; only used to word the error for an image Pillow refused."""
    for name in formats:
        factory, accept = Image.OPEN[name]
        if accept is not None and not accept(head):
            continue
        try:
            fh.seek(0)
            with factory(fh, "") as parsed:
                return parsed.size
        except Exception:
            continue
    return None


def _label(fmt: str | None) -> str:
    return {"WEBP": "WebP", "MPO": "JPEG", "HEIF": "HEIC/HEIF"}.get(fmt or "", fmt or "image")


def _check_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageLoadError(
            path,
            f"image is {width}x{height} = {_mp(width * height)} MP, over the {_mp(max_pixels)} MP limit",
        )


def _orientation(im: Image.Image) -> int:
    """EXIF orientation (1-8); 1 when absent or unreadable (corrupt EXIF must not block a photo)."""
    try:
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:
        return 1


@contextlib.contextmanager
def _open_readonly(path: Path) -> Iterator[IO[bytes]]:
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


# --------------------------------------------------------------------------- pixel conversion


def _scale_to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and float greyscale to 8-bit L. Pillow's convert('L') clips instead of scaling."""
    arr = np.asarray(im)
    if im.mode == "F":
        arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(arr.max(initial=0.0))
        # Float TIFFs are usually 0..1; anything brighter is scaled by its own peak.
        scale = 255.0 if peak <= 1.0 else 255.0 / peak
        out = np.clip(arr * scale + 0.5, 0, 255)
    else:  # I;16 variants and I (Pillow opens 16-bit greyscale as one of these): 0..65535
        out = np.clip(arr.astype(np.float64) / 257.0 + 0.5, 0, 255)
    return Image.fromarray(out.astype(np.uint8))  # 2-D uint8 -> mode L


def _flatten_alpha(im: Image.Image) -> Image.Image:
    """Composite on white: transparent areas read as paper, not as black."""
    rgba = im.convert("RGBA")
    background = Image.new("RGB", rgba.size, _WHITE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Colour-manage RGB/CMYK with the embedded profile; fall back to Pillow's plain convert."""
    if icc:
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            description = ImageCms.getProfileDescription(source) or ""
            if not (im.mode == "RGB" and "srgb" in description.lower()):
                converted = ImageCms.profileToProfile(
                    im,
                    source,
                    ImageCms.createProfile("sRGB"),
                    renderingIntent=ImageCms.Intent.PERCEPTUAL,
                    outputMode="RGB",
                )
                if converted is not None:
                    return converted
        except Exception:  # a broken or mismatched profile must not make a photo unreadable
            pass
    return im if im.mode == "RGB" else im.convert("RGB")


def _to_rgb(im: Image.Image, path: Path) -> Image.Image:
    """Any decoded mode -> 8-bit RGB."""
    icc = im.info.get("icc_profile")
    mode = im.mode
    if mode == "P":
        has_alpha = "transparency" in im.info or im.palette is not None and im.palette.mode == "RGBA"
        return _flatten_alpha(im) if has_alpha else im.convert("RGB")
    if mode in ("PA", "RGBA", "RGBa", "LA", "La"):
        return _to_srgb(_flatten_alpha(im), icc if mode in ("RGBA", "RGBa") else None)
    if mode == "1":
        return im.convert("L").convert("RGB")
    if mode in ("I", "F") or mode.startswith("I;16"):
        return _scale_to_8bit(im).convert("RGB")
    if mode == "L":
        return im.convert("RGB")
    if mode in ("RGB", "CMYK"):
        return _to_srgb(im, icc)
    if mode == "LAB":
        try:
            from PIL import ImageCms

            lab = ImageCms.createProfile("LAB")
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(im, lab, srgb, outputMode="RGB")
            if converted is not None:
                return converted
        except Exception as exc:
            raise ImageLoadError(path, "cannot convert LAB colour to RGB") from exc
    try:
        return im.convert("RGB")  # YCbCr, HSV, RGBX
    except (ValueError, OSError) as exc:
        raise ImageLoadError(path, f"unsupported colour mode '{mode}'") from exc


def _target_size(size: tuple[int, int], max_edge: int | None) -> tuple[int, int]:
    width, height = size
    if max_edge is None or max(width, height) <= max_edge:
        return size
    scale = max_edge / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


# --------------------------------------------------------------------------- loading


def _load(fh: IO[bytes], path: Path, max_edge: int | None, max_pixels: int) -> Image.Image:
    if max_edge is not None and max_edge < 1:
        raise ValueError(f"max_edge must be a positive number of pixels or None, not {max_edge}")
    # No ``with im``: the caller owns (and closes) fh, and for plain RGB photos that need no
    # resizing ``rgb`` below can be ``im`` itself, which close() would invalidate.
    im = _open_image(fh, path, max_pixels)
    fmt = im.format or "image"
    _check_pixels(path, im.size, max_pixels)
    orientation = _orientation(im)
    target = _target_size(im.size, max_edge)
    if fmt in ("JPEG", "MPO") and target != im.size:
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale for nearly free; stays >= target for Lanczos.
        im.draft(None, target)
    try:
        if im.width * im.height > (Image.MAX_IMAGE_PIXELS or 0):
            with _pillow_bomb_guard(path):  # TIFF re-checks at load time
                im.load()
        else:
            im.load()
    except ImageLoadError:
        raise
    except MemoryError as exc:
        raise ImageLoadError(path, f"not enough memory to decode {im.width}x{im.height} pixels") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise ImageLoadError(path, f"truncated or corrupt {_label(fmt)} data") from exc
    rgb = _to_rgb(im, path)
    if rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    method = _ORIENTATION_TRANSPOSE.get(orientation)
    if method is not None:  # after the resize: transposing the small image is cheaper
        rgb = rgb.transpose(method)
    if rgb is im:
        rgb = im.copy()  # a plain Image, detached from the file object
    # Orientation is baked in and colour converted to sRGB: old EXIF/ICC would mislead a later save.
    rgb.info = {}
    return rgb


def load_photo(
    path: str | os.PathLike[str],
    *,
    max_edge: int | None = DEFAULT_MAX_EDGE,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """Load a photo as an 8-bit RGB image, upright, long edge at most ``max_edge`` (None: full size).

    Raises ImageLoadError naming the file and what is wrong with it.
    """
    path = Path(path)
    with _open_readonly(path) as fh:
        return _load(fh, path, max_edge, max_pixels)


def photo_from_bytes(
    data: bytes,
    name: str = "upload",
    *,
    max_edge: int | None = DEFAULT_MAX_EDGE,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """Same as load_photo for bytes from an HTTP upload or the clipboard; ``name`` labels errors."""
    path = Path(name)
    if not data:
        raise ImageLoadError(path, "file is empty")
    return _load(io.BytesIO(data), path, max_edge, max_pixels)


def open_photo_info(path: str | os.PathLike[str]) -> PhotoInfo:
    """Read format, size, orientation and a little EXIF from the header, without decoding pixels."""
    path = Path(path)
    with _open_readonly(path) as fh, _open_image(fh, path) as im:
        orientation = _orientation(im)
        width, height = im.size
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        taken_at, camera = _exif_summary(im)
        return PhotoInfo(
            path=path,
            format=im.format or "unknown",
            width=width,
            height=height,
            mode=im.mode,
            orientation=orientation,
            taken_at=taken_at,
            camera=camera,
        )


def _exif_summary(im: Image.Image) -> tuple[datetime | None, str | None]:
    try:
        exif = im.getexif()
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:
        return None, None
    taken_at = None
    raw = sub.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
    if isinstance(raw, str):
        try:
            taken_at = datetime.strptime(raw.strip("\x00 ").strip(), "%Y:%m:%d %H:%M:%S")
        except ValueError:
            taken_at = None
    make = str(exif.get(ExifTags.Base.Make, "") or "").strip("\x00 ").strip()
    model = str(exif.get(ExifTags.Base.Model, "") or "").strip("\x00 ").strip()
    if make and model.lower().startswith(make.lower()):
        make = ""  # "Canon" + "Canon EOS R5" -> "Canon EOS R5"
    camera = " ".join(part for part in (make, model) if part) or None
    return taken_at, camera


# --------------------------------------------------------------------------- files and folders


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of the file's bytes: the identity of a photo for the store and the RAG index
    (renames and copies don't matter; an edit does)."""
    path = Path(path)
    digest = hashlib.sha256()
    with _open_readonly(path) as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def is_photo_path(path: str | os.PathLike[str]) -> bool:
    """True if the name has a photo suffix (case-insensitive); says nothing about the content."""
    return Path(path).suffix.lower() in PHOTO_SUFFIXES


def _hidden(name: str) -> bool:
    # Dotfiles include macOS AppleDouble sidecars ("._IMG_0001.jpg") and .thumbnails folders.
    return name.startswith(".")


def find_photos(folder: str | os.PathLike[str], *, recursive: bool = True) -> list[Path]:
    """Photo files under ``folder``, sorted; skips hidden files/folders, OS clutter and sidecars
    (XMP, AAE, THM... have no photo suffix). Symlinked folders are not followed (no loops)."""
    root = Path(folder)
    if not root.exists():
        raise ImageLoadError(root, "folder not found")
    if not root.is_dir():
        raise ImageLoadError(root, "not a folder")
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not _hidden(d) and d not in _JUNK_DIRS] if recursive else []
        for name in filenames:
            if _hidden(name) or not is_photo_path(name):
                continue
            candidate = Path(dirpath, name)
            if candidate.is_file():
                found.append(candidate)
    return sorted(found)


def save_thumbnail(path: str | os.PathLike[str], dest: str | os.PathLike[str], size: int = 256) -> Path:
    """Write a JPEG thumbnail (long edge ``size``) atomically to ``dest``; the source is only read."""
    source, target = Path(path), Path(dest)
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise ImageLoadError(source, "refusing to write a thumbnail over the original photo")
    image = load_photo(source, max_edge=size)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    atomic.write_bytes(target, buffer.getvalue())
    return target
