"""Helpers for the GUI tests: a window on the tiny model with its own data folder, real drops."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from app.engine.resources import resource_path
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store

LONG = 180_000  # ms: generous bounds for a loaded CI machine


def tiny_settings(model_dir: Path, **overrides) -> Settings:
    settings = Settings(model=str(model_dir), max_text_chars=24, max_tokens=2000)
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


def make_window(qtbot, model_dir: Path, home: Path, **overrides):
    """A MainWindow over a real service on the tiny model and a store in ``home``."""
    from app.engine import paths
    from app.ui.window import MainWindow

    store = Store(paths.db_path())  # the training subprocesses open the same database
    service = MondrianService(tiny_settings(model_dir, **overrides), store=store)
    window = MainWindow(service, store, tray=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def wait_first_token(qtbot, window, start) -> object:
    """Run ``start()`` (it opens or drops photos), then wait for the first token of the critique it
    started; returns that request. Its signals arrive only through the event loop, so connecting
    right after ``start`` misses nothing."""
    start()
    request = window.critique.request
    assert request is not None, "nothing was started"
    with qtbot.waitSignal(request.token, timeout=LONG):
        pass
    return request


def sample_photo(folder: Path, name: str = "sample.jpg") -> Path:
    target = folder / name
    shutil.copyfile(resource_path("samples", "sample.jpg"), target)
    return target


def drop_files(widget: QWidget, paths: list[Path]) -> bool:
    """Send a real drag-enter + drop with file URLs, as the window system does. True if accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    center = widget.rect().center()
    enter = QDragEnterEvent(QPoint(center), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(center), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop.isAccepted()


def publish_adapter(advisor_id: str, adapter_dir: Path, base_model: Path):
    """Publish a trained adapter folder as the advisor's next (active) version in MONDRIAN_HOME."""
    from app.engine.adapters import versions as adapter_versions
    from app.engine.adapters.versions import AdapterManifest

    staged = adapter_versions.staging_dir(advisor_id)
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(adapter_dir / name, staged / name)
    return adapter_versions.publish(advisor_id, staged, AdapterManifest(advisor_id, "", base_model=str(base_model)))
