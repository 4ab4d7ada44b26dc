"""A live loss plot: training loss per step (line), validation loss per epoch (dots)."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from ..common import theme


def tick_decimals(low: float, high: float) -> int:
    """Decimals for the axis labels at low, middle and high: enough that they differ (a loss that moves
    in the third decimal, as a short run's does, read 7.02 / 7.02 / 7.02), at most 4 (the label's width)."""
    half = (high - low) / 2
    if half <= 0 or not math.isfinite(half):
        return 2
    return max(2, min(4, math.ceil(-math.log10(half)) + 1))


class LossPlot(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.train: list[tuple[int, float]] = []  # (step, loss)
        self.val: list[tuple[int, float]] = []  # (step at the end of the epoch, loss)
        self.total_steps = 0
        self.setMinimumHeight(160)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(480, 200)

    def clear(self) -> None:
        self.train, self.val, self.total_steps = [], [], 0
        self.update()

    def add_step(self, step: int, loss: float, total_steps: int = 0) -> None:
        if math.isfinite(loss):
            self.train.append((step, loss))
        self.total_steps = max(self.total_steps, total_steps, step)
        self.update()

    def add_val(self, step: int, loss: float | None) -> None:
        if loss is not None and math.isfinite(loss):
            self.val.append((step, loss))
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(theme.CARD))
        area = QRectF(48, 12, max(10, self.width() - 64), max(10, self.height() - 40))
        p.setPen(QPen(QColor(theme.LINE), 1))
        p.drawRect(area)
        values = [v for _, v in self.train] + [v for _, v in self.val]
        if not values:
            p.setPen(QColor(theme.MUTED))
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, "The loss appears here while training runs.")
            p.end()
            return
        low, high = min(values), max(values)
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        pad = (high - low) * 0.08
        low, high = low - pad, high + pad
        steps = max(self.total_steps, max((s for s, _ in self.train + self.val), default=1), 1)

        def pt(step: float, value: float) -> QPointF:
            x = area.left() + area.width() * (step / steps)
            y = area.bottom() - area.height() * (value - low) / (high - low)
            return QPointF(x, y)

        p.setPen(QColor(theme.MUTED))
        decimals = tick_decimals(low, high)
        for frac in (0.0, 0.5, 1.0):
            value = low + (high - low) * frac
            y = area.bottom() - area.height() * frac
            p.drawText(QRectF(0, y - 8, 44, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       f"{value:.{decimals}f}")
        p.drawText(QRectF(area.left(), area.bottom() + 4, area.width(), 16), Qt.AlignmentFlag.AlignRight,
                   f"step {self.train[-1][0] if self.train else 0} / {steps}")
        p.setPen(QPen(QColor(theme.BLUE), 2))
        if len(self.train) > 1:
            p.drawPolyline(QPolygonF([pt(s, v) for s, v in self.train]))
        elif self.train:
            p.drawEllipse(pt(*self.train[0]), 2, 2)
        p.setPen(QPen(QColor(theme.RED), 2))
        p.setBrush(QColor(theme.RED))
        for s, v in self.val:
            p.drawEllipse(pt(s, v), 4, 4)
        p.setPen(QColor(theme.MUTED))
        p.drawText(QRectF(area.left() + 8, area.top() + 4, 260, 16), Qt.AlignmentFlag.AlignLeft,
                   "— training loss   ● validation loss")
        p.end()
