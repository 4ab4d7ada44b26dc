"""Replacing a sidecar the user owns, as gently as a file can be replaced.

Just before the rename the file is checked again (size, mtime, inode and SHA-256 as when it was
read): Lightroom may have written in between, and then nothing is replaced. The new file keeps the
old one's mode, owner and extended attributes (Finder tags, ``user.*`` on Linux), so only the
content changes. A read-only sidecar (no write permission for its owner) is never replaced.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from app.engine import atomic

log = logging.getLogger(__name__)


class ReplaceRefused(OSError):
    """The file changed since it was read, is read-only, or cannot keep its owner/attributes."""


@dataclass(frozen=True)
class FileState:
    """What a file was when read: compared again just before it is replaced."""

    size: int
    mtime_ns: int
    inode: int
    mode: int
    uid: int
    gid: int
    sha256: str

    @classmethod
    def of(cls, path: Path, data: bytes | None = None) -> FileState:
        info = os.stat(path)
        if data is None:
            data = path.read_bytes()
        return cls(info.st_size, info.st_mtime_ns, info.st_ino, stat.S_IMODE(info.st_mode), info.st_uid,
                   info.st_gid, hashlib.sha256(data).hexdigest())

    @property
    def read_only(self) -> bool:
        return not self.mode & stat.S_IWUSR


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _xattrs(path: Path) -> dict[str, bytes]:
    if not hasattr(os, "listxattr"):
        return {}
    try:
        return {name: os.getxattr(path, name) for name in os.listxattr(path)}
    except OSError as exc:  # a filesystem without xattrs
        log.debug("%s: no extended attributes (%s)", path, exc)
        return {}


def _copy_metadata(src_state: FileState, attrs: dict[str, bytes], tmp: str, target: Path) -> None:
    os.chmod(tmp, src_state.mode)
    info = os.stat(tmp)
    if (info.st_uid, info.st_gid) != (src_state.uid, src_state.gid):
        try:
            os.chown(tmp, src_state.uid, src_state.gid)
        except PermissionError:
            raise ReplaceRefused(f"{target}: belongs to another user; Mondrian cannot keep its owner, "
                                 "nothing written") from None
    for name, value in attrs.items():
        try:
            os.setxattr(tmp, name, value)
        except OSError as exc:
            if name.startswith("user."):
                raise ReplaceRefused(f"{target}: cannot keep its extended attribute {name} ({exc.strerror}), "
                                     "nothing written") from None
            log.debug("%s: attribute %s not copied (%s)", target, name, exc)


def changed_since(path: Path, state: FileState) -> str | None:
    """Why ``path`` is no longer the file described by ``state``; None when it still is."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "it was deleted"
    if (info.st_size, info.st_mtime_ns, info.st_ino) != (state.size, state.mtime_ns, state.inode):
        if sha256(path.read_bytes()) != state.sha256 or info.st_ino != state.inode:
            return "it changed since Mondrian read it"
    return None


def replace_file(target: Path, data: bytes, before: FileState) -> FileState:
    """Replace ``target`` with ``data`` atomically, keeping its mode, owner and extended attributes;
    ReplaceRefused when it is read-only or changed since ``before`` was taken. Returns the new state."""
    if before.read_only:
        raise ReplaceRefused(f"{target}: read-only, left as it is")
    attrs = _xattrs(target)
    tmp = atomic.temp_copy(target, data, before.mode)
    try:
        _copy_metadata(before, attrs, tmp, target)
        why = changed_since(target, before)
        if why:
            raise ReplaceRefused(f"{target}: {why} (another program wrote it?), nothing written")
        os.replace(tmp, target)
    except BaseException:
        atomic.discard(tmp)
        raise
    return FileState.of(target, data)
