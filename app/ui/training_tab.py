"""Training tab (placeholder while the training CLI lands)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class TrainingTab(QWidget):
    advisorsChanged = Signal(str)
    trainingFinished = Signal(str)

    def __init__(self, service: Any, bridge: Any, store: Any, parent: QWidget | None = None):
        super().__init__(parent)
        QVBoxLayout(self).addWidget(QLabel("Training"))

    def shutdown(self) -> None:
        pass
