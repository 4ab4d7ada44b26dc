"""Photo files and folders: content hashes, folder scans, thumbnails. Sources are only ever read."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from app.engine.photos.errors import ImageLoadError
from app.engine.photos.formats import is_photo_path
from app.engine.photos.pillow_open import open_readonly

THUMBNAIL_QUALITY = 85

# Folder names that hold OS or NAS clutter, never the user's photos.
_JUNK_DIRS = frozenset({"__MACOSX", "@eaDir", "$RECYCLE.BIN", "System Volume Information"})


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of the file's bytes: the identity of a photo for the store and the RAG index
    (renames and copies don't matter; an edit does)."""
    path = Path(path)
    digest = hashlib.sha256()
    with open_readonly(path) as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _hidden(name: str) -> bool:
    # Dotfiles include macOS AppleDouble sidecars ("._IMG_0001.jpg") and .thumbnails folders.
    return name.startswith(".")


def find_photos(folder: str | os.PathLike[str], *, recursive: bool = True) -> list[Path]:
    """Photo files (still and RAW) under ``folder``, sorted; skips hidden files/folders, OS clutter and
    sidecars (XMP, AAE, THM... have no photo suffix). Symlinked folders are not followed (no loops)."""
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
