"""Text that wraps anywhere: a long word or URL breaks across lines instead of widening the layout.

A word-wrapping QLabel only breaks at spaces, and its minimum width is its longest word: one
400-character URL in a comment made the report many times wider than the window. This widget
lays its text out with ``QTextOption.WrapAtWordBoundaryOrAnywhere`` (break at spaces when it can,
anywhere when it must), has no minimum width of its own, and reports the height it needs for a
width (height-for-width), so a layout or a scroll area gives it exactly the lines it needs.
It keeps a QLabel's small interface (``text``/``setText``) and its text stays selectable.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPalette, QResizeEvent, QTextOption
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextEdit, QWidget


class WrapLabel(QTextEdit):
    """A read-only, frameless, self-sizing text block that never needs horizontal room."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, object_name: str = ""):
        super().__init__(parent)
        if object_name:
            self.setObjectName(object_name)
        self.setReadOnly(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        self.viewport().setAutoFillBackground(False)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground, True)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Base, Qt.GlobalColor.transparent)
        self.setPalette(palette)
        self.document().setDocumentMargin(0)
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMinimumWidth(1)
        self.document().contentsChanged.connect(self._fit_height)
        self.setText(text)

    def text(self) -> str:
        return self.toPlainText()

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel's name, so it drops in for one
        self.setPlainText(text)
        self._fit_height()

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt override
        doc = self.document().clone()
        doc.setTextWidth(max(1, width - 2 * self.frameWidth()))
        return int(doc.size().height()) + 2 * self.frameWidth() + 1

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(240, self.heightForWidth(max(self.width(), 240)))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(1, self.heightForWidth(max(self.width(), 1)))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        height = self.heightForWidth(self.width()) if self.toPlainText() else 0
        if self.height() != height or self.minimumHeight() != height:
            self.setFixedHeight(height)
