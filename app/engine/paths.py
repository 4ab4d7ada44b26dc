"""Where Mondrian keeps its files.

Everything lives under platformdirs' per-user folders, unless ``MONDRIAN_HOME`` is set: then
data, cache and logs all move below that one folder (tests set it so they never touch the
real home).

The folders hold the user's critique history, photos' thumbnails and tokens: every folder made
here is created 0700 whatever the umask (mkdir's mode is cut by the umask, so it is set again),
and the data and config roots of an older install are tightened to 0700 when first used.
"""

from __future__ import annotations

import os
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


def _private_root(path: Path) -> Path:
    """``ensure_private_dir`` plus, once per process, 0700 on a root an older version made world-readable."""
    ensure_private_dir(path)
    if path not in _tightened:
        _tightened.add(path)
        try:
            info = path.stat()
            if info.st_uid == os.getuid() and info.st_mode & 0o077:
                os.chmod(path, PRIVATE_DIR)
        except (OSError, AttributeError):  # not ours, or no getuid (Windows): leave it
            pass
    return path


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
    return _private_root(home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, False)))


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


def adapters_root() -> Path:
    """Where the adapter store keeps every advisor's versions (``<root>/<advisor>/vN``); not created."""
    return data_dir() / "adapters"


def adapters_dir(advisor_id: str) -> Path:
    return ensure_private_dir(adapters_root() / advisor_id)


def datasets_dir(advisor_id: str) -> Path:
    return ensure_private_dir(data_dir() / "datasets" / advisor_id)


def thumbnails_dir() -> Path:
    return ensure_private_dir(cache_dir() / "thumbnails")

