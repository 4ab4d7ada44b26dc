"""Where photos come in: drag and drop of file URLs (Finder, Photos export, browsers with files)."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from . import theme
from .qt_compat import emit


def local_paths(mime: QMimeData) -> list[str]:
    """Local file paths among the mime data's URLs (remote URLs and folders are left out)."""
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


class DropZone(QFrame):
    """A large target that says what to do; emits ``photosDropped`` with the dropped file paths.

    Files are not filtered by suffix here: the engine's loader gives the clear message about a
    file that is not a photo it can read.
    """

    photosDropped = Signal(list)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._hover = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 40, 40, 40)
        layout.addStretch(1)
        self.headline = QLabel("Drop a photo here")
        self.headline.setFont(theme.title_font(20))
        self.headline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.headline)
        native = QKeySequence.SequenceFormat.NativeText  # ⌘O on a Mac, Ctrl+O elsewhere
        opening = QKeySequence(QKeySequence.StandardKey.Open).toString(native)
        pasting = QKeySequence(QKeySequence.StandardKey.Paste).toString(native)
        self.hint = QLabel(f"JPEG, PNG, TIFF, WebP or HEIC · or use Open… ({opening}) · or paste ({pasting})")
        self.hint.setObjectName("muted")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.hint)
        layout.addStretch(1)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if local_paths(event.mimeData()):
            self._hover = True
            self.update()
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802 - Qt override
        self._hover = False
        self.update()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        self._hover = False
        self.update()
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        emit(self.photosDropped, paths)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect().adjusted(14, 14, -14, -14)
        p.setBrush(QColor("#fffdf6") if self._hover else QColor(theme.PAPER))
        pen = QPen(QColor(theme.BLUE if self._hover else "#c9c5bb"), 2, Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.drawRoundedRect(rect, 14, 14)
        # A small Mondrian composition above the words.
        cx, top = rect.center().x(), rect.center().y() - 110
        blocks = [(-54, 0, 40, 40, theme.RED), (-10, 0, 64, 40, theme.PAPER), (-54, 44, 40, 22, theme.YELLOW),
                  (-10, 44, 30, 22, theme.PAPER), (24, 44, 30, 22, theme.BLUE)]
        p.setPen(QPen(QColor(theme.INK), 3))
        for x, y, w, h, color in blocks:
            p.setBrush(QColor(color))
            p.drawRect(cx + x, top + y, w, h)
        p.end()
