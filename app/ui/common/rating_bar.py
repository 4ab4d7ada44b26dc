"""The blind A/B rating bar: five star buttons, then the reveal of which model wrote it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QWidget

from .qt_compat import emit
from .wrap_text import WrapLabel

ASK = "Blind test: which model wrote this is hidden. How useful is this critique?"


class RatingBar(QFrame):
    rated = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 6)
        self.prompt = WrapLabel(ASK)
        layout.addWidget(self.prompt, 1)
        self.buttons: list[QPushButton] = []
        for value in range(1, 6):
            button = QPushButton("★" * value)
            button.setToolTip(f"{value} of 5")
            button.clicked.connect(lambda _checked=False, v=value: emit(self.rated, v))
            layout.addWidget(button)
            self.buttons.append(button)
        self.hide()

    def ask(self) -> None:
        self.prompt.setText(ASK)
        for button in self.buttons:
            button.setEnabled(True)
            button.show()
        self.show()

    def revealed(self, text: str) -> None:
        self.prompt.setText(text)
        for button in self.buttons:
            button.setEnabled(False)
            button.hide()
