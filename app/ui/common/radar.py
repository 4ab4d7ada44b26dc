"""The eight scores as a radar chart, drawn with QPainter (one or two series)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS

from . import theme

SHORT_LABELS = {
    "composition": "Composition", "lighting": "Lighting", "focus_sharpness": "Focus",
    "color_harmony": "Color", "subject_isolation": "Isolation", "depth_perspective": "Depth",
    "visual_balance": "Balance", "emotional_impact": "Impact",
}


@dataclass
class Series:
    scores: Mapping[str, float | None]
    color: QColor
    label: str = ""


class RadarChart(QWidget):
    """Axes for the eight dimensions, rings at 2/4/6/8/10, a filled polygon per series."""

    def __init__(self, parent: QWidget | None = None, *, diameter: int = 260):
        super().__init__(parent)
        self._series: list[Series] = []
        self._diameter = diameter
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setMinimumSize(160, 160)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(self._diameter + 120, self._diameter + 40)

    def set_series(self, *series: Series) -> None:
        self._series = list(series)
        names = ", ".join(f"{s.label or 'scores'}: " + ", ".join(
            f"{DIMENSION_LABELS[k]} {s.scores.get(k)}" for k in DIMENSIONS) for s in series)
        self.setAccessibleDescription(names)
        self.update()

    def set_scores(self, scores: Mapping[str, float | None], color: str = theme.RED) -> None:
        self.set_series(Series(scores, QColor(color)))

    @property
    def series(self) -> list[Series]:
        return list(self._series)

    @staticmethod
    def plotted(series: Series) -> list[str]:
        """The dimensions a series draws a point for (the scored ones)."""
        return [k for k in DIMENSIONS if series.scores.get(k) is not None]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width(), self.height()
        radius = max(20.0, min(w - 150, h - 50) / 2)
        center = QPointF(w / 2, h / 2)
        n = len(DIMENSIONS)

        def point(i: int, value: float) -> QPointF:
            angle = -math.pi / 2 + 2 * math.pi * i / n
            r = radius * max(0.0, min(10.0, value)) / 10
            return QPointF(center.x() + r * math.cos(angle), center.y() + r * math.sin(angle))

        grid = QPen(QColor(theme.LINE), 1)
        p.setPen(grid)
        for ring in (2, 4, 6, 8, 10):
            p.drawPolygon(QPolygonF([point(i, ring) for i in range(n)]))
        for i in range(n):
            p.drawLine(center, point(i, 10))

        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        p.setPen(QColor(theme.MUTED))
        for i, key in enumerate(DIMENSIONS):
            anchor = point(i, 11.2)
            rect = QRectF(anchor.x() - 60, anchor.y() - 9, 120, 18)
            if anchor.x() > center.x() + 5:
                rect.moveLeft(anchor.x() - 4)
                align = Qt.AlignmentFlag.AlignLeft
            elif anchor.x() < center.x() - 5:
                rect.moveRight(anchor.x() + 4)
                align = Qt.AlignmentFlag.AlignRight
            else:
                align = Qt.AlignmentFlag.AlignHCenter
            unmeasured = bool(self._series) and all(s.scores.get(key) is None for s in self._series)
            p.drawText(rect, align | Qt.AlignmentFlag.AlignVCenter, SHORT_LABELS[key] + (" (n/a)" if unmeasured else ""))

        for s in self._series:
            # an unscored dimension is left out of the shape, never drawn as 0
            pts = [point(i, float(v)) for i, k in enumerate(DIMENSIONS) if (v := s.scores.get(k)) is not None]
            fill = QColor(s.color)
            fill.setAlpha(60)
            p.setBrush(fill)
            p.setPen(QPen(s.color, 2))
            p.drawPolygon(QPolygonF(pts))
            p.setBrush(s.color)
            for pt in pts:
                p.drawEllipse(pt, 3, 3)
        p.end()
