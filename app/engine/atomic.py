"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def _temp_copy(target: Path, data: bytes) -> str:
    """``data`` written and synced to a temp file beside ``target`` (same folder: a rename or link
    into place is atomic); returns its path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _discard(tmp)
        raise
    return tmp


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_copy(target, data)
    try:
        os.replace(tmp, target)
    except BaseException:
        _discard(tmp)
        raise


def write_new_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Like :func:`write_bytes`, but never replaces a file: the temp file is hard-linked to
    ``path``, which fails with FileExistsError when something is already there."""
    target = Path(path)
    tmp = _temp_copy(target, data)
    try:
        os.link(tmp, target)
    finally:
        _discard(tmp)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
