"""Where each photo tool looks for a photo's XMP sidecar.

* Lightroom Classic and Capture One: the photo's suffix replaced, ``IMG_0001.xmp`` beside
  ``IMG_0001.CR3``. Lightroom reads sidecars only for proprietary RAW files: for JPEG, HEIC, TIFF,
  PNG and DNG it reads the XMP embedded in the file, which Mondrian never writes
  (:func:`sidecar_note` says so for the UI).
* darktable: the suffix appended, ``IMG_0001.CR3.xmp`` (so a RAW and its JPEG get one each).

An existing sidecar in another letter case (``IMG_0001.XMP``) is the one merged into, so a
case-sensitive disk never ends up with two.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from app.engine.photos.formats import is_raw_path


class Convention(StrEnum):
    LIGHTROOM = "lightroom"
    CAPTURE_ONE = "capture_one"
    DARKTABLE = "darktable"


def _candidates(photo: Path, convention: Convention) -> list[Path]:
    if convention is Convention.DARKTABLE:
        return [photo.with_name(photo.name + ".xmp"), photo.with_name(photo.name + ".XMP")]
    return [photo.with_suffix(".xmp"), photo.with_suffix(".XMP")]


def sidecar_path(photo: str | os.PathLike[str], convention: Convention | str = Convention.LIGHTROOM) -> Path:
    """The sidecar ``convention``'s tool reads for ``photo``: an existing one in any letter case, else the
    lower-case name."""
    photo = Path(photo)
    candidates = _candidates(photo, Convention(convention))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return candidates[0]


def existing_sidecars(photo: str | os.PathLike[str]) -> list[Path]:
    """Every sidecar of ``photo`` that exists, Lightroom/Capture One name first, then darktable's."""
    photo = Path(photo)
    found: list[Path] = []
    for candidate in _candidates(photo, Convention.LIGHTROOM) + _candidates(photo, Convention.DARKTABLE):
        if candidate.is_file() and not any(_same_file(candidate, seen) for seen in found):
            found.append(candidate)
    return found


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # case-insensitive filesystems give one file two names
    except OSError:
        return False


def sidecar_note(photo: str | os.PathLike[str], convention: Convention | str) -> str | None:
    """A warning for the UI when ``convention``'s tool will not read a sidecar for this photo; else None."""
    photo = Path(photo)
    if Convention(convention) is Convention.LIGHTROOM and (not is_raw_path(photo) or photo.suffix.lower() == ".dng"):
        return (f"Lightroom reads the XMP embedded in {photo.suffix.upper().lstrip('.')} files, not sidecars: "
                "import the keywords from the exported CSV, or use Capture One or darktable")
    return None
