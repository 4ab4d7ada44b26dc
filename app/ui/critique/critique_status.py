"""The Critique tab's status row: what is happening, a progress bar and Cancel.

The bar follows the report as it is written: each dimension's ``"score"`` in the streamed text
is one step (a comparison writes two reports); a stage without a known length (loading the
model) makes it busy.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from app.engine.critique.report import DIMENSIONS


class CritiqueStatus(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel("Ready.")
        self.label.setObjectName("muted")
        self.label.setMinimumWidth(1)
        row.addWidget(self.label, 1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        row.addWidget(self.progress, 1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("primary")
        self.cancel_button.setToolTip("Stop this critique (Esc)")
        self.cancel_button.setEnabled(False)
        row.addWidget(self.cancel_button)
        self._passes = 1
        self._text: list[str] = []

    def begin(self, passes: int) -> None:
        """A request started: ``passes`` reports will be written."""
        self._passes, self._text = max(1, passes), []
        self.cancel_button.setEnabled(True)
        self.progress.show()
        self.progress.setRange(0, 0)

    def tokens(self, text: str) -> None:
        self._text.append(text)  # counted in the whole text: a chunk may split a "score"
        done = "".join(self._text).count('"score"')
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * min(1.0, done / (len(DIMENSIONS) * self._passes))))

    def stage(self, fraction: float) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * fraction))

    def end(self) -> None:
        self.cancel_button.setEnabled(False)
        self.progress.hide()
