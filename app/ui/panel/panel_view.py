"""The Panel view: one photo, every chosen advisor's report side by side on one radar.

Pick a photo and the advisors (all of them by default); the panel runs on the inference worker as
one batch on one encoding of the photo (:meth:`MondrianService.critique_panel`), each advisor
recorded as an ordinary job. The result shows every advisor's scores as a polygon on one radar, a
table of scores per dimension with the spread, the agreements and disagreements in one line each,
and the advisors' reports side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.engine.critique.panel import PanelSummary, summarize_panel
from app.engine.critique.result import CritiqueResult

from ..common import theme, ui_state
from ..common.bridge import CANCELLED, Request, TaskContext
from ..common.operations import ensure_model
from ..common.pixmaps import fit, load_preview
from ..common.qt_compat import emit
from ..common.radar import RadarChart, Series
from ..common.wrap_text import WrapLabel
from ..critique.report_view import ReportView

if TYPE_CHECKING:
    from app.engine.service import MondrianService

    from ..common.bridge import InferenceBridge

PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.tif *.tiff *.webp *.heic *.heif);;All files (*)"
COLORS = [theme.RED, theme.BLUE, theme.YELLOW, theme.INK, theme.GOOD, theme.MUTED, "#8e44ad", "#e67e22"]
REPORT_COLUMNS = 2  # the reports side by side: two fit a 900 px window


def panel_task(service: MondrianService, photo: str | Path, advisor_ids: list[str], mode: str):
    """What the worker runs: the model loaded, then the whole panel in one batch."""

    def run(ctx: TaskContext) -> list[CritiqueResult]:
        ensure_model(service, ctx)
        ctx.progress(f"Critiquing with {len(advisor_ids)} advisors…", -1.0)
        return service.critique_panel(photo, advisor_ids, mode, on_token=lambda _i, text: ctx.token(text),
                                      scope=ctx.scope)

    return run


class PanelView(QWidget):
    panelFinished = Signal(object)  # list[CritiqueResult]

    def __init__(self, service: MondrianService, bridge: InferenceBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("page")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.service = service
        self.bridge = bridge
        self.request: Request | None = None
        self.photo: Path | None = None
        self.results: list[CritiqueResult] = []
        self.summary: PanelSummary | None = None
        self._build()
        self.reload_advisors()

    # ---- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(12, 10, 12, 6)
        bar = QHBoxLayout()
        self.open_button = QPushButton("Open Photo…")
        self.open_button.clicked.connect(self.open_dialog)
        bar.addWidget(self.open_button)
        self.checks_box = QHBoxLayout()
        bar.addLayout(self.checks_box, 1)
        self.run_button = QPushButton("Run Panel")
        self.run_button.setObjectName("primary")
        self.run_button.clicked.connect(self.run_panel)
        bar.addWidget(self.run_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        bar.addWidget(self.cancel_button)
        root.addLayout(bar)
        self.status = QLabel("Open a photo, choose the advisors, and run the panel.")
        self.status.setObjectName("muted")
        root.addWidget(self.status)

        body = QWidget()
        self.body = QVBoxLayout(body)
        top = QHBoxLayout()
        self.photo_label = QLabel()
        self.photo_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        top.addWidget(self.photo_label, 2)
        radar_box = QVBoxLayout()
        self.radar = RadarChart(diameter=200)
        radar_box.addWidget(self.radar, 1)
        self.legend = QLabel()
        self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        radar_box.addWidget(self.legend)
        top.addLayout(radar_box, 3)
        self.body.addLayout(top)
        table = QFrame()  # a row of its own: beside the radar, a 900 px window pushed the scores off screen
        table.setObjectName("card")
        self.table = QGridLayout(table)
        self.table.setHorizontalSpacing(12)
        self.body.addWidget(table)
        self.agreements = WrapLabel()
        self.disagreements = WrapLabel()
        self.body.addWidget(self.agreements)
        self.body.addWidget(self.disagreements)
        self.reports = QGridLayout()  # REPORT_COLUMNS abreast, so five reports never widen the window
        self.reports.setSpacing(12)
        self.body.addLayout(self.reports)
        self.body.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        root.addWidget(scroll, 1)

    def reload_advisors(self) -> None:
        """One checkbox per advisor (the built-in five and the user's own): checked, except the ones
        the user unchecked before a reload."""
        before = {a: box.isChecked() for a, box in getattr(self, "checks", {}).items()}
        while self.checks_box.count():
            item = self.checks_box.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.checks: dict[str, QCheckBox] = {}
        for advisor_id, advisor in self.service.advisors().items():
            box = QCheckBox(advisor.name)
            box.setChecked(before.get(advisor_id, True))
            self.checks[advisor_id] = box
            self.checks_box.addWidget(box)

    def chosen(self) -> list[str]:
        return [a for a, box in self.checks.items() if box.isChecked()]

    # ---- running ------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo for the panel",
                                              ui_state.folder(ui_state.OPEN_FOLDER), PHOTO_FILTER)
        if path:
            self.set_photo(path)

    def set_photo(self, path: str | Path) -> None:
        self.photo = Path(path)
        self.photo_label.setPixmap(fit(load_preview(self.photo), 220, 200))
        self.status.setText(f"{self.photo.name}: choose the advisors and run the panel.")

    def run_panel(self, photo: str | Path | None = None) -> Request | None:
        """Start the panel on ``photo`` (or the open one) with the checked advisors."""
        if photo:
            self.set_photo(photo)
        advisors = self.chosen()
        if self.photo is None or len(advisors) < 1 or self.request is not None:
            self.status.setText("Open a photo and check at least one advisor." if self.request is None
                                else "The panel is running.")
            return None
        request = self.bridge.run("panel", panel_task(self.service, self.photo, advisors,
                                                      self.service.settings.default_mode))
        request.result.connect(self._on_result)
        request.failed.connect(self._on_failed)
        request.finished.connect(self._on_finished)
        self.request = request
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Critiquing {self.photo.name} with {len(advisors)} advisors in one batch…")
        return request

    def cancel(self) -> None:
        if self.request is not None:
            self.request.cancel()

    def _on_result(self, value: object) -> None:
        if self.sender() is self.request and isinstance(value, list):
            self.show_results(value)
            emit(self.panelFinished, value)

    def _on_failed(self, message: str) -> None:
        if self.sender() is self.request:
            self.status.setText("Cancelled: the panel was stopped." if message == CANCELLED else message)

    def _on_finished(self) -> None:
        if self.sender() is self.request:
            self.request = None
            self.run_button.setEnabled(True)
            self.cancel_button.setEnabled(False)

    # ---- showing ------------------------------------------------------------------------------
    def show_results(self, results: list[CritiqueResult]) -> None:
        self.results = results
        names = {a: adv.name for a, adv in self.service.advisors().items()}
        self.summary = summarize_panel({r.advisor_id: r.report for r in results}, names)
        series = [Series(r.report.scores, QColor(COLORS[i % len(COLORS)]), names.get(r.advisor_id, r.advisor_id))
                  for i, r in enumerate(results) if r.report is not None]
        self.radar.set_series(*series)
        self.legend.setText(" &nbsp; ".join(f"<span style='color:{s.color.name()}'>■</span> {s.label}"
                                            for s in series))
        self._fill_table(self.summary)
        self.agreements.setText(self.summary.agreements + ".")
        self.disagreements.setText(self.summary.disagreements + ".")
        while self.reports.count():
            item = self.reports.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for i, r in enumerate(results):
            view = ReportView(compact=True)
            view.set_result(r, title=names.get(r.advisor_id, r.advisor_id))
            self.reports.addWidget(view, i // REPORT_COLUMNS, i % REPORT_COLUMNS)
        missing = sum(r.report is None for r in results)
        self.status.setText(f"Panel of {len(results)} advisors" + (f"; {missing} gave no report." if missing else "."))

    def _fill_table(self, summary: PanelSummary) -> None:
        while self.table.count():
            item = self.table.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for row, cells in enumerate(summary.table()):
            for col, text in enumerate(cells):
                label = QLabel(text)
                if row == 0:
                    label.setFont(theme.title_font(10))
                    label.setWordWrap(True)  # "Henri / Cartier-Bresson" in a narrow column
                if col > 0:
                    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.addWidget(label, row, col)
        for col in range(1, self.table.columnCount() - 1):  # the advisors share the room; the spread is narrow
            self.table.setColumnStretch(col, 1)

    def table_text(self) -> list[list[str]]:
        """The score table as shown (for tests and accessibility)."""
        out = []
        for row in range(self.table.rowCount()):
            cells = []
            for col in range(self.table.columnCount()):
                item = self.table.itemAtPosition(row, col)
                widget = item.widget() if item is not None else None
                cells.append(widget.text() if isinstance(widget, QLabel) else "")
            out.append(cells)
        return out
