"""One review of a folder at a time, across processes: an ``flock`` in the data folder.

Two reviews of one folder at once (two CLI runs, or the CLI and the server) would critique every
frame twice. The lock is a file in the data folder (beside the database, under ``locks/``), never
in the photo folder, named by a digest of the folder's real path, device and inode, so
``~/Photos/shoot``, a symlink to it and a relative path all meet at one lock. ``flock`` is
released by the kernel when the process dies, so a crash never leaves a folder locked. The
file's text (pid, folder) only words the refusal; the lock is the ``flock``.

flock locks belong to an open file description, so a second lock of the same folder from the
same process is refused too; a caller that wants to join its own running review checks first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from app.engine.paths import ensure_private_dir

try:
    import fcntl
except ImportError:  # Windows: no flock; reviews are not locked there
    fcntl = None  # type: ignore[assignment]


class FolderBusyError(RuntimeError):
    """Another review of the same folder is running (in this process or another)."""


def lock_key(folder: Path) -> str:
    """A name for the folder's lock: its real path, device and inode, digested."""
    real = os.path.realpath(folder)
    info = os.stat(real)
    raw = os.fsencode(real) + f"\0{info.st_dev}\0{info.st_ino}".encode()
    return hashlib.sha256(raw).hexdigest()[:24]


class FolderLock:
    """An exclusive, non-blocking flock on ``locks_dir/review-<key>.lock`` for ``folder``."""

    def __init__(self, folder: Path, locks_dir: Path):
        self.folder = folder
        self.path = locks_dir / f"review-{lock_key(folder)}.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FolderLock:
        """Take the lock or raise FolderBusyError naming the folder and, if known, the other process."""
        if self._fd is not None:
            return self
        ensure_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_holder(fd)
                os.close(fd)
                raise FolderBusyError(f"{self.folder}: another review of this folder is running{holder}; "
                                      "wait for it to finish or cancel it, then run this one again "
                                      "(it continues where the other stopped)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n{os.fsencode(os.path.realpath(self.folder)).hex()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the description drops the flock; the file stays (no unlink race)


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("ascii", "replace")
        pid = int(text.split("\n", 1)[0])
    except (OSError, ValueError):
        return ""
    return f" (process {pid})" if pid != os.getpid() else " (in this process)"
