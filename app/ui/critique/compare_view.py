"""Base and fine-tuned reports side by side, with the per-dimension deltas and both radars overlaid."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.engine.critique.export import photo_lines
from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS

from ..common import theme
from ..common.operations import Comparison
from ..common.pixmaps import fit
from ..common.radar import RadarChart, Series
from ..common.wrap_text import WrapLabel
from .report_view import ReportView


class CompareView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("page")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.comparison: Comparison | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        outer.setSpacing(10)
        self.title = WrapLabel()
        self.title.setFont(theme.title_font(13))
        outer.addWidget(self.title)
        self.facts = WrapLabel(object_name="muted")  # the photo's shooting data and notes, once for both
        outer.addWidget(self.facts)

        top = QHBoxLayout()
        self.photo = QLabel()
        self.photo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.photo.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top.addWidget(self.photo, 2)
        radar_box = QVBoxLayout()
        self.radar = RadarChart(diameter=180)
        radar_box.addWidget(self.radar, 1)
        legend = QLabel(f"<span style='color:{theme.MUTED}'>■</span> base model &nbsp;&nbsp; "
                        f"<span style='color:{theme.RED}'>■</span> fine-tuned")
        legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        radar_box.addWidget(legend)
        top.addLayout(radar_box, 3)
        table = QFrame()
        table.setObjectName("card")
        self.table = QGridLayout(table)
        self.table.setContentsMargins(12, 10, 12, 10)
        self.table.setHorizontalSpacing(14)
        top.addWidget(table, 3)
        outer.addLayout(top)

        sides = QHBoxLayout()
        sides.setSpacing(12)
        self.base_view = ReportView(compact=True)
        self.tuned_view = ReportView(compact=True)
        sides.addWidget(self.base_view, 1)
        sides.addWidget(self.tuned_view, 1)
        outer.addLayout(sides)

    def set_photo(self, photo: QImage | None) -> None:
        """The photo, decoded after the comparison came up; the rest stays as it is."""
        self.photo.setPixmap(fit(photo, 220, 200))

    def set_comparison(self, comparison: Comparison, photo: QImage | None = None, *,
                       advisor_name: str | None = None) -> None:
        self.comparison = comparison
        base, tuned = comparison.base, comparison.tuned
        name = str(base.photo).replace("\\", "/").split("/")[-1]
        self.title.setText(f"{name} — {advisor_name or base.advisor_id}: base model vs fine-tuned "
                           f"{tuned.adapter_version or '(no adapter)'}")
        self.photo.setPixmap(fit(photo, 220, 200))  # never the previous comparison's photo
        facts = photo_lines(base)
        self.facts.setText("\n".join(facts))
        self.facts.setVisible(bool(facts))
        deltas = comparison.deltas()
        self.base_view.set_result(base, title="Base model")
        self.tuned_view.set_result(tuned, deltas=deltas, title=f"Fine-tuned {tuned.adapter_version or ''}".strip())
        self.radar.set_series(
            Series(base.report.scores if base.report else {}, QColor(theme.MUTED), "base"),
            Series(tuned.report.scores if tuned.report else {}, QColor(theme.RED), "fine-tuned"),
        )
        self._fill_table(comparison, deltas)

    def _fill_table(self, comparison: Comparison, deltas: dict[str, float | None]) -> None:
        while self.table.count():
            item = self.table.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for col, text in enumerate(("Dimension", "Base", "Tuned", "Δ")):
            head = QLabel(text)
            head.setFont(theme.title_font(10))
            self.table.addWidget(head, 0, col)
        for row, key in enumerate(DIMENSIONS, start=1):
            b = comparison.base.report.dimensions.get(key) if comparison.base.report else None
            t = comparison.tuned.report.dimensions.get(key) if comparison.tuned.report else None
            self.table.addWidget(QLabel(DIMENSION_LABELS[key]), row, 0)
            self.table.addWidget(QLabel(_score(b.score if b else None)), row, 1)
            self.table.addWidget(QLabel(_score(t.score if t else None)), row, 2)
            delta = deltas.get(key)
            label = QLabel("—" if delta is None else f"{'+' if delta > 0 else ''}{delta:g}")
            if delta is not None:
                label.setStyleSheet(f"color: {theme.delta_color(delta)}; font-weight: bold;")
            self.table.addWidget(label, row, 3)

    def delta_labels(self) -> dict[str, str]:
        """The Δ column as shown (for tests and accessibility)."""
        out = {}
        for row, key in enumerate(DIMENSIONS, start=1):
            item = self.table.itemAtPosition(row, 3)
            widget = item.widget() if item is not None else None
            out[key] = widget.text() if isinstance(widget, QLabel) else ""
        return out


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


