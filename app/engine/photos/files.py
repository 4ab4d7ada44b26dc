"""Photo files and folders: content hashes, folder scans, thumbnails. Sources are only ever read."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.engine.photos.errors import ImageLoadError
from app.engine.photos.formats import is_photo_path
from app.engine.photos.pillow_open import open_readonly

THUMBNAIL_QUALITY = 85

# Folder names that hold OS or NAS clutter, never the user's photos.
_JUNK_DIRS = frozenset({"__MACOSX", "@eaDir", "$RECYCLE.BIN", "System Volume Information"})


class HashCancelled(Exception):
    """``file_sha256``'s ``check`` asked it to stop."""


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20,
                check: Callable[[int], None] | None = None) -> str:
    """Hex SHA-256 of the file's bytes: the identity of a photo for the store and the RAG index
    (renames and copies don't matter; an edit does). ``check(bytes_so_far)`` runs before each chunk
    and may raise to stop (a cancelled review, a file too big to be worth it)."""
    path = Path(path)
    digest = hashlib.sha256()
    done = 0
    with open_readonly(path) as fh:
        while True:
            if check is not None:
                check(done)
            block = fh.read(chunk)
            if not block:
                break
            digest.update(block)
            done += len(block)
            time.sleep(0)  # let other threads (a server's event loop) run between chunks
    return digest.hexdigest()


def _hidden(name: str) -> bool:
    # Dotfiles include macOS AppleDouble sidecars ("._IMG_0001.jpg") and .thumbnails folders.
    return name.startswith(".")


@dataclass(frozen=True)
class Skipped:
    """A folder that could not be read during a scan, and why (the scan went on without it)."""

    path: Path
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "reason": self.reason}


def _why(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or type(exc).__name__


def check_readable_folder(folder: Path) -> None:
    """Raise ImageLoadError naming ``folder`` when it is missing, not a folder or cannot be listed."""
    if not folder.exists():
        raise ImageLoadError(folder, "folder not found")
    if not folder.is_dir():
        raise ImageLoadError(folder, "not a folder")
    try:
        with os.scandir(folder) as entries:
            next(entries, None)
    except OSError as exc:
        raise ImageLoadError(folder, f"cannot read this folder ({_why(exc)})") from exc


def find_photos(folder: str | os.PathLike[str], *, recursive: bool = True, skipped: list[Skipped] | None = None,
                check: Callable[[int], None] | None = None) -> list[Path]:
    """Photo files (still and RAW) under ``folder``, sorted; skips hidden files/folders, OS clutter and
    sidecars (XMP, AAE, THM... have no photo suffix). Symlinked folders are not followed (no loops).

    Raises ImageLoadError naming ``folder`` when it is missing or cannot be read. A subfolder that
    cannot be read is appended to ``skipped`` (with why) and the scan goes on. ``check(found)`` runs
    for every folder and may raise to stop (a cancelled review)."""
    root = Path(folder)
    check_readable_folder(root)
    found: list[Path] = []

    def unreadable(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        if where == root:
            raise ImageLoadError(root, f"cannot read this folder ({_why(exc)})") from exc
        if skipped is not None:
            skipped.append(Skipped(where, _why(exc)))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        if check is not None:
            check(len(found))
        time.sleep(0)  # one folder at a time, handing the GIL over between them
        dirnames[:] = [d for d in dirnames if not _hidden(d) and d not in _JUNK_DIRS] if recursive else []
        for name in filenames:
            if _hidden(name) or not is_photo_path(name):
                continue
            candidate = Path(dirpath, name)
            if candidate.is_file():
                found.append(candidate)
    return sorted(found)
