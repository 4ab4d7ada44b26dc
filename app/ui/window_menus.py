"""The main window's menus and keys: File, View, Advisor, Help, and Esc.

Quit goes through ``QApplication.quit``: that is a ``QEvent.Quit`` the application filters
(:mod:`app.ui.quit_guard` asks first while a training run is going), like the Dock's Quit.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QMessageBox

from app import __version__

from .actions import action

if TYPE_CHECKING:
    from .window import MainWindow


def build_menus(w: MainWindow) -> None:
    file_menu = w.menuBar().addMenu("&File")
    w.open_action = action("&Open Photo…", w, w.critique.open_dialog, shortcut=QKeySequence.StandardKey.Open)
    w.paste_action = action("&Paste Photo", w, w.paste, shortcut=QKeySequence.StandardKey.Paste)
    file_menu.addAction(w.open_action)
    file_menu.addAction(w.paste_action)
    export = file_menu.addMenu("&Export")
    for label, kind in (("Markdown", "markdown"), ("JSON", "json"), ("PDF", "pdf")):
        export.addAction(action(f"{label}…", w, partial(w.critique.export_dialog, kind)))
    file_menu.addSeparator()
    w.settings_action = action("&Settings…", w, w.open_settings, role=QAction.MenuRole.PreferencesRole)
    # StandardKey.Preferences is Cmd+, on macOS but empty on Linux and Windows: say Ctrl+, everywhere
    w.settings_action.setShortcuts([QKeySequence("Ctrl+,"), *QKeySequence.keyBindings(
        QKeySequence.StandardKey.Preferences)])
    file_menu.addAction(w.settings_action)
    file_menu.addSeparator()
    file_menu.addAction(action("&Quit", w, QApplication.quit, shortcut=QKeySequence.StandardKey.Quit,
                               role=QAction.MenuRole.QuitRole))
    view = w.menuBar().addMenu("&View")
    compare = QAction("&Compare Base and Fine-tuned", w, checkable=True, shortcut=QKeySequence("Ctrl+Shift+C"))
    compare.toggled.connect(w.critique.compare_check.setChecked)
    w.critique.compare_check.toggled.connect(compare.setChecked)
    view.addAction(compare)
    view.addAction(action("&A/B Statistics…", w, w.open_ab_stats))
    advisor_menu = w.menuBar().addMenu("&Advisor")
    w.references_action = action("Add &Reference Photos…", w, w.add_reference_photos)
    advisor_menu.addAction(w.references_action)
    help_menu = w.menuBar().addMenu("&Help")
    help_menu.addAction(action("Mondrian &Guide", w, w.open_help, shortcut=QKeySequence.StandardKey.HelpContents))
    help_menu.addAction(action("&About Mondrian", w, lambda: about(w), role=QAction.MenuRole.AboutRole))
    w.escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), w, w.escape_pressed)


def about(w: MainWindow) -> None:
    QMessageBox.about(w, "About Mondrian", f"Mondrian {__version__}\nPrivate, offline photo critique from a local "
                      "vision-language model.")
