"""What the window remembers between sessions: size, splitter, last advisor and mode, folders.

Kept apart from the engine's settings.json (those are the engine's choices; these are the
window's) in ``<data>/window.ini`` through QSettings, so MONDRIAN_HOME isolates it like
everything else. Values are typed on the way out: a damaged file gives defaults, never an error.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSize
from PySide6.QtWidgets import QSplitter, QWidget

from app.engine import paths

GEOMETRY = "window/geometry"
SIZE = "window/size"
SPLITTER = "window/splitter"
ADVISOR = "critique/advisor"
MODE = "critique/mode"
OPEN_FOLDER = "folders/open"
EXPORT_FOLDER = "folders/export"
PORTFOLIO_FOLDER = "folders/portfolio"  # for the Training tab
REFERENCE_FOLDER = "folders/references"


def _settings() -> QSettings:
    target = paths.data_dir() / "window.ini"
    target.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(target), QSettings.Format.IniFormat)


def get_str(key: str, default: str = "") -> str:
    value = _settings().value(key, default)
    return value if isinstance(value, str) else default


def set_str(key: str, value: str) -> None:
    s = _settings()
    s.setValue(key, value)
    s.sync()


def get_bytes(key: str) -> QByteArray | None:
    value = _settings().value(key)
    return value if isinstance(value, QByteArray) and not value.isEmpty() else None


def set_bytes(key: str, value: QByteArray) -> None:
    s = _settings()
    s.setValue(key, value)
    s.sync()


def folder(key: str) -> str:
    """The remembered folder if it still exists, else the home folder."""
    path = get_str(key)
    return path if path and Path(path).is_dir() else str(Path.home())


def remember_folder(key: str, file_or_folder: str | Path) -> None:
    p = Path(file_or_folder)
    set_str(key, str(p if p.is_dir() else p.parent))


def restore_window(window: QWidget, splitter: QSplitter, min_size: QSize) -> None:
    """The window's last geometry and splitter (never below ``min_size``)."""
    geometry = get_bytes(GEOMETRY)
    if geometry is not None:
        window.restoreGeometry(geometry)
    size = get_str(SIZE)
    if "x" in size:  # restoreGeometry alone is unreliable off macOS/Windows (and offscreen)
        w, _, h = size.partition("x")
        if w.isdigit() and h.isdigit():
            window.resize(max(int(w), min_size.width()), max(int(h), min_size.height()))
    state = get_bytes(SPLITTER)
    if state is not None:
        splitter.restoreState(state)


def save_window(window: QWidget, splitter: QSplitter) -> None:
    set_bytes(GEOMETRY, window.saveGeometry())
    set_str(SIZE, f"{window.width()}x{window.height()}")
    set_bytes(SPLITTER, splitter.saveState())
