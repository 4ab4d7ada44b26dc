"""The suggested crop drawn over the photo, with handles to adjust it.

The widget paints a preview of the photo (any size: the box is kept in the *original's* pixels,
as :class:`~app.engine.conversation.crop.CropSuggestion` holds it, and scaled for drawing), dims
what the crop leaves out, and lets the user drag the box or its eight handles; the geometry is
:func:`~app.ui.crop.crop_geometry.drag_box` (the aspect ratio is kept while dragging when one was
chosen). ``boxChanged`` carries every new box; the card around it checks it with ``check_box``.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.engine.conversation.coordinates import Box
from app.engine.technical.measure import MIN_SIDE

from ..common.qt_compat import emit
from .crop_geometry import MOVE, drag_box, handle_points, move_box

GRAB = 9  # px around a handle that pick it up
MAX_HEIGHT = 300  # the photo fits inside; the thread around it stays readable
_CURSORS = {"nw": Qt.CursorShape.SizeFDiagCursor, "se": Qt.CursorShape.SizeFDiagCursor,
            "ne": Qt.CursorShape.SizeBDiagCursor, "sw": Qt.CursorShape.SizeBDiagCursor,
            "n": Qt.CursorShape.SizeVerCursor, "s": Qt.CursorShape.SizeVerCursor,
            "e": Qt.CursorShape.SizeHorCursor, "w": Qt.CursorShape.SizeHorCursor,
            MOVE: Qt.CursorShape.SizeAllCursor}


class CropOverlay(QWidget):
    """``set_crop(image, original_size, box, ratio)``; drag to adjust; ``box`` is the current box."""

    boxChanged = Signal(object)  # Box in the original's pixels

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.image: QImage | None = None
        self.original: tuple[int, int] = (1, 1)
        self.box: Box | None = None
        self.ratio: tuple[int, int] | None = None
        self._drag: tuple[str, Box, QPointF] | None = None  # handle, box at press, press point (photo px)
        self.setMouseTracking(True)
        self.setMinimumSize(QSize(160, 120))
        self.setMaximumHeight(MAX_HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_crop(self, image: QImage | None, original: tuple[int, int], box: Box,
                 ratio: tuple[int, int] | None) -> None:
        self.image, self.original, self.box, self.ratio = image, original, box, ratio
        self.updateGeometry()
        self.update()

    def set_box(self, box: Box) -> None:
        if box != self.box:
            self.box = box
            self.update()
            emit(self.boxChanged, box)

    @property
    def min_side(self) -> int:
        """The smallest crop the engine can critique again (the same limit ``check_box`` applies)."""
        return min(MIN_SIDE, *self.original)

    # ---- geometry: photo pixels <-> widget ----------------------------------------------------
    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt override
        return max(120, min(MAX_HEIGHT, round(width * self.original[1] / max(1, self.original[0]))))

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return True

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(360, self.heightForWidth(360))

    def photo_rect(self) -> QRectF:
        """Where the photo is drawn: fitted to the widget, centred, its aspect kept."""
        w, h = self.original
        scale = min(self.width() / w, self.height() / h)
        dw, dh = w * scale, h * scale
        return QRectF((self.width() - dw) / 2, (self.height() - dh) / 2, dw, dh)

    def to_photo(self, point: QPointF) -> QPointF:
        r = self.photo_rect()
        return QPointF((point.x() - r.x()) * self.original[0] / r.width(),
                       (point.y() - r.y()) * self.original[1] / r.height())

    def to_widget(self, x: float, y: float) -> QPointF:
        r = self.photo_rect()
        return QPointF(r.x() + x * r.width() / self.original[0], r.y() + y * r.height() / self.original[1])

    def box_rect(self) -> QRectF:
        if self.box is None:
            return QRectF()
        x0, y0, x1, y1 = self.box
        return QRectF(self.to_widget(x0, y0), self.to_widget(x1, y1))

    def handle_at(self, pos: QPointF) -> str | None:
        """The handle under ``pos`` (widget px), MOVE inside the box, or None."""
        if self.box is None:
            return None
        for name, (x, y) in handle_points(self.box).items():
            p = self.to_widget(x, y)
            if abs(p.x() - pos.x()) <= GRAB and abs(p.y() - pos.y()) <= GRAB:
                return name
        return MOVE if self.box_rect().contains(pos) else None

    # ---- painting -------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self.photo_rect()
        if self.image is not None and not self.image.isNull():
            p.drawImage(r, self.image)
        else:
            p.fillRect(r, QColor("#d9d5cc"))
        if self.box is not None:
            box = self.box_rect()
            shade = QColor(0, 0, 0, 120)
            for part in (QRectF(r.left(), r.top(), r.width(), box.top() - r.top()),
                         QRectF(r.left(), box.bottom(), r.width(), r.bottom() - box.bottom()),
                         QRectF(r.left(), box.top(), box.left() - r.left(), box.height()),
                         QRectF(box.right(), box.top(), r.right() - box.right(), box.height())):
                if part.width() > 0 and part.height() > 0:
                    p.fillRect(part, shade)
            p.setPen(QPen(QColor(255, 255, 255, 110), 1))
            for i in (1, 2):  # thirds, to judge the new composition
                x = box.left() + box.width() * i / 3
                y = box.top() + box.height() * i / 3
                p.drawLine(QPointF(x, box.top()), QPointF(x, box.bottom()))
                p.drawLine(QPointF(box.left(), y), QPointF(box.right(), y))
            p.setPen(QPen(QColor("#ffffff"), 2))
            p.drawRect(box)
            p.setPen(QPen(QColor("#161616"), 1))
            p.setBrush(QColor("#ffffff"))
            for x, y in handle_points(self.box).values():
                c = self.to_widget(x, y)
                p.drawRect(QRectF(c.x() - 4, c.y() - 4, 8, 8))
        p.end()

    # ---- dragging -------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        handle = self.handle_at(event.position()) if event.button() == Qt.MouseButton.LeftButton else None
        if handle is None or self.box is None:
            super().mousePressEvent(event)
            return
        self._drag = (handle, self.box, self.to_photo(event.position()))
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._drag is None:
            handle = self.handle_at(event.position())
            if handle is None:
                self.unsetCursor()
            else:
                self.setCursor(_CURSORS[handle])
            return
        handle, start, origin = self._drag
        at = self.to_photo(event.position())
        if handle == MOVE:
            box = move_box(start, at.x() - origin.x(), at.y() - origin.y(), self.original)
        else:
            box = drag_box(start, handle, (at.x(), at.y()), self.original, min_side=self.min_side, ratio=self.ratio)
        self.set_box(box)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._drag = None
        super().mouseReleaseEvent(event)
