"""The menubar (tray) icon: critique the clipboard image, open the window, last grade, quit."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from .common.qt_compat import emit


class MondrianTray(QObject):
    """Owns the QSystemTrayIcon (when the platform has a tray) and its menu.

    The menu exists even without a system tray (offscreen tests, some Linux desktops), so the
    actions can be triggered and tested the same way.
    """

    critiqueClipboard = Signal()
    showWindow = Signal()
    quitRequested = Signal()

    def __init__(self, icon: QIcon, parent: QObject | None = None):
        super().__init__(parent)
        self.menu = QMenu()
        self.clipboard_action = QAction("Critique Image on Clipboard", self.menu)
        self.clipboard_action.triggered.connect(self.critiqueClipboard)
        self.open_action = QAction("Open Mondrian", self.menu)
        self.open_action.triggered.connect(self.showWindow)
        self.grade_action = QAction("Last grade: —", self.menu)
        self.grade_action.setEnabled(False)
        self.training_action = QAction("", self.menu)  # "Training… quits when done" while a quit waits
        self.training_action.setEnabled(False)
        self.training_action.setVisible(False)
        self.quit_action = QAction("Quit Mondrian", self.menu)
        self.quit_action.triggered.connect(self.quitRequested)
        self.menu.addAction(self.clipboard_action)
        self.menu.addAction(self.open_action)
        self.menu.addSeparator()
        self.menu.addAction(self.grade_action)
        self.menu.addAction(self.training_action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.icon: QSystemTrayIcon | None = None
        self.notifications: list[tuple[str, str]] = []  # what was announced (also without a tray)
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon = QSystemTrayIcon(icon, self)
            self.icon.setToolTip("Mondrian")
            self.icon.setContextMenu(self.menu)
            self.icon.activated.connect(self._activated)
            self.icon.show()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.DoubleClick:
            emit(self.showWindow)

    def set_last_grade(self, text: str) -> None:
        self.grade_action.setText(f"Last grade: {text}")

    def set_training(self, text: str | None) -> None:
        """Say in the menu (and the icon's tooltip) that a training run keeps Mondrian open."""
        self.training_action.setText(text or "")
        self.training_action.setVisible(bool(text))
        if self.icon is not None:
            self.icon.setToolTip(f"Mondrian — {text}" if text else "Mondrian")

    def notify(self, title: str, message: str) -> None:
        self.notifications.append((title, message))
        if self.icon is not None and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(title, message, QSystemTrayIcon.MessageIcon.Information, 5000)

    def hide(self) -> None:
        if self.icon is not None:
            self.icon.hide()
