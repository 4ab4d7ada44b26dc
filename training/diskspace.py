"""A full or read-only disk in a training command: one line naming the folder and the space needed.

Each command knows roughly what it is about to write (a dataset's PNGs, a checkpoint's tensors, an
evaluation's texts), so it checks the folder first (a probe write and the free space) and refuses
before the expensive part; a write that still fails (the disk filled meanwhile) is turned into the
same one-line message instead of a traceback. MLX writes safetensors in C++ and reports failures as
``RuntimeError`` without an errno: those are recognised by their text and the folder is probed to
tell a full disk from a read-only one.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .common import EXIT_DISK, CommandError

FULL = {errno.ENOSPC, errno.EDQUOT}
TOO_LARGE = {errno.EFBIG}
READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
DISK_ERRNOS = FULL | TOO_LARGE | READ_ONLY
_MLX_WRITE = re.compile(r"^\[(write|save|save_safetensors|save_gguf)\] (Unable to write|Failed to open)")
_MLX_PATH = re.compile(r"Failed to open file (\S+)")
_ERRNO_TEXT = re.compile(r"\[errno (\d+)\]", re.IGNORECASE)
PROBE_BYTES = 512  # any write needs a free block: a full disk refuses even this
HINT = "or point MONDRIAN_HOME at another disk"


class DiskError(CommandError):
    """The folder cannot take what the step writes; the message says where and how much."""

    def __init__(self, message: str, folder: Path):
        self.folder = folder
        super().__init__(message, EXIT_DISK, reason="disk")


def human(n: int | None) -> str:
    if n is None:
        return "unknown"
    size = float(max(n, 0))
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover - the loop returns


def existing_ancestor(folder: Path) -> Path:
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(folder: Path) -> int | None:
    """Free space on the file system of ``folder`` (or of its nearest existing parent)."""
    try:
        return shutil.disk_usage(existing_ancestor(folder)).free
    except OSError:
        return None


def message(folder: Path, code: int | None, need: int, what: str, detail: str = "") -> str:
    """The one line: what could not be written where, why, the free space and the space needed."""
    free = free_bytes(folder)
    room = f"{human(free)} free there, about {human(need)} needed"
    where = f"cannot write {what} to {folder}"
    if code in READ_ONLY:
        return (f"{where}: the folder is read-only ({detail or os.strerror(code or errno.EROFS)}; {room}): "
                f"make it writable {HINT}")
    if code in TOO_LARGE:
        limit = file_size_limit()
        cap = f"this process may write files of at most {human(limit)} (ulimit -f)" if limit is not None else \
            "the file system takes no file this large"
        return f"{where}: a file grew too large ({detail or 'File too large'}): {cap}; {room}"
    if code is None:  # the library did not say why, and the folder takes a probe write now
        return f"{where}: the write failed ({detail}; {room})"
    shortfall = f"free at least {human(need - free)}" if free is not None and free < need else "free some space"
    return f"{where}: the disk is full ({detail or 'No space left on device'}; {room}): {shortfall} {HINT}"


def _folder_of(exc: OSError, folder: Path) -> Path:
    """The step's folder, unless the failing file is elsewhere (then that file's folder)."""
    name = exc.filename if isinstance(exc.filename, str) else None
    if not name:
        return folder
    failing = Path(name).absolute()
    try:
        failing.relative_to(Path(folder).absolute())
        return folder
    except ValueError:
        return failing.parent


def probe(folder: Path) -> OSError | None:
    """Try to create ``folder`` and write one block in it; the OSError if that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".space-check-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(b"\0" * PROBE_BYTES)
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            os.unlink(tmp)
    except OSError as exc:
        return exc
    return None


def as_disk_error(exc: BaseException, folder: Path, need: int, what: str) -> DiskError | None:
    """``exc`` as a :class:`DiskError` when it is a full/read-only/too-large write failure, else None."""
    if isinstance(exc, DiskError):
        return exc
    code = exc.errno if isinstance(exc, OSError) else None
    if isinstance(exc, OSError) and code is None:  # pyarrow and others keep the errno only in the text
        found_errno = _ERRNO_TEXT.search(str(exc))
        code = int(found_errno.group(1)) if found_errno else None
    if isinstance(exc, OSError) and code in DISK_ERRNOS:
        where = _folder_of(exc, folder)
        return DiskError(message(where, code, need, what, exc.strerror or os.strerror(code or 0)), where)
    text = str(exc)
    if isinstance(exc, RuntimeError) and _MLX_WRITE.match(text):
        found = _MLX_PATH.search(text)
        where = Path(found.group(1)).parent if found else folder
        return DiskError(message(where, _probed_cause(where, need), need, what, f"MLX: {text}"), where)
    sqlite = next((e for e in _chain(exc) if isinstance(e, sqlite3.Error)), None)
    if sqlite is not None and any(t in str(sqlite) for t in ("disk is full", "disk I/O error", "readonly database")):
        code = _probed_cause(folder, need) or (
            errno.ENOSPC if "full" in str(sqlite) else errno.EROFS if "readonly" in str(sqlite) else None)
        return DiskError(message(folder, code, need, what, f"SQLite: {sqlite}"), folder)
    return None


def file_size_limit() -> int | None:
    """This process's ``ulimit -f`` in bytes, None when unlimited (or not POSIX)."""
    try:
        import resource
    except ImportError:
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _probed_cause(folder: Path, need: int) -> int | None:
    """Why a library's write failed when it did not say: a probe write's errno, else a file size limit,
    else too little free space; None when nothing explains it."""
    probed = probe(folder)
    if probed is not None and probed.errno in DISK_ERRNOS:
        return probed.errno
    if file_size_limit() is not None:
        return errno.EFBIG
    free = free_bytes(folder)
    return errno.ENOSPC if free is not None and free < need else None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def check_writable(folder: Path, need: int, what: str, *, space: bool = True) -> None:
    """Refuse before the work when ``folder`` takes no writes or (``space``) has less than ``need`` bytes
    free; ``space=False`` for a rough ``need`` that only goes into the message."""
    folder = Path(folder)
    failed = probe(folder)
    if failed is not None:
        disk = as_disk_error(failed, folder, need, what)
        if disk is not None:
            raise disk from None
        raise CommandError(f"cannot write {what} to {folder}: {failed.strerror or failed}") from None
    free = free_bytes(folder)
    if space and free is not None and free < need:
        raise DiskError(message(folder, errno.ENOSPC, need, what, "not enough free space"), folder)


@contextmanager
def writing(folder: Path, need: int, what: str) -> Iterator[None]:
    """Turn a full/read-only disk inside the block into a one-line :class:`DiskError`."""
    try:
        yield
    except Exception as exc:
        disk = as_disk_error(exc, Path(folder), need, what)
        if disk is None:
            raise
        raise disk from None


def tree_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (a file: its size; missing: 0)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for file in path.rglob("*") if path.is_dir() else ():
        try:
            if file.is_file():
                total += file.stat().st_size
        except OSError:
            continue
    return total
