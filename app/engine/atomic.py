"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Permissions: a file that is replaced keeps its mode; a new file gets the mode any program of the
user would give it (0666 cut by the umask, so 0644 beside photos that are 0644), except inside
Mondrian's own folders (:func:`app.engine.paths.is_private_path`), where it is 0600 whatever the
umask. The temp file is opened with that mode, so there is no moment where it is wider.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from app.engine import paths

USER_FILE = 0o666  # cut by the umask at open(), as every other program's new files are


def new_file_mode(target: Path) -> int:
    """The mode requested for a new file at ``target`` (the kernel applies the umask to USER_FILE)."""
    return paths.PRIVATE_FILE if paths.is_private_path(target) else USER_FILE


def temp_copy(target: Path, data: bytes, mode: int | None = None) -> str:
    """``data`` written and synced to a temp file beside ``target`` (same folder: a rename or link
    into place is atomic); returns its path. ``mode``: set exactly (fchmod, umask ignored);
    None: :func:`new_file_mode`."""
    for _ in range(100):
        tmp = str(target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                         new_file_mode(target) if mode is None else 0o600)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 32 random bits
        raise FileExistsError(f"no free temp name beside {target}")
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        discard(tmp)
        raise
    return tmp


def discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def _existing_mode(target: Path) -> int | None:
    try:
        info = os.stat(target)
    except OSError:
        return None
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else None


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename. A file
    already there keeps its mode; a new one gets :func:`new_file_mode`."""
    target = Path(path)
    if not target.parent.is_dir():
        if paths.is_private_path(target.parent):
            paths.ensure_private_dir(target.parent)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_copy(target, data, _existing_mode(target))
    try:
        os.replace(tmp, target)
    except BaseException:
        discard(tmp)
        raise


def write_new_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Like :func:`write_bytes`, but never replaces a file: the temp file is hard-linked to
    ``path``, which fails with FileExistsError when something is already there."""
    target = Path(path)
    tmp = temp_copy(target, data)
    try:
        os.link(tmp, target)
    finally:
        discard(tmp)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """UTF-8 JSON; where a string holds a lone surrogate (a file name that is not UTF-8, PEP 383),
    ASCII JSON instead, whose ``\\udcxx`` escapes read back as exactly that name."""
    text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        data = (json.dumps(obj, indent=2) + "\n").encode("ascii")
    write_bytes(path, data)
