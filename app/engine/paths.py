"""Where Mondrian keeps its files.

Everything lives under platformdirs' per-user folders, unless ``MONDRIAN_HOME`` is set: then
data, cache and logs all move below that one folder (tests set it so they never touch the
real home).
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


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Root of the user's data: database, advisors, references, adapters, datasets."""
    home = _home_override()
    return _ensure(home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, False)))


def cache_dir() -> Path:
    """Disposable files: thumbnails and similar."""
    home = _home_override()
    return _ensure(home / "cache" if home else Path(platformdirs.user_cache_dir(APP_NAME, False)))


def log_dir() -> Path:
    home = _home_override()
    return _ensure(home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, False)))


def config_dir() -> Path:
    """Settings file lives here."""
    home = _home_override()
    return _ensure(home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, False)))


def db_path() -> Path:
    return data_dir() / "mondrian.db"


def advisors_dir() -> Path:
    return _ensure(data_dir() / "advisors")


def references_dir(advisor_id: str) -> Path:
    return _ensure(data_dir() / "references" / advisor_id)


def adapters_dir(advisor_id: str) -> Path:
    return _ensure(data_dir() / "adapters" / advisor_id)


def datasets_dir(advisor_id: str) -> Path:
    return _ensure(data_dir() / "datasets" / advisor_id)


def thumbnails_dir() -> Path:
    return _ensure(cache_dir() / "thumbnails")
