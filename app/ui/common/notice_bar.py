"""One banner above the critique for errors, cancels and notices, with the action that helps.

It replaces the bare error label: the text wraps anywhere, the button does what the message
asks (Critique again, Open Settings…), and any next action clears it (``clear``).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QToolButton, QWidget

from .wrap_text import WrapLabel


class NoticeBar(QFrame):
    """``show_notice(text, kind, actions)``; kind is ``error`` | ``info`` | ``cancelled``."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("notice")
        self.kind = ""
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.message = WrapLabel()
        layout.addWidget(self.message, 1)
        self.buttons: list[QPushButton] = []
        self._button_box = QHBoxLayout()
        layout.addLayout(self._button_box)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.clear)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_notice(self, text: str, kind: str = "error",
                    actions: list[tuple[str, Callable[[], None]]] | None = None) -> None:
        self.kind = kind
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        self.message.setText(text)
        for button in self.buttons:
            self._button_box.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        for label, callback in actions or []:
            button = QPushButton(label)
            button.clicked.connect(lambda _checked=False, cb=callback: cb())
            self._button_box.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
            self.buttons.append(button)
        self.show()

    def text(self) -> str:
        return self.message.text() if not self.isHidden() else ""

    def button(self, label: str) -> QPushButton | None:
        return next((b for b in self.buttons if b.text() == label), None)

    def clear(self) -> None:
        self.kind = ""
        self.hide()
