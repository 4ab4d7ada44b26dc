"""Finding the frames of a shoot: every photo in a folder, a RAW and its JPEG counted once.

Cameras set to RAW+JPEG write ``IMG_0001.CR3`` and ``IMG_0001.JPG``: one frame, two files. The
RAW is the one critiqued (it holds the full data; its embedded preview is fast), the JPEG is kept
as a companion so the user sees both are covered. Pairs are matched by folder and file stem,
case-insensitively (``IMG_0001.cr3`` + ``IMG_0001.JPG``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.engine.photos.files import Skipped, find_photos
from app.engine.photos.formats import is_raw_path

# Among several still files of one frame, which one stands for it (lower is preferred).
_STILL_PREFERENCE = (".jpg", ".jpeg", ".heic", ".heif", ".hif", ".tif", ".tiff", ".png", ".webp")


@dataclass(frozen=True)
class Frame:
    """One frame: the file critiqued and the other files of the same frame."""

    path: Path
    companions: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def is_raw(self) -> bool:
        return is_raw_path(self.path)


def _rank(path: Path) -> tuple[int, int, str]:
    suffix = path.suffix.lower()
    if is_raw_path(path):
        return (0, 0, path.name)
    order = _STILL_PREFERENCE.index(suffix) if suffix in _STILL_PREFERENCE else len(_STILL_PREFERENCE)
    return (1, order, path.name)


def pair_frames(files: list[Path]) -> list[Frame]:
    """Group files of one frame (same folder, same stem) and pick the RAW, else the preferred still."""
    groups: dict[tuple[str, str], list[Path]] = {}
    for file in files:
        groups.setdefault((str(file.parent), file.stem.lower()), []).append(file)
    frames = []
    for members in groups.values():
        members.sort(key=_rank)
        frames.append(Frame(path=members[0], companions=tuple(members[1:])))
    return sorted(frames, key=lambda f: (str(f.path.parent), f.path.name.lower()))


def scan_folder(folder: str | os.PathLike[str], *, recursive: bool = False, skipped: list[Skipped] | None = None,
                check: Callable[[int], None] | None = None) -> list[Frame]:
    """The frames under ``folder``. Raises ImageLoadError naming the folder when it is missing or
    unreadable; unreadable subfolders go to ``skipped``; ``check`` may raise to stop (see find_photos)."""
    return pair_frames(find_photos(Path(folder), recursive=recursive, skipped=skipped, check=check))
