"""The page shown while a report is written: the photo beside the text as it streams in.

After a cancel the page stays up (the photo and the partial text are what the user was looking
at); the panel marks it cancelled and offers to critique again.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QResizeEvent, QTextCursor, QTextOption
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QSizePolicy, QWidget

from ..common.pixmaps import fit


class StreamPage(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(14)
        self.photo = QLabel()
        self.photo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.photo.setMinimumWidth(120)
        self.photo.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        layout.addWidget(self.photo, 2)
        self.text = QPlainTextEdit()
        self.text.setObjectName("stream")
        self.text.setReadOnly(True)
        self.text.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.text.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.text.setPlaceholderText("The critique appears here as the model writes it…")
        layout.addWidget(self.text, 3)
        self._image: QImage | None = None

    def begin(self, image: QImage | None) -> None:
        self._image = image
        self.text.clear()
        self._show_photo()

    def set_photo(self, image: QImage | None) -> None:
        """The photo arrived after the page began (it is decoded off the UI thread); the text stays."""
        self._image = image
        self._show_photo()

    def append(self, chunk: str) -> None:
        cursor = self.text.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(chunk)
        self.text.setTextCursor(cursor)
        self.text.ensureCursorVisible()

    def plain_text(self) -> str:
        return self.text.toPlainText()

    def has_photo(self) -> bool:
        pixmap = self.photo.pixmap()
        return pixmap is not None and not pixmap.isNull()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._show_photo()

    def _show_photo(self) -> None:
        w, h = max(60, self.photo.width()), max(60, self.photo.height())
        self.photo.setPixmap(fit(self._image, min(w, 420), min(h, 480)) if self._image is not None
                             else fit(None, 1, 1))
