"""Decoding a still image with Pillow: one frame, upright, 8-bit sRGB, at most ``max_edge`` px.

Animated GIF/WebP/APNG and multi-page TIFF give their first frame; the caller is told how many
frames there were so the report can say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO

from PIL import Image

from app.engine.photos import formats
from app.engine.photos.errors import ImageLoadError
from app.engine.photos.pillow_open import (
    _NO_REDUCE,
    MAX_DECODE_BYTES,
    MB,
    check_pixels,
    decode_bytes_needed,
    exif_orientation,
    frame_count,
    open_image,
    pillow_bomb_guard,
)
from app.engine.photos.pixels import target_size, to_rgb

ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class StillImage:
    """A decoded still and what the file said about it."""

    image: Image.Image  # 8-bit RGB, upright, detached from the file
    format: str  # Pillow's name: JPEG, PNG, GIF, ...
    width: int  # full size in the file, upright
    height: int
    frames: int  # frames or pages in the file; image is the first
    orientation: int  # the EXIF orientation that was applied (1: none)


def upright_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The size a viewer shows for a stored ``size`` and EXIF orientation."""
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _bits(im: Image.Image) -> str:
    """'16-bit ' when the file's samples are 16-bit (Pillow keeps 8 of them), for the message."""
    tile = getattr(im, "tile", None) or []
    args = str(getattr(tile[0], "args", "")) if tile else ""
    return "16-bit " if ";16" in args or im.mode.startswith("I;16") else ""


def check_bytes(path: Path, im: Image.Image, max_bytes: int) -> None:
    """Refuse, from the header, a frame whose decode would need more than ``max_bytes``."""
    needed = decode_bytes_needed(im.mode, im.size)
    if needed > max_bytes:
        raise ImageLoadError(
            path, f"image is {im.width}x{im.height} {_bits(im)}{im.mode}: decoding it needs about "
                  f"{needed / MB:,.0f} MB of memory, over the {max_bytes / MB:,.0f} MB limit for one photo "
                  "(save a smaller or 8-bit copy to critique it)")


def _shrink(im: Image.Image, target: tuple[int, int]) -> Image.Image:
    """A decoded frame reduced by a whole factor towards ``target`` (staying at least ``target``)
    before any conversion, so colour conversion and compositing run on the small image."""
    factor = min(im.width // max(1, target[0]), im.height // max(1, target[1]))
    if factor < 2:
        return im
    if im.mode in _NO_REDUCE:
        has_alpha = im.mode == "PA" or "transparency" in im.info or (
            im.mode == "P" and im.palette is not None and im.palette.mode == "RGBA")
        icc = im.info.get("icc_profile")
        im = im.convert("RGBA" if has_alpha else ("I" if im.mode.startswith("I;16") else "RGB"))
        if icc:
            im.info["icc_profile"] = icc
    info = dict(im.info)
    reduced = im.reduce(factor)
    reduced.info = info  # the ICC profile still applies to the reduced pixels
    return reduced


def load_still(fh: IO[bytes], path: Path, max_edge: int | None, max_pixels: int,
               max_bytes: int = MAX_DECODE_BYTES) -> StillImage:
    """Decode the first frame of a Pillow-readable image. Raises ImageLoadError naming ``path``.

    Memory is bounded by bytes, not only pixels: JPEG decodes at a reduced scale, every other
    format is refused from its header when the full-size frame (and any full-size conversion)
    would exceed ``max_bytes``, and a decoded frame is reduced before its colour conversion."""
    if max_edge is not None and max_edge < 1:
        raise ValueError(f"max_edge must be a positive number of pixels or None, not {max_edge}")
    # No ``with im``: the caller owns (and closes) fh, and for plain RGB photos that need no
    # resizing ``rgb`` below can be ``im`` itself, which close() would invalidate.
    im = open_image(fh, path, max_pixels)
    fmt = im.format or "image"
    check_pixels(path, im.size, max_pixels)
    full = im.size
    target = target_size(im.size, max_edge)
    if fmt in ("JPEG", "MPO") and target != im.size:
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale for nearly free; stays >= target for Lanczos.
        im.draft(None, target)
    # After draft (a JPEG counts at the scale it will decode) and before anything that may decode
    # the pixels (a PNG's getexif() loads the whole image to look for an eXIf chunk after the data).
    check_bytes(path, im, max_bytes)
    orientation = exif_orientation(im)
    frames = frame_count(im)
    try:
        if im.width * im.height > (Image.MAX_IMAGE_PIXELS or 0):
            with pillow_bomb_guard(path):  # TIFF re-checks at load time
                im.load()
        else:
            im.load()
    except ImageLoadError:
        raise
    except MemoryError as exc:
        raise ImageLoadError(path, f"not enough memory to decode {im.width}x{im.height} pixels") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise ImageLoadError(path, f"truncated or corrupt {formats.label(fmt)} data") from exc
    rgb = to_rgb(_shrink(im, target), path)
    if rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    method = ORIENTATION_TRANSPOSE.get(orientation)
    if method is not None:  # after the resize: transposing the small image is cheaper
        rgb = rgb.transpose(method)
    if rgb is im:
        rgb = im.copy()  # a plain Image, detached from the file object
    # Orientation is baked in and colour converted to sRGB: old EXIF/ICC would mislead a later save.
    rgb.info = {}
    width, height = upright_size(full, orientation)
    return StillImage(image=rgb, format=fmt, width=width, height=height, frames=frames, orientation=orientation)
