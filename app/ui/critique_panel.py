"""The Critique tab: advisor and mode pickers, the drop zone, the live stream, the report.

The panel submits work to the :class:`InferenceBridge` and follows one current request id;
anything about another id (an earlier request the user replaced or cancelled) is ignored.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.engine.adapters import versions as adapter_versions
from app.engine.advisors import Advisor
from app.engine.critique.report import DIMENSIONS
from app.engine.critique.result import CritiqueResult

from . import exporting
from .bridge import CANCELLED, InferenceBridge
from .compare_view import CompareView
from .dropzone import DropZone
from .operations import (
    BlindResult,
    Comparison,
    ModeInfo,
    blind_task,
    compare_task,
    critique_task,
    resolve_task,
)
from .pixmaps import fit, load_preview
from .qt_compat import emit
from .report_view import ReportView

log = logging.getLogger(__name__)

MODES = (("Auto", "auto"), ("Baseline", "baseline"), ("RAG", "rag"), ("LoRA", "lora"))
PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.tif *.tiff *.webp *.heic *.heif);;All files (*)"
PAGE_DROP, PAGE_STREAM, PAGE_REPORT, PAGE_COMPARE = range(4)


def _scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(widget)
    return area


class CritiquePanel(QWidget):
    critiqueFinished = Signal(object)  # CritiqueResult | Comparison | BlindResult
    historyChanged = Signal()
    statusMessage = Signal(str)

    def __init__(self, service: Any, bridge: InferenceBridge, store: Any = None, *,
                 queries: InferenceBridge | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("page")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.service = service
        self.bridge = bridge
        self.queries = queries  # a second lane for quick questions (effective mode) while a critique runs
        self.store = store
        self._resolve_id: str | None = None
        self.mode_info: ModeInfo | None = None
        self.current_id: str | None = None
        self.current_kind = ""
        self.current_photo: Path | None = None
        self.current_item: Any = None  # what the report/compare page shows
        self.preview: QImage | None = None
        self.queue: list[str] = []
        self.last_error = ""
        self._stream_text: list[str] = []
        self._passes = 1
        self._build()
        self.reload_advisors()
        bridge.started.connect(self._on_started)
        bridge.token.connect(self._on_token)
        bridge.progress.connect(self._on_progress)
        bridge.result.connect(self._on_result)
        bridge.failed.connect(self._on_failed)
        bridge.finished.connect(self._on_finished)
        if queries is not None:
            queries.result.connect(self._on_query_result)
            queries.failed.connect(self._on_query_failed)

    # ---- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(16, 12, 16, 8)
        root.setSpacing(8)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Advisor"))
        self.advisor_combo = QComboBox()
        self.advisor_combo.setMinimumWidth(190)
        self.advisor_combo.currentIndexChanged.connect(self._update_advisor_info)
        bar.addWidget(self.advisor_combo)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Mode"))
        self.mode_combo = QComboBox()
        for label, mode in MODES:
            self.mode_combo.addItem(label, mode)
        self.mode_combo.currentIndexChanged.connect(self._update_effective_mode)
        bar.addWidget(self.mode_combo)
        self.compare_check = QCheckBox("Compare base ↔ fine-tuned")
        self.compare_check.setToolTip("Critique with the base model and the advisor's active adapter, side by side")
        bar.addSpacing(12)
        bar.addWidget(self.compare_check)
        bar.addStretch(1)
        self.open_button = QPushButton("Open…")
        self.open_button.clicked.connect(self.open_dialog)
        bar.addWidget(self.open_button)
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        for label in ("Markdown…", "JSON…", "PDF…"):
            menu.addAction(label, lambda checked=False, s=label: self.export_dialog(s.rstrip("…").lower()))
        self.export_button.setMenu(menu)
        self.export_button.setEnabled(False)
        bar.addWidget(self.export_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("primary")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        bar.addWidget(self.cancel_button)
        root.addLayout(bar)

        info = QHBoxLayout()
        self.advisor_info = QLabel()
        self.advisor_info.setObjectName("muted")
        self.advisor_info.setWordWrap(True)
        info.addWidget(self.advisor_info, 3)
        self.effective_label = QLabel()
        self.effective_label.setObjectName("muted")
        self.effective_label.setWordWrap(True)
        self.effective_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        info.addWidget(self.effective_label, 2)
        root.addLayout(info)

        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        root.addWidget(self.error_label)

        self.rating_bar = self._build_rating_bar()
        root.addWidget(self.rating_bar)

        self.stack = QStackedWidget()
        self.dropzone = DropZone()
        self.dropzone.photosDropped.connect(self.critique_paths)
        self.stack.addWidget(self.dropzone)
        self.stack.addWidget(self._build_stream_page())
        self.report_view = ReportView()
        self.stack.addWidget(_scroll(self.report_view))
        self.compare_view = CompareView()
        self.stack.addWidget(_scroll(self.compare_view))
        root.addWidget(self.stack, 1)

        status = QHBoxLayout()
        self.status_label = QLabel("Ready.")
        self.status_label.setObjectName("muted")
        status.addWidget(self.status_label, 1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setFixedWidth(260)
        self.progress.hide()
        status.addWidget(self.progress)
        root.addLayout(status)

    def _build_stream_page(self) -> QWidget:
        page = QWidget()
        layout = QHBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(14)
        self.stream_photo = QLabel()
        self.stream_photo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stream_photo.setMinimumWidth(200)
        layout.addWidget(self.stream_photo, 2)
        self.stream = QPlainTextEdit()
        self.stream.setObjectName("stream")
        self.stream.setReadOnly(True)
        self.stream.setPlaceholderText("The critique appears here as the model writes it…")
        layout.addWidget(self.stream, 3)
        return page

    def _build_rating_bar(self) -> QFrame:
        frame = QFrame()
        frame.setObjectName("card")
        layout = QHBoxLayout(frame)
        layout.setContentsMargins(12, 6, 12, 6)
        self.rating_prompt = QLabel("Blind test: how useful is this critique?")
        layout.addWidget(self.rating_prompt)
        self.rating_buttons: list[QPushButton] = []
        for value in range(1, 6):
            button = QPushButton("★" * value)
            button.setToolTip(f"{value} of 5")
            button.clicked.connect(lambda checked=False, v=value: self.rate(v))
            layout.addWidget(button)
            self.rating_buttons.append(button)
        layout.addStretch(1)
        frame.hide()
        return frame

    # ---- advisors and modes ---------------------------------------------------------------------
    def reload_advisors(self, select: str | None = None) -> None:
        current = select or self.advisor_id() or self.service.settings.default_advisor
        self.advisor_combo.blockSignals(True)
        self.advisor_combo.clear()
        self._advisors: dict[str, Advisor] = self.service.advisors()
        for advisor in self._advisors.values():
            self.advisor_combo.addItem(advisor.name + ("" if advisor.builtin else "  (personal)"), advisor.id)
            self.advisor_combo.setItemData(self.advisor_combo.count() - 1, _persona(advisor),
                                           Qt.ItemDataRole.ToolTipRole)
        index = self.advisor_combo.findData(current)
        self.advisor_combo.setCurrentIndex(max(0, index))
        self.advisor_combo.blockSignals(False)
        available = set(self.service.modes)
        model = self.mode_combo.model()
        for i in range(self.mode_combo.count()):
            item = model.item(i)
            ok = self.mode_combo.itemData(i) in available
            item.setEnabled(ok)
            item.setToolTip("" if ok else "not available in this build")
        default = self.mode_combo.findData(self.service.settings.default_mode)
        if default >= 0 and not self.current_mode_set:
            self.mode_combo.setCurrentIndex(default)
        self._update_advisor_info()

    current_mode_set = False
    ab_seed: int | None = None  # tests fix the blind draw

    def advisor_id(self) -> str | None:
        return self.advisor_combo.currentData() if hasattr(self, "advisor_combo") else None

    def mode(self) -> str:
        return self.mode_combo.currentData() or "auto"

    def set_advisor(self, advisor_id: str) -> None:
        index = self.advisor_combo.findData(advisor_id)
        if index < 0:
            raise KeyError(f"unknown advisor {advisor_id!r}")
        self.advisor_combo.setCurrentIndex(index)

    def set_mode(self, mode: str) -> None:
        self.current_mode_set = True
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    def _update_advisor_info(self) -> None:
        advisor = self._advisors.get(self.advisor_id() or "")
        if advisor is None:
            self.advisor_info.setText("")
            return
        bits = ["Built-in persona" if advisor.builtin else "Personal advisor"]
        if self.store is not None:
            try:
                n = self.store.count_profiles(advisor.id)
                bits.append(f"{n} reference profile{'s' if n != 1 else ''}" if n else "no reference profiles")
            except Exception:  # noqa: BLE001 - an info line must not break the window
                log.exception("counting profiles failed")
        versions = adapter_versions.list_versions(advisor.id)
        if versions:
            active = adapter_versions.active_version(advisor.id)
            bits.append("adapters " + ", ".join(v.version for v in versions)
                        + (f" ({active.version} active)" if active else " (none active)"))
        else:
            bits.append("no fine-tuned adapter")
        self.advisor_info.setText(" · ".join(bits))
        self.advisor_info.setToolTip(_persona(advisor))
        self._update_effective_mode()

    def _update_effective_mode(self) -> None:
        """Ask (off the UI thread) how the current advisor + mode would run; shown beside the pickers."""
        advisor_id = self.advisor_id()
        if advisor_id is None or self.queries is None:
            return
        if self._resolve_id is not None:
            self.queries.cancel(self._resolve_id)
        self.effective_label.setText("Checking the mode…")
        self._resolve_id = self.queries.submit("resolve", resolve_task(self.service, advisor_id, self.mode()))

    def _on_query_result(self, rid: str, value: object) -> None:
        if rid != self._resolve_id or not isinstance(value, ModeInfo):
            return
        self._resolve_id = None
        self.mode_info = value
        if not value.model_available:
            self.effective_label.setText("No model installed: measurement-only reports (see Settings)")
            return
        self.effective_label.setText(effective_text(value))
        self.effective_label.setToolTip(f"Runs as {value.effective}" + (f": {value.reason}" if value.reason else ""))

    def _on_query_failed(self, rid: str, message: str) -> None:
        if rid == self._resolve_id:
            self._resolve_id = None
            if message != CANCELLED:
                self.effective_label.setText(f"Mode unavailable: {message}")

    # ---- starting work ------------------------------------------------------------------------
    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open photos", str(Path.home()), PHOTO_FILTER)
        if files:
            self.critique_paths(files)

    def critique_paths(self, paths: list[str]) -> None:
        """Critique these photos in turn (a new drop replaces whatever is running)."""
        paths = [str(p) for p in paths if str(p)]
        if not paths:
            return
        if self.current_id is not None:
            self.queue.clear()
            self.bridge.cancel(self.current_id)
        self.queue = paths[1:]
        self.start(paths[0])

    def start(self, photo: str) -> str:
        """Start one critique of ``photo`` (by the current advisor/mode/compare settings)."""
        advisor = self.advisor_id() or self.service.settings.default_advisor
        self.current_photo = Path(photo)
        self._clear_error()
        self.rating_bar.hide()
        self.preview = load_preview(photo)
        self.stream.clear()
        self._stream_text = []
        self.stream_photo.setPixmap(fit(self.preview, 360, 420) if self.preview else fit(None, 1, 1))
        if self.compare_check.isChecked():
            kind, fn, self._passes = "compare", compare_task(self.service, photo, advisor), 2
        elif self.service.settings.ab_test_enabled and adapter_versions.active_version(advisor) is not None:
            kind, fn, self._passes = "blind", blind_task(self.service, photo, advisor,
                                                         self.service.settings.ab_test_split, self.ab_seed), 1
        else:
            kind, fn, self._passes = "critique", critique_task(self.service, photo, advisor, self.mode()), 1
        self.current_kind = kind
        self.current_id = self.bridge.submit(kind, fn)
        self.cancel_button.setEnabled(True)
        self.progress.show()
        self.progress.setRange(0, 0)
        self._set_status(f"Starting {Path(photo).name}…")
        self.stack.setCurrentIndex(PAGE_STREAM)
        return self.current_id

    def cancel(self) -> None:
        self.queue.clear()
        if self.current_id is not None:
            self.bridge.cancel(self.current_id)

    # ---- bridge signals ------------------------------------------------------------------------
    def _on_started(self, rid: str, kind: str) -> None:
        if rid == self.current_id:
            self._set_status(f"Working on {self.current_photo.name if self.current_photo else 'photo'}…")

    def _on_token(self, rid: str, text: str) -> None:
        if rid != self.current_id:
            return
        self._stream_text.append(text)
        cursor = self.stream.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)
        self.stream.setTextCursor(cursor)
        self.stream.ensureCursorVisible()
        done = "".join(self._stream_text).count('"score"')
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * min(1.0, done / (len(DIMENSIONS) * self._passes))))

    def _on_progress(self, rid: str, message: str, fraction: float) -> None:
        if rid != self.current_id:
            return
        self._set_status(message)
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * fraction))

    def _on_result(self, rid: str, value: object) -> None:
        if rid != self.current_id:
            return
        self.show_item(value)
        emit(self.critiqueFinished, value)
        emit(self.historyChanged)

    def _on_failed(self, rid: str, message: str) -> None:
        if rid != self.current_id:
            return
        if message == CANCELLED:
            self._set_status("Cancelled.")
            if self.current_item is not None:
                self.stack.setCurrentIndex(PAGE_COMPARE if isinstance(self.current_item, Comparison) else PAGE_REPORT)
            else:
                self.stack.setCurrentIndex(PAGE_DROP)
            return
        self.show_error(message)
        self.stack.setCurrentIndex(PAGE_DROP)

    def _on_finished(self, rid: str) -> None:
        if rid != self.current_id:
            return
        self.current_id = None
        self.cancel_button.setEnabled(False)
        self.progress.hide()
        if self.queue:
            self.start(self.queue.pop(0))

    # ---- showing results ---------------------------------------------------------------------
    def show_item(self, item: Any, photo: QImage | None = None) -> None:
        """Show a result (also used by history to reopen one)."""
        if photo is None and isinstance(item, (CritiqueResult, BlindResult, Comparison)):
            photo = self.preview if self.current_id is not None else None
        self.current_item = item
        self.export_button.setEnabled(True)
        if isinstance(item, Comparison):
            self.compare_view.set_comparison(item, photo, advisor_name=self.advisor_name(item.base.advisor_id))
            self.stack.setCurrentIndex(PAGE_COMPARE)
            self._set_status(f"Compared base and {item.tuned.adapter_version or 'fine-tuned'}.")
        elif isinstance(item, BlindResult):
            self.report_view.set_result(item.result, photo=photo, hidden=True, title=self._title(item.result))
            self.rating_prompt.setText("Blind test: which model wrote this is hidden. How useful is this critique?")
            for button in self.rating_buttons:
                button.setEnabled(True)
            self.rating_bar.show()
            self.stack.setCurrentIndex(PAGE_REPORT)
            self._set_status("Rate the critique to see which model wrote it.")
        else:
            self.report_view.set_result(item, photo=photo, title=self._title(item))
            self.stack.setCurrentIndex(PAGE_REPORT)
            grade = item.report.overall_grade if item.report else "no report"
            self._set_status(f"Done: {grade}.")
        self.preview = photo

    def advisor_name(self, advisor_id: str) -> str:
        advisor = self._advisors.get(advisor_id)
        return advisor.name if advisor else advisor_id

    def _title(self, result: Any) -> str:
        return f"{Path(str(result.photo)).name} — {self.advisor_name(result.advisor_id)}"

    def rate(self, value: int) -> None:
        """Record the blind rating and reveal which arm ran."""
        item = self.current_item
        if not isinstance(item, BlindResult):
            return
        job_id = item.result.job_id
        store = self.store or self.service.store
        if store is not None and job_id:
            try:
                store.add_rating(job_id, value)
            except Exception as exc:  # noqa: BLE001
                self.show_error(f"Could not record the rating: {exc}")
                return
        arm = "the fine-tuned model" if item.arm == "fine_tuned" else "the base model"
        version = f" (adapter {item.adapter_version} under test)" if item.adapter_version else ""
        self.rating_prompt.setText(f"Thanks — you gave {value}/5. This critique was written by {arm}{version}.")
        for button in self.rating_buttons:
            button.setEnabled(False)
        self.report_view.reveal()
        emit(self.historyChanged)

    def show_error(self, message: str) -> None:
        self.last_error = message
        self.error_label.setText(message)
        self.error_label.show()
        self._set_status("Could not critique: see the message above.")

    def _clear_error(self) -> None:
        self.last_error = ""
        self.error_label.hide()

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)
        emit(self.statusMessage, text)

    # ---- export -------------------------------------------------------------------------------
    def export_dialog(self, kind: str) -> None:
        if self.current_item is None:
            return
        suffix = {"markdown": ".md", "json": ".json", "pdf": ".pdf"}[kind]
        stem = self.current_photo.stem if self.current_photo else "critique"
        path, _ = QFileDialog.getSaveFileName(self, "Export critique", str(Path.home() / f"{stem}-critique{suffix}"))
        if not path:
            return
        if not path.lower().endswith(suffix):
            path += suffix
        try:
            exporting.export(self.current_item, path, self.preview)
        except Exception as exc:  # noqa: BLE001 - tell the user, keep going
            QMessageBox.warning(self, "Export failed", f"{path}: {exc}")
            return
        self._set_status(f"Exported {path}")


def effective_text(info: ModeInfo) -> str:
    """One short line: the mode that will run, and which modes fell through (details in the tooltip)."""
    text = f"Runs as {info.effective}"
    if info.reason:
        skipped = re.findall(r"(\w+) unavailable", info.reason)
        text += f" ({', '.join(skipped)} unavailable: hover for why)" if skipped else f" ({info.reason})"
    return text


def _persona(advisor: Advisor) -> str:
    lines = [advisor.name, advisor.bio]
    if advisor.looks_for:
        lines.append("Looks for: " + ", ".join(advisor.looks_for))
    return "\n".join(line for line in lines if line)
