"""Menu actions built in one call, typed (PySide6's stubs do not know its signal keyword arguments)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence


def action(text: str, parent: QObject, slot: Callable[..., Any], *,
           shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
           role: QAction.MenuRole | None = None, checkable: bool = False) -> QAction:
    """A QAction whose ``triggered`` runs ``slot`` (with no arguments: the checked flag is dropped)."""
    act = QAction(text, parent)
    if shortcut is not None:
        act.setShortcut(shortcut if isinstance(shortcut, QKeySequence) else QKeySequence(shortcut))
    if role is not None:
        act.setMenuRole(role)
    act.setCheckable(checkable)
    act.triggered.connect(lambda _checked=False: slot())
    return act
