"""Loading the photos photographers actually have, safely, as 8-bit RGB for the model.

Everything that reads a user's photo goes through here, so the rules live in one place:

* Files are opened read-only; nothing here ever writes to a source photo.
* Every still format Pillow decodes (JPEG/MPO, PNG/APNG, TIFF, WebP, HEIC/HEIF through
  pillow-heif, AVIF, GIF, BMP, PPM/PGM, TGA, JPEG 2000, PSD, ...): animated and multi-page files
  give their first frame and :class:`PhotoSource` says so. Refused formats are named with the
  reason (:mod:`app.engine.photos.formats`).
* Camera RAW through LibRaw (:mod:`app.engine.photos.raw`): the embedded preview when it is big
  enough, else a demosaic; :attr:`PhotoSource.raw` says which.
* EXIF orientation is applied; every mode is normalised to 8-bit sRGB (:mod:`.pixels`);
  decompression bombs are refused from the header (:mod:`.pillow_open`).

Module layout: errors -> formats -> pillow_open -> pixels -> still -> raw -> decode (this facade);
files (hashing, folder scans, thumbnails) and exif (shooting data) sit beside it.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from PIL import ExifTags, Image

from app.engine.photos import formats
from app.engine.photos.errors import ImageLoadError
from app.engine.photos.files import file_sha256, find_photos  # re-exported for callers
from app.engine.photos.formats import PHOTO_SUFFIXES, RAW_SUFFIXES, is_photo_path, is_raw_path
from app.engine.photos.pillow_open import (
    MAX_PIXELS,
    exif_needs_decode,
    exif_orientation,
    frame_count,
    open_image,
    open_readonly,
)
from app.engine.photos.raw import RawRender, load_raw, raw_size
from app.engine.photos.still import load_still, upright_size

log = logging.getLogger(__name__)

DEFAULT_MAX_EDGE = 1024

__all__ = [
    "DEFAULT_MAX_EDGE", "MAX_PIXELS", "PHOTO_SUFFIXES", "RAW_SUFFIXES", "DecodedPhoto", "ImageLoadError",
    "PhotoInfo", "PhotoSource", "decode_bytes", "decode_photo", "file_sha256", "find_photos", "is_photo_path",
    "is_raw_path", "load_photo", "open_photo_info", "photo_from_bytes",
]


@dataclass(frozen=True)
class PhotoSource:
    """What the pixels were made from, so a report and the measurements can say it."""

    format: str  # Pillow's format name (JPEG, GIF, ...) or the RAW suffix (DNG, CR3, ...)
    width: int  # full upright size of what was decoded (the preview's, for a RAW preview)
    height: int
    frames: int = 1  # frames or pages in the file: only the first is critiqued
    raw: RawRender | None = None

    @property
    def first_frame_only(self) -> bool:
        return self.frames > 1

    def notes(self) -> list[str]:
        """Sentences for the report: which frame, which RAW rendering. [] for an ordinary still."""
        notes: list[str] = []
        if self.first_frame_only:
            kind = "pages" if self.format in ("TIFF", "DCX", "PSD") else "frames"
            notes.append(f"Only the first of the {self.frames} {kind} of this {formats.label(self.format)} file "
                         "was critiqued")
        if self.raw is not None:
            notes.append(f"Critiqued and measured on {self.raw.describe()}")
        return notes

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "width": self.width, "height": self.height, "frames": self.frames,
                "raw": self.raw.to_dict() if self.raw else None, "notes": self.notes()}


@dataclass(frozen=True)
class DecodedPhoto:
    image: Image.Image  # 8-bit RGB, upright, long edge <= the max_edge asked for
    source: PhotoSource


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
    frames: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _still(fh: IO[bytes], path: Path, max_edge: int | None, max_pixels: int) -> DecodedPhoto:
    still = load_still(fh, path, max_edge, max_pixels)
    return DecodedPhoto(still.image, PhotoSource(still.format, still.width, still.height, still.frames))


def _raw(source: Path | bytes, path: Path, max_edge: int | None, max_pixels: int,
         min_preview_edge: int | None) -> DecodedPhoto:
    if max_edge is not None and max_edge < 1:
        raise ValueError(f"max_edge must be a positive number of pixels or None, not {max_edge}")
    image, render = load_raw(source, path, max_edge=max_edge, min_preview_edge=min_preview_edge,
                             max_pixels=max_pixels)
    fmt = path.suffix.lstrip(".").upper() if is_raw_path(path) else "RAW"
    return DecodedPhoto(image, PhotoSource(fmt, render.width, render.height, raw=render))


def decode_photo(
    path: str | os.PathLike[str],
    *,
    max_edge: int | None = DEFAULT_MAX_EDGE,
    max_pixels: int = MAX_PIXELS,
    min_raw_preview_edge: int | None = None,
) -> DecodedPhoto:
    """Decode a photo file: RGB image, upright, long edge at most ``max_edge`` (None: full size).

    A RAW file's embedded preview is used when its long edge is at least ``min_raw_preview_edge``
    (default ``max_edge``): pass the model's image edge. Raises ImageLoadError naming the file.
    """
    path = Path(path)
    with open_readonly(path) as fh:
        if is_raw_path(path):
            head = fh.read(32)
            try:
                return _raw(path, path, max_edge, max_pixels, min_raw_preview_edge)
            except ImageLoadError:
                if formats.sniff(head) in (None, "TIFF"):
                    raise  # a damaged RAW: never fall back to the thumbnail Pillow would find in its TIFF
            fh.seek(0)  # a JPEG or PNG with a RAW suffix: decoded by content, as for any photo
        return _still(fh, path, max_edge, max_pixels)


def decode_bytes(
    data: bytes,
    name: str = "upload",
    *,
    max_edge: int | None = DEFAULT_MAX_EDGE,
    max_pixels: int = MAX_PIXELS,
    min_raw_preview_edge: int | None = None,
) -> DecodedPhoto:
    """Same as decode_photo for bytes from an HTTP upload or the clipboard; ``name`` labels errors and,
    by its suffix, marks RAW data (CR3, RAF and other non-TIFF RAWs are recognised without it)."""
    path = Path(name)
    if not data:
        raise ImageLoadError(path, "file is empty")
    if is_raw_path(path):
        return _raw(data, path, max_edge, max_pixels, min_raw_preview_edge)
    try:
        return _still(io.BytesIO(data), path, max_edge, max_pixels)
    except ImageLoadError as still_error:
        if not still_error.reason.startswith("not an image"):
            raise
        try:
            return _raw(data, path, max_edge, max_pixels, min_raw_preview_edge)
        except ImageLoadError:
            raise still_error from None


def load_photo(
    path: str | os.PathLike[str],
    *,
    max_edge: int | None = DEFAULT_MAX_EDGE,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """Load a photo as an 8-bit RGB image, upright, long edge at most ``max_edge`` (None: full size).

    Raises ImageLoadError naming the file and what is wrong with it.
    """
    return decode_photo(path, max_edge=max_edge, max_pixels=max_pixels).image


def photo_from_bytes(
    data: bytes,
    name: str = "upload",
    *,
    max_edge: int | None = DEFAULT_MAX_EDGE,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """Same as load_photo for bytes from an HTTP upload or the clipboard; ``name`` labels errors."""
    return decode_bytes(data, name, max_edge=max_edge, max_pixels=max_pixels).image


def open_photo_info(path: str | os.PathLike[str]) -> PhotoInfo:
    """Read format, size, orientation and a little EXIF from the header, without decoding pixels."""
    path = Path(path)
    if is_raw_path(path):
        from app.engine.photos.exif import read_shooting_data

        with open_readonly(path):  # the same "file not found" / "permission denied" wording
            pass
        width, height = raw_size(path, path)
        shooting = read_shooting_data(path)
        return PhotoInfo(path=path, format=path.suffix.lstrip(".").upper(), width=width, height=height,
                         mode="RAW", taken_at=shooting.taken_at if shooting else None,
                         camera=shooting.camera if shooting else None)
    with open_readonly(path) as fh, open_image(fh, path) as im:
        orientation = exif_orientation(im)
        width, height = upright_size(im.size, orientation)
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
            frames=frame_count(im),
        )


def _exif_summary(im: Image.Image) -> tuple[datetime | None, str | None]:
    if exif_needs_decode(im):
        return None, None
    try:
        exif = im.getexif()
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # Pillow's EXIF parser raises many kinds; the photo decodes without it
        log.debug("unreadable EXIF", exc_info=True)
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
