"""GUI entry point: ``run_gui(argv)`` (app/cli.py calls it when there are no arguments).

Start-up stays light: nothing here imports MLX or mlx-vlm (they load on the model thread, on the
first critique or a background preload after the window is shown).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)


class _FileOpenFilter(QObject):
    """macOS delivers "Open With" / drops on the Dock icon as QFileOpenEvent on the application."""

    def __init__(self, window: Any):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen:
            path = event.file()  # type: ignore[attr-defined]
            if path:
                self.window.open_photos([path])
                return True
        return False


def photo_args(argv: Sequence[str]) -> list[str]:
    """The photo paths among the arguments (macOS adds ``-psn_...``; options are skipped)."""
    return [a for a in argv if a and not a.startswith("-")]


def ask_about_settings(message: str) -> bool:
    """Show why settings.json cannot be used (the CLI's text); True: start on defaults, keeping the
    file under another name; False: quit so the user can fix it."""
    box = settings_error_box(message)
    box.exec()
    return box.clickedButton() is box.property("defaults_button")


def settings_error_box(message: str) -> Any:
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(QMessageBox.Icon.Critical, "Mondrian settings", message.splitlines()[0])
    box.setInformativeText("\n".join(line.strip() for line in message.splitlines()[1:]))
    box.setDetailedText(message)
    defaults = box.addButton("Start with defaults (keep the file)", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    box.setProperty("defaults_button", defaults)
    return box


def startup_settings(ask: Callable[[str], bool] = ask_about_settings) -> Any:
    """The saved settings; when the file is not valid, ``ask`` decides: defaults (the file is set
    aside, never deleted) or None (quit)."""
    from app.engine.settings import Settings, SettingsError, load_settings, set_aside_settings

    problems: list[str] = []
    try:
        return load_settings(problems)
    except SettingsError as exc:
        log.error("%s", exc)
        if not ask(str(exc)):
            return None
        kept = set_aside_settings()
        log.warning("settings file kept as %s; starting with defaults", kept)
        return Settings()


class _DamageSignal(QObject):
    """Carries the store's damage report from its checking thread to the GUI thread."""

    found = Signal(str)


def watch_store_damage(window: Any, store: Any) -> None:
    """Show the store's :class:`DatabaseDamagedError` (the CLI's text) when its check finds damage;
    the box is non-modal (``open``) and kept as ``window.damage_box``."""
    from PySide6.QtWidgets import QMessageBox

    signal = _DamageSignal(window)

    def show(message: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "Mondrian history database", message, parent=window)
        window.damage_box = box
        box.open()

    signal.found.connect(show)
    window._damage_signal = signal
    store.on_damage(lambda error: signal.found.emit(str(error)))


def create_window(*, preload: bool = True, tray: bool = True, service: Any = None, store: Any = None) -> Any:
    """The main window over a fresh service and store (both owned by the window: it closes them);
    None when the user chose to quit over an invalid settings file."""
    from app.engine.service import MondrianService
    from app.engine.store.database import open_default_store

    from .window import MainWindow

    if service is None:
        settings = startup_settings()
        if settings is None:
            return None
    if store is None:
        try:
            store = open_default_store()
        except Exception as exc:  # noqa: BLE001 - the app still critiques without history
            log.error("history is unavailable: %s", exc)
    service = service or MondrianService(settings, store=store)
    window = MainWindow(service, store, preload=preload, tray=tray)
    if store is not None:
        watch_store_damage(window, store)
    return window


def run_gui(argv: Sequence[str]) -> int:
    from app import __version__

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(["mondrian"])
    app.setApplicationName("Mondrian")
    app.setApplicationDisplayName("Mondrian")
    app.setOrganizationName("Mondrian")
    app.setApplicationVersion(__version__)
    window = create_window()
    if window is None:
        return 2
    app.setWindowIcon(window.windowIcon())
    if window.tray is not None and window.tray.icon is not None:
        app.setQuitOnLastWindowClosed(False)  # the menubar icon keeps the app reachable
    app.installEventFilter(_FileOpenFilter(window))
    app.aboutToQuit.connect(window.shutdown)
    window.show()
    photos = photo_args(argv)
    if photos:
        window.open_photos([str(Path(p).expanduser()) for p in photos])
    return app.exec()
