"""An advisor's adapter versions (activate / roll back / evaluate) and the evaluation of one."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import AdapterStoreError

from ..common import theme
from ..common.qt_compat import emit

log = logging.getLogger(__name__)

COLUMNS = ("Version", "Created", "Epochs", "Val loss", "Base MAE", "Tuned MAE", "Better", "Active")


def _num(value: Any, digits: int = 2) -> str:
    return "—" if not isinstance(value, (int, float)) else f"{value:.{digits}f}"


def read_eval(version: Any) -> dict[str, Any] | None:
    file = version.path / "eval.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def eval_mae(result: dict[str, Any]) -> str:
    """A model's score MAE, or n/a when none of its outputs was a valid report (imputed scores
    would read as a real error, or as perfect)."""
    if not result.get("samples"):
        return "n/a"
    if not result.get("valid_reports"):
        return "n/a"
    return _num(result.get("mae"))


def eval_summary(data: dict[str, Any]) -> str:
    if "agreement" in data:  # learning from culls (training.learn): agreement, not MAE
        from training.learn import summary_line

        return summary_line(data)
    base, tuned, cmp = data.get("base", {}), data.get("fine_tuned", {}), data.get("comparison", {})
    samples = data.get("samples", 0)
    text = (f"{samples} held-out photo(s): score MAE {eval_mae(base)} (base) → {eval_mae(tuned)} (fine-tuned)")
    if base.get("valid_reports") and tuned.get("valid_reports"):
        text += f", {_num(cmp.get('mae_improvement_pct'), 1)} % better"
    text += (f"; valid reports {_num(100 * (base.get('format_compliance') or 0), 0)} % → "
             f"{_num(100 * (tuned.get('format_compliance') or 0), 0)} %")
    why = [name for name, r in (("the base model", base), ("the fine-tuned model", tuned))
           if samples and not r.get("valid_reports")]
    if not samples:
        text += ". n/a: there were no held-out photos to evaluate on (raise the held-out share)"
    elif why:
        text += (f". n/a: no output of {' or '.join(why)} was a valid report, so there is no score to compare "
                 "(raise the length limit in Settings, or train for more epochs)")
    return text


# The learn-from-culls evaluation (training.learn's eval.json): one row per frame set and moment.
AGREEMENT_METRICS = (("pairwise", "Pairwise"), ("pairwise_burst", "Within bursts"), ("pairwise_stars", "Across stars"),
                     ("spearman", "Spearman"), ("pick_precision", "Pick precision"))
AGREEMENT_COLUMNS = ("Frames", "When", "Pairs", *(title for _key, title in AGREEMENT_METRICS))


def _agreement_cell(metric: Any) -> str:
    """``0.667 [0.50, 0.83]``: the value and its 95 % bootstrap interval; ``—`` when not measurable."""
    value = metric.get("value") if isinstance(metric, dict) else None
    if not isinstance(value, (int, float)):
        return "—"
    ci = metric.get("ci")
    if isinstance(ci, list) and len(ci) == 2 and all(isinstance(c, (int, float)) for c in ci):
        return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"
    return f"{value:.3f}"


def agreement_rows(data: dict[str, Any]) -> list[list[str]]:
    """The agreement table of a learn-from-culls eval.json (AGREEMENT_COLUMNS): training and held-out
    frames, before and after, each metric with its interval; [] when ``data`` has no agreement."""
    table = data.get("agreement")
    if not isinstance(table, dict):
        return []
    rows = []
    for name, title in (("train", "training"), ("held_out", "held out")):
        for when in ("before", "after"):
            side = (table.get(when) or {}).get(name)
            if not isinstance(side, dict):
                continue
            rows.append([title, when, str(side.get("pairs", "—")),
                         *(_agreement_cell(side.get(key)) for key, _title in AGREEMENT_METRICS)])
    return rows


def agreement_note(data: dict[str, Any]) -> str:
    """The held-out difference after minus before (with its interval and pairs) and the decision."""
    found = data.get("comparison")
    c: dict[str, Any] = found if isinstance(found, dict) else {}
    diff, ci = c.get("pairwise_difference"), c.get("ci")
    text = "Held-out pairwise agreement, after minus before: " + (f"{diff:+.3f}" if isinstance(diff, (int, float))
                                                                  else "n/a")
    if isinstance(ci, list) and len(ci) == 2:
        text += f" [{ci[0]:+.3f}, {ci[1]:+.3f}]"
    text += f" on {c.get('pairs', 0)} pairs. Intervals: 95 % bootstrap over bursts."
    return text + (f" {str(data['reason'])[:1].upper()}{str(data['reason'])[1:]}." if data.get("reason") else "")


def _comparison_cells(data: dict[str, Any]) -> list[str]:
    """Base MAE, tuned MAE and Better for one version. A version taught from culls has no MAE (its
    eval.json measures agreement with the photographer): dashes, and Better is its held-out pairwise
    agreement after minus before (the full table is below the list)."""
    if not data:
        return ["—", "—", "—"]
    if "agreement" in data:
        diff = (data.get("comparison") or {}).get("pairwise_difference")
        return ["—", "—", f"{diff:+.3f} agreement" if isinstance(diff, (int, float)) else "—"]
    return [eval_mae(data.get("base", {})), eval_mae(data.get("fine_tuned", {})),
            _num(data.get("comparison", {}).get("mae_improvement_pct"), 1) + " %"]


class VersionsView(QWidget):
    evaluateRequested = Signal(str)  # version
    changed = Signal()  # the active version changed
    problem = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.advisor_id: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        splitter = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        header = self.table.horizontalHeader()  # every title whole; a narrow window scrolls the table
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.currentCellChanged.connect(lambda *_: self._show_eval())
        top_layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.activate_button = QPushButton("Activate")
        self.activate_button.clicked.connect(self.activate_selected)
        self.rollback_button = QPushButton("Roll back")
        self.rollback_button.setToolTip("Activate the version before the active one (or the base model)")
        self.rollback_button.clicked.connect(self.rollback)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.clicked.connect(self._evaluate)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(self.delete_selected)
        for b in (self.activate_button, self.rollback_button, self.evaluate_button, self.delete_button):
            buttons.addWidget(b)
        self.status = QLabel()
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)  # "Active: …" wraps rather than widening the window
        self.status.setMinimumWidth(80)
        self.status.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        buttons.addWidget(self.status, 1)
        top_layout.addLayout(buttons)
        splitter.addWidget(top)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        self.eval_title = QLabel("Evaluation")
        self.eval_title.setFont(theme.title_font(12))
        self.eval_title.setWordWrap(True)  # a long title wraps; it must not widen the window past 900 px
        bottom_layout.addWidget(self.eval_title)
        self.eval_summary = QLabel()
        self.eval_summary.setWordWrap(True)
        bottom_layout.addWidget(self.eval_summary)
        self.agreement = QTableWidget(0, len(AGREEMENT_COLUMNS))  # learn-from-culls versions: agreement, not MAE
        self.agreement.setHorizontalHeaderLabels(AGREEMENT_COLUMNS)
        self.agreement.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.agreement.horizontalHeader().setStretchLastSection(True)
        self.agreement.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.agreement.verticalHeader().setVisible(False)
        self.agreement.setVisible(False)
        bottom_layout.addWidget(self.agreement)
        self.agreement_note = QLabel()
        self.agreement_note.setWordWrap(True)
        self.agreement_note.setVisible(False)
        bottom_layout.addWidget(self.agreement_note)
        self.eval_view = QTextBrowser()
        bottom_layout.addWidget(self.eval_view)
        splitter.addWidget(bottom)
        splitter.setSizes([220, 380])
        layout.addWidget(splitter)

    def set_advisor(self, advisor_id: str | None) -> None:
        self.advisor_id = advisor_id
        self.refresh()

    def versions(self) -> list[Any]:
        if not self.advisor_id:
            return []
        try:
            return adapter_versions.list_versions(self.advisor_id)
        except (AdapterStoreError, ValueError) as exc:
            emit(self.problem, str(exc))
            return []

    def refresh(self, select: str | None = None) -> None:
        versions = self.versions()
        active = adapter_versions.active_version(self.advisor_id) if self.advisor_id else None
        selected = select or self.selected_version()
        self.table.setRowCount(len(versions))
        for row, v in enumerate(versions):
            try:
                manifest = v.manifest()
            except AdapterStoreError:
                manifest = None
            metrics = manifest.metrics if manifest else {}
            data = read_eval(v) or {}
            cells = [
                v.version,
                time.strftime("%d %b %Y %H:%M", time.localtime(manifest.created)) if manifest else "—",
                str(metrics.get("epochs_completed", "—")),
                _num(metrics.get("best_val_loss"), 3),
                *_comparison_cells(data),
                "● active" if active is not None and active.version == v.version else "",
            ]
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
            if v.version == selected:
                self.table.selectRow(row)
        if versions and self.table.currentRow() < 0:
            self.table.selectRow(len(versions) - 1)
        self.status.setText(f"Active: {active.version}" if active else "Active: none (base model)")
        has = bool(versions)
        for b in (self.activate_button, self.evaluate_button, self.delete_button):
            b.setEnabled(has)
        self.rollback_button.setEnabled(active is not None)
        self._show_eval()

    def selected_version(self) -> str | None:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        return item.text() if item else None

    def select(self, version: str) -> None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.text() == version:
                self.table.selectRow(row)
                return

    def activate_selected(self) -> None:
        version = self.selected_version()
        if version and self.advisor_id:
            self._do(lambda: adapter_versions.set_active(self.advisor_id, version), f"{version} is active")

    def rollback(self) -> None:
        advisor_id = self.advisor_id
        if advisor_id:
            def go() -> None:
                before = adapter_versions.rollback(advisor_id)
                self._rolled = before.version if before else None
            self._do(go, "rolled back")

    def delete_selected(self, *, confirm: bool = True) -> None:
        version = self.selected_version()
        if not version or not self.advisor_id:
            return
        if confirm and QMessageBox.question(self, "Delete version", f"Delete adapter {version} of "
                                            f"{self.advisor_id}? This cannot be undone.") != \
                QMessageBox.StandardButton.Yes:
            return
        self._do(lambda: adapter_versions.delete_version(self.advisor_id, version), f"deleted {version}")

    def _do(self, fn: Any, done: str) -> None:
        try:
            fn()
        except (AdapterStoreError, ValueError, OSError) as exc:
            emit(self.problem, str(exc))
            return
        self.refresh()
        self.status.setText(self.status.text() + f" — {done}")
        emit(self.changed)

    def _evaluate(self) -> None:
        version = self.selected_version()
        if version:
            emit(self.evaluateRequested, version)

    def _show_eval(self) -> None:
        self._show_agreement([], "")  # until a learn-from-culls evaluation is shown
        self.eval_view.setVisible(True)
        version = self.selected_version()
        if not version or not self.advisor_id:
            self.eval_title.setText("Evaluation")
            self.eval_summary.setText("Train a version to see how it compares with the base model.")
            self.eval_view.clear()
            return
        try:
            v = adapter_versions.get_version(self.advisor_id, version)
        except AdapterStoreError:
            return
        data = read_eval(v)
        taught = data is not None and "agreement" in data
        self.eval_title.setText(f"Evaluation of {version}: " + ("agreement with your culls" if taught
                                                                 else "base vs fine-tuned"))
        # The portfolio evaluation needs the advisor's portfolio dataset, which a version taught from a
        # shoot's culls has none of, and would replace the agreement table it was published with.
        self.evaluate_button.setEnabled(not taught)
        self.evaluate_button.setToolTip("This version was measured against your culls when it was taught; teach "
                                        "again from the Review view to measure anew" if taught else
                                        "Evaluate this version on the held-out portfolio photos")
        if data is None:
            self.eval_summary.setText("Not evaluated yet: press Evaluate.")
            self.eval_view.clear()
            return
        self.eval_summary.setText(eval_summary(data))
        rows = agreement_rows(data)
        self._show_agreement(rows, agreement_note(data) if rows else "")
        md = v.path / "eval.md"
        self.eval_view.setVisible(not rows)  # eval.md holds the same table: shown once, as a table
        self.eval_view.setMarkdown(md.read_text(encoding="utf-8") if md.is_file() and not rows else "")

    def _show_agreement(self, rows: list[list[str]], note: str) -> None:
        self.agreement.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for col, text in enumerate(cells):
                self.agreement.setItem(row, col, QTableWidgetItem(text))
        self.agreement.setVisible(bool(rows))
        self.agreement_note.setText(note)
        self.agreement_note.setVisible(bool(rows))
