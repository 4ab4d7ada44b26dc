"""Where Mondrian keeps its files.

Everything lives under platformdirs' per-user folders, unless ``MONDRIAN_HOME`` is set: then
data, cache and logs all move below that one folder (tests set it so they never touch the
real home).

The folders hold the user's critique history, photos' thumbnails and tokens: every folder made
here is created 0700 whatever the umask (mkdir's mode is cut by the umask, so it is set again),
and the data and config roots of an older install are tightened to 0700 when first used. Inside
the data folder, what other libraries wrote with the umask's modes (training checkpoints,
datasets, copied references: 0755 / 0644) is tightened once per process on first use: folders
and files lose every group and other bit (symbolic links, e.g. references linked to the user's
originals, are never followed). :func:`is_private_path` tells :mod:`app.engine.atomic` which new
files are private (0600) and which are the user's (the umask's mode, like their photos).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import platformdirs

APP_NAME = "Mondrian"
HOME_ENV = "MONDRIAN_HOME"


def _home_override() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_tightened: set[Path] = set()


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as private folders (0700, umask-independent)."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR)
        except FileExistsError:  # another process made it first
            continue
        os.chmod(folder, PRIVATE_DIR)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder")
    return path


def _private_root(path: Path, *, whole_tree: bool = False) -> Path:
    """``ensure_private_dir`` plus, once per process, 0700 on a root an older version made
    world-readable (and, with ``whole_tree``, no group/other bits on anything inside)."""
    ensure_private_dir(path)
    if path not in _tightened:
        _tightened.add(path)
        try:
            info = path.stat()
            if info.st_uid == os.getuid() and info.st_mode & 0o077:
                os.chmod(path, PRIVATE_DIR)
        except (OSError, AttributeError):  # not ours, or no getuid (Windows): leave it
            pass
        if whole_tree:
            tighten_tree(path)
    return path


def tighten_tree(root: Path) -> int:
    """Remove group and other permission bits from every folder and file below ``root`` that is
    ours; symbolic links are skipped (never followed). Returns how many were changed."""
    changed = 0
    uid = getattr(os, "getuid", lambda: -1)()
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            entry = os.path.join(folder, name)
            try:
                info = os.lstat(entry)
                if (info.st_mode & 0o170000) == 0o120000 or info.st_uid != uid or not info.st_mode & 0o077:
                    continue
                os.chmod(entry, info.st_mode & 0o7700)  # a link was skipped above: this is the entry itself
                changed += 1
            except OSError:
                continue
    return changed


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Within: every file and folder this process creates is private (umask 077), also those other
    libraries write (mlx's checkpoints, datasets). For commands that write only into the data folder."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _roots() -> list[Path]:
    """Mondrian's own folders (data, cache, logs, config), without creating them."""
    home = _home_override()
    if home:
        return [home / "data", home / "cache", home / "logs", home / "config"]
    return [Path(platformdirs.user_data_dir(APP_NAME, False)), Path(platformdirs.user_cache_dir(APP_NAME, False)),
            Path(platformdirs.user_log_dir(APP_NAME, False)), Path(platformdirs.user_config_dir(APP_NAME, False))]


def is_private_path(path: str | os.PathLike[str]) -> bool:
    """Is ``path`` inside one of Mondrian's own folders (whose files are 0600), rather than, say,
    beside the user's photos (whose new files get the umask's mode)?"""
    target = Path(os.path.abspath(path))
    try:
        target = target.parent.resolve() / target.name
    except OSError:
        pass
    for root in _roots():
        try:
            root = root.resolve()
        except OSError:
            pass
        if target == root or root in target.parents:
            return True
    return False


def make_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist, else set 0600 on it (when ours)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE)
    except FileExistsError:
        try:
            if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
                os.chmod(path, PRIVATE_FILE)
        except (OSError, AttributeError):
            pass
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def data_dir() -> Path:
    """Root of the user's data: database, advisors, references, adapters, datasets."""
    home = _home_override()
    return _private_root(home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, False)),
                         whole_tree=True)


def cache_dir() -> Path:
    """Disposable files: thumbnails and similar."""
    home = _home_override()
    return ensure_private_dir(home / "cache" if home else Path(platformdirs.user_cache_dir(APP_NAME, False)))


def log_dir() -> Path:
    home = _home_override()
    return ensure_private_dir(home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, False)))


def config_dir() -> Path:
    """Settings file lives here."""
    home = _home_override()
    return _private_root(home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, False)))


def db_path() -> Path:
    return data_dir() / "mondrian.db"


def advisors_dir() -> Path:
    return ensure_private_dir(data_dir() / "advisors")


def references_dir(advisor_id: str) -> Path:
    return ensure_private_dir(data_dir() / "references" / advisor_id)


def adapters_dir(advisor_id: str) -> Path:
    return ensure_private_dir(data_dir() / "adapters" / advisor_id)


def datasets_dir(advisor_id: str) -> Path:
    return ensure_private_dir(data_dir() / "datasets" / advisor_id)


def thumbnails_dir() -> Path:
    return ensure_private_dir(cache_dir() / "thumbnails")

