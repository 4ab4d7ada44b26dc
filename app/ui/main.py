"""GUI entry point: ``run_gui(argv)`` (app/cli.py calls it when there are no arguments).

Start-up stays light: nothing here imports MLX or mlx-vlm (they load on the model thread, on the
first critique or a background preload after the window is shown).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

if TYPE_CHECKING:
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.store.database import Store

    from .window import MainWindow

log = logging.getLogger(__name__)


class AppEvents(QObject):
    """What the application itself receives: macOS delivers "Open With" and drops on the Dock icon
    as QFileOpenEvent, and every way to quit (menu, Cmd+Q, menubar icon, Dock, logging out) as
    QEvent.Quit, which waits for the user's answer while a training run is going."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.FileOpen:
            path = cast(QFileOpenEvent, event).file()
            if path:
                self.window.open_photos([path])
                return True
        if event.type() == QEvent.Type.Quit and obj is QApplication.instance():
            return not self.window.confirm_quit()  # True swallows the quit
        return False


def photo_args(argv: Sequence[str]) -> list[str]:
    """The photo paths among the arguments (macOS adds ``-psn_...``; options are skipped)."""
    return [a for a in argv if a and not a.startswith("-")]


def ask_about_settings(message: str) -> bool:
    """Show why settings.json cannot be used (the CLI's text); True: start with the invalid settings
    reset to their defaults (the others kept), the file copied under another name; False: quit so
    the user can fix it."""
    box = settings_error_box(message)
    box.exec()
    return box.clickedButton() is box.property("defaults_button")


def settings_error_box(message: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Critical, "Mondrian settings", message.splitlines()[0])
    box.setInformativeText("\n".join(line.strip() for line in message.splitlines()[1:]))
    box.setDetailedText(message)
    defaults = box.addButton("Reset what is invalid (keep a copy)", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    box.setProperty("defaults_button", defaults)
    return box


def startup_settings(ask: Callable[[str], bool] = ask_about_settings) -> Settings | None:
    """The saved settings; when the file is not valid, ``ask`` decides: the invalid settings reset to
    their defaults and every valid one kept (the file set aside first, never deleted), or None (quit)."""
    from app.engine.settings import (
        SettingsError,
        load_settings,
        salvage_settings,
        save_settings,
        set_aside_settings,
    )

    problems: list[str] = []
    try:
        return load_settings(problems)
    except SettingsError as exc:
        log.error("%s", exc)
        if not ask(str(exc)):
            return None
        salvaged, reset = salvage_settings()
        kept = set_aside_settings()
        save_settings(salvaged)
        log.warning("settings file kept as %s; reset to defaults: %s", kept, ", ".join(reset) or "nothing")
        return salvaged


class DamageWatch(QObject):
    """Carries the store's damage report from its checking thread to the GUI thread and shows it
    (the CLI's text) in a non-modal box, kept as ``box``."""

    found = Signal(str)

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.window = window
        self.box: QMessageBox | None = None
        self.found.connect(self._show)

    def _show(self, message: str) -> None:
        self.box = QMessageBox(QMessageBox.Icon.Warning, "Mondrian history database", message, parent=self.window)
        self.box.open()


def watch_store_damage(window: QWidget, store: Store) -> DamageWatch:
    """Show the store's :class:`DatabaseDamagedError` when its background check finds damage."""
    watch = DamageWatch(window)
    store.on_damage(lambda error: watch.found.emit(str(error)))
    return watch


def create_window(*, preload: bool = True, tray: bool = True, service: MondrianService | None = None,
                  store: Store | None = None) -> MainWindow | None:
    """The main window over a fresh service and store (both owned by the window: it closes them);
    None when the user chose to quit over an invalid settings file."""
    from app.engine.service import MondrianService
    from app.engine.store.database import open_default_store

    from .window import MainWindow

    settings = None
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
    app.installEventFilter(AppEvents(window))
    app.aboutToQuit.connect(window.shutdown)
    window.show()
    photos = photo_args(argv)
    if photos:
        window.open_photos([str(Path(p).expanduser()) for p in photos])
    return app.exec()
