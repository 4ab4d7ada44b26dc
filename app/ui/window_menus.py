"""The main window's menus and keys: File, View, Advisor, Help, and Esc.

Quit goes through ``QApplication.quit``: that is a ``QEvent.Quit`` the application filters
(:mod:`app.ui.quit_guard` asks first while a training run is going), like the Dock's Quit.
"""

from __future__ import annotations

from functools import partial
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QMenuBar, QMessageBox, QWidget

from app import __version__

from .actions import action
from .critique.critique_panel import CritiquePanel


class MenuHost(Protocol):
    """What the menus need of the main window (a protocol: the window imports this module)."""

    critique: CritiquePanel
    open_action: QAction
    paste_action: QAction
    settings_action: QAction
    references_action: QAction
    escape: QShortcut

    def menuBar(self) -> QMenuBar: ...  # noqa: N802 - Qt's name
    def paste(self) -> None: ...
    def open_settings(self) -> None: ...
    def open_ab_stats(self) -> None: ...
    def open_help(self) -> None: ...
    def add_reference_photos(self) -> object: ...
    def escape_pressed(self) -> None: ...


def build_menus(w: MenuHost, parent: QWidget) -> None:
    """``w`` is the window; ``parent`` the same object, as the widget that owns the actions."""
    file_menu = w.menuBar().addMenu("&File")
    w.open_action = action("&Open Photo…", parent, w.critique.open_dialog, shortcut=QKeySequence.StandardKey.Open)
    w.paste_action = action("&Paste Photo", parent, w.paste, shortcut=QKeySequence.StandardKey.Paste)
    file_menu.addAction(w.open_action)
    file_menu.addAction(w.paste_action)
    export = file_menu.addMenu("&Export")
    for label, kind in (("Markdown", "markdown"), ("JSON", "json"), ("PDF", "pdf")):
        export.addAction(action(f"{label}…", parent, partial(w.critique.display.export_dialog, kind)))
    file_menu.addSeparator()
    w.settings_action = action("&Settings…", parent, w.open_settings, role=QAction.MenuRole.PreferencesRole)
    # StandardKey.Preferences is Cmd+, on macOS but empty on Linux and Windows: say Ctrl+, everywhere
    w.settings_action.setShortcuts([QKeySequence("Ctrl+,"), *QKeySequence.keyBindings(
        QKeySequence.StandardKey.Preferences)])
    file_menu.addAction(w.settings_action)
    file_menu.addSeparator()
    file_menu.addAction(action("&Quit", parent, QApplication.quit, shortcut=QKeySequence.StandardKey.Quit,
                               role=QAction.MenuRole.QuitRole))
    view = w.menuBar().addMenu("&View")
    compare = QAction("&Compare Base and Fine-tuned", parent, checkable=True, shortcut=QKeySequence("Ctrl+Shift+C"))
    compare.toggled.connect(w.critique.bar.compare_check.setChecked)
    w.critique.bar.compare_check.toggled.connect(compare.setChecked)
    view.addAction(compare)
    view.addAction(action("&A/B Statistics…", parent, w.open_ab_stats))
    advisor_menu = w.menuBar().addMenu("&Advisor")
    w.references_action = action("Add &Reference Photos…", parent, w.add_reference_photos)
    advisor_menu.addAction(w.references_action)
    help_menu = w.menuBar().addMenu("&Help")
    help_menu.addAction(action("Mondrian &Guide", parent, w.open_help, shortcut=QKeySequence.StandardKey.HelpContents))
    help_menu.addAction(action("&About Mondrian", parent, lambda: about(parent), role=QAction.MenuRole.AboutRole))
    w.escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), parent, w.escape_pressed)


def about(parent: QWidget) -> None:
    QMessageBox.about(parent, "About Mondrian", f"Mondrian {__version__}\nPrivate, offline photo critique from a local "
                      "vision-language model.")
