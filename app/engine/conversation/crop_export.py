"""Writing a crop as a new file beside the original: never over it, never over anything.

The crop is cut from the photo decoded at full size (upright, as the critique saw it) and saved
in the original's format when Pillow writes it (JPEG, PNG, TIFF, WebP), else as JPEG (a RAW
cannot be written back). The shooting data is kept, with the orientation reset (the pixels are
already upright). The name is ``<stem>-crop<suffix>``, then ``-crop-2`` ... when taken.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

from app.engine.atomic import write_new_bytes
from app.engine.conversation.coordinates import Box
from app.engine.conversation.crop import CropError, check_box
from app.engine.photos.decode import decode_photo

_WRITABLE = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}
ORIENTATION = 0x0112


def crop_path(original: Path, dest: Path | None = None) -> Path:
    """Where the crop goes: ``dest`` (a folder or a new file name), else beside the original."""
    suffix = original.suffix.lower() if original.suffix.lower() in _WRITABLE else ".jpg"
    if dest is not None and not dest.is_dir():
        if dest.exists():
            raise CropError(f"{dest} already exists; a crop never replaces a file (choose another name)")
        if dest.suffix.lower() not in _WRITABLE:
            raise CropError(f"{dest}: the crop is written as JPEG, PNG, TIFF or WebP; name it .jpg, .png, .tif or .webp")
        return dest
    folder = dest if dest is not None else original.parent
    for n in range(1, 10_000):
        candidate = folder / f"{original.stem}-crop{'' if n == 1 else f'-{n}'}{suffix}"
        if not candidate.exists():
            return candidate
    raise CropError(f"{folder}: too many crops of {original.name} already")


def _exif_bytes(original: Path) -> bytes | None:
    try:
        with Image.open(original) as img:
            exif = img.getexif()
            if not exif:
                return None
            exif[ORIENTATION] = 1
            return exif.tobytes()
    except (OSError, ValueError, SyntaxError):
        return None


def export_crop(original: Path, box: Box, original_size: tuple[int, int], dest: Path | None = None) -> Path:
    """Cut ``box`` (pixels of the ``original_size`` photo the box was drawn on) from the full-size
    decode of ``original`` and write it as a new file; returns its path. Raises CropError or
    ImageLoadError; the original is only read."""
    decoded = decode_photo(original, max_edge=None)
    full = decoded.image
    if full.size != tuple(original_size):  # the box was drawn on a smaller decode: scale it up
        sx, sy = full.width / original_size[0], full.height / original_size[1]
        box = (int(box[0] * sx), int(box[1] * sy), min(full.width, round(box[2] * sx)),
               min(full.height, round(box[3] * sy)))
    check_box(box, full.size)
    target = crop_path(original, dest)
    fmt = _WRITABLE[target.suffix.lower()]
    piece = full.crop(box)
    if fmt == "JPEG" and piece.mode not in ("RGB", "L"):
        piece = piece.convert("RGB")
    buffer = io.BytesIO()
    options: dict[str, object] = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    exif = _exif_bytes(original) if fmt in ("JPEG", "TIFF", "WEBP", "PNG") else None
    if exif:
        options["exif"] = exif
    piece.save(buffer, fmt, **options)
    try:
        write_new_bytes(target, buffer.getvalue())
    except FileExistsError:
        raise CropError(f"{target} appeared while the crop was written; nothing was replaced, try again") from None
    except OSError as exc:
        raise CropError(f"cannot write the crop to {target}: {os.strerror(exc.errno or 0) or exc}") from exc
    return target
