"""Spin boxes and combo boxes that the mouse wheel does not change by accident.

Scrolling a form with the wheel used to change whichever spin box passed under the pointer (and the
training settings persisted the change). Guarded widgets take the wheel only once the user has
clicked or tabbed into them; otherwise the wheel scrolls the page around them, as in macOS forms.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QWidget


class _WheelGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            event.ignore()  # the parent (a scroll area) scrolls instead
            return True
        return False


_GUARD = _WheelGuard()


def guard_wheel(*widgets: QWidget) -> None:
    """Make the wheel change these widgets only when they have the keyboard focus."""
    for widget in widgets:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a wheel no longer gives the focus either
        widget.installEventFilter(_GUARD)


def guard_all(root: QWidget) -> None:
    """Guard every spin box and combo box under ``root``."""
    guard_wheel(*root.findChildren(QAbstractSpinBox), *root.findChildren(QComboBox))
