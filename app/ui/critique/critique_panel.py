"""The Critique tab: the pickers, the drop zone, the live stream, the report, and what is on screen.

The panel submits each critique to the :class:`InferenceBridge` and listens to that request's
own signals; it keeps one current request and a queue (photos opened mid-run wait their turn).
What the report page shows, reopening, the photo viewer, the blind rating and export are its
:class:`~app.ui.critique.critique_display.ReportDisplay` (:attr:`CritiquePanel.display`), which it holds;
the advisor and mode pickers are its :class:`~app.ui.critique.critique_bar.CritiqueBar` (:attr:`CritiquePanel.bar`).
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QVBoxLayout, QWidget

from app.engine.critique.result import CritiqueResult

from ..ask.ask_panel import AskPanel
from ..common import ui_state
from ..common.bridge import CANCELLED, InferenceBridge, Request
from ..common.notice_bar import NoticeBar
from ..common.operations import BlindResult, Comparison, choose_task
from ..common.qt_compat import emit
from ..common.rating_bar import RatingBar
from .critique_bar import CritiqueBar
from .critique_display import ReportDisplay
from .critique_status import CritiqueStatus
from .report_pages import PAGE_COMPARE, PAGE_DROP, PAGE_REPORT, PAGE_STREAM, ReportPages
from .shown import Item

if TYPE_CHECKING:
    from app.engine.service import MondrianService
    from app.engine.store.database import JobRow, Store

log = logging.getLogger(__name__)

PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.tif *.tiff *.webp *.heic *.heif);;All files (*)"
__all__ = ["PAGE_COMPARE", "PAGE_DROP", "PAGE_REPORT", "PAGE_STREAM", "CritiquePanel"]


class CritiquePanel(QWidget):
    critiqueFinished = Signal(object)  # CritiqueResult | Comparison | BlindResult
    historyChanged = Signal()
    statusMessage = Signal(str)
    jobShown = Signal(str)  # the job whose report is now on screen (history highlights it)
    settingsRequested = Signal()

    ab_seed: int | None = None  # tests fix the blind draw

    def __init__(self, service: MondrianService, bridge: InferenceBridge, store: Store | None = None, *,
                 queries: InferenceBridge | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("page")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.service = service
        self.bridge = bridge
        self.store = store
        self.queries = queries
        self.request: Request | None = None
        self.request_photo: Path | None = None
        self.request_preview: QImage | None = None
        self._shown_request: str | None = None  # the request whose result the report page shows
        self.last_photo: Path | None = None  # what "Critique again" critiques
        self.queue: list[str] = []
        self.batch_failures: list[tuple[str, str]] = []  # (photo path, why) in this batch
        self.batch_index = 0
        self.batch_total = 0
        self.last_error = ""
        self._stream_text: list[str] = []
        self._build()
        self.bar.reload_advisors(select=ui_state.get_str(ui_state.ADVISOR) or None,
                                 mode=ui_state.get_str(ui_state.MODE) or service.settings.default_mode)
        self.bar.choiceChanged.connect(self._remember_choice)

    # ---- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(12, 10, 12, 6)
        root.setSpacing(8)
        self.bar = CritiqueBar(self.service, self.store, self.queries)
        self.bar.openRequested.connect(self.open_dialog)
        root.addWidget(self.bar)
        self.notice = NoticeBar()
        root.addWidget(self.notice)
        self.rating_bar = RatingBar()
        root.addWidget(self.rating_bar)

        self.stack = ReportPages()
        self.dropzone, self.stream_page = self.stack.dropzone, self.stack.stream_page
        self.report_view, self.compare_view = self.stack.report_view, self.stack.compare_view
        self.dropzone.photosDropped.connect(self.critique_paths)
        root.addWidget(self.stack, 1)
        self.ask = AskPanel(self.service, self.bridge, self.store, queries=self.queries)
        self.ask.critiqueRequested.connect(self._critique_crop)
        self.ask.statusMessage.connect(self._set_status)
        self.stack.add_below_report(self.ask)
        self.display = ReportDisplay(self.service, self.store, self.queries, bar=self.bar, notice=self.notice,
                                     rating_bar=self.rating_bar, pages=self.stack, ask=self.ask, parent=self)
        self.display.jobShown.connect(self.jobShown)
        self.display.historyChanged.connect(self.historyChanged)
        self.display.settingsRequested.connect(self.settingsRequested)
        self.display.retryRequested.connect(self.retry)
        self.display.statusChanged.connect(self._set_status)
        self.display.errorRaised.connect(self.show_error)

        self.status = CritiqueStatus()
        self.status.cancel_button.clicked.connect(self.cancel)
        root.addWidget(self.status)

    @property
    def current_id(self) -> str | None:
        return self.request.id if self.request is not None else None

    @property
    def current_item(self) -> Item | None:
        shown = self.display.shown
        return shown.item if shown else None

    @property
    def preview(self) -> QImage | None:
        shown = self.display.shown
        return shown.photo if shown else self.request_preview

    def _remember_choice(self) -> None:
        ui_state.set_str(ui_state.ADVISOR, self.bar.advisor_id() or "")
        ui_state.set_str(ui_state.MODE, self.bar.mode())

    # ---- starting work ------------------------------------------------------------------------
    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open photos", ui_state.folder(ui_state.OPEN_FOLDER),
                                                PHOTO_FILTER)
        if files:
            ui_state.remember_folder(ui_state.OPEN_FOLDER, files[0])
            self.critique_paths(files)

    def critique_paths(self, paths: list[str]) -> None:
        """Critique these photos in turn; photos opened while one runs are queued after it."""
        paths = [str(p) for p in paths if str(p)]
        if not paths:
            return
        if self.request is not None:
            self.queue.extend(paths)
            self.batch_total += len(paths)
            self._set_status(f"Working on {self._where()}; {len(self.queue)} queued.")
            return
        self.batch_index, self.batch_total = 0, len(paths)
        self.batch_failures = []
        self.queue = paths[1:]
        self.start(paths[0])

    def _where(self) -> str:
        name = self.request_photo.name if self.request_photo else "photo"
        return f"{name} ({self.batch_index} of {self.batch_total})" if self.batch_total > 1 else name

    def start(self, photo: str) -> str:
        """Start one critique of ``photo`` (by the current advisor/mode/compare settings)."""
        advisor = self.bar.advisor_id() or self.service.settings.default_advisor
        self.batch_index = max(1, self.batch_index + 1)
        self.batch_total = max(self.batch_total, self.batch_index)
        self.request_photo = self.last_photo = Path(photo)
        self.notice.clear()
        self.last_error = ""
        self.rating_bar.hide()
        self.display.shown = None
        self.request_preview = None  # the task's decode, sent with request.preview
        self._stream_text = []
        self.stream_page.begin(None)
        compare = self.bar.compare_check.isChecked() and self.bar.compare_check.isEnabled()
        kind, fn, passes = choose_task(self.service, photo, advisor, self.bar.mode(), compare=compare,
                                       seed=self.ab_seed)
        request = self.bridge.run(kind, fn)
        request.started.connect(self._on_started)
        request.token.connect(self._on_token)
        request.progress.connect(self._on_progress)
        request.preview.connect(partial(self._preview_ready, request.id))  # the engine's one decode
        request.result.connect(self._on_result)
        request.failed.connect(self._on_failed)
        request.finished.connect(self._on_finished)
        self.request = request
        self.status.begin(passes)
        self._set_status(f"Starting {self._where()}…")
        self.stack.setCurrentIndex(PAGE_STREAM)
        return request.id

    def _preview_ready(self, request_id: str, image: object) -> None:
        """Put the preview the critique task decoded (once, for the engine too: operations.prepare_shown)
        beside the request's stream, and beside its report if that is up without one."""
        if not isinstance(image, QImage):
            return
        if self.request is not None and self.request.id == request_id:
            self.request_preview = image
            self.stream_page.set_photo(image)
        shown = self.display.shown
        if self._shown_request == request_id and shown is not None:
            self.display.attach_photo(shown, image)

    def cancel(self) -> None:
        """Stop the running critique and drop the queue; the photo and partial text stay up."""
        self.queue.clear()
        if self.request is not None:
            self.request.cancel()

    def retry(self) -> None:
        """Critique the last photo again (after a cancel, a failure, or from a reopened entry)."""
        photo = self.last_photo
        if photo is None:
            return
        if not photo.is_file():
            self.show_error(f"{photo.name} is no longer at {photo.parent}: it was moved or deleted, so it cannot "
                            "be critiqued again.")
            return
        self.critique_paths([str(photo)])

    # ---- this request's signals ----------------------------------------------------------------
    def _current(self) -> bool:
        return self.request is not None and self.sender() is self.request

    def _on_started(self) -> None:
        if self._current():
            self._set_status(f"Working on {self._where()}…")

    def _on_token(self, text: str) -> None:
        if not self._current():
            return
        self._stream_text.append(text)
        self.stream_page.append(text)
        self.status.tokens(text)

    def _on_progress(self, message: str, fraction: float) -> None:
        if not self._current():
            return
        self._set_status(f"{message} {self._where()}" if self.batch_total > 1 else message)
        self.status.stage(fraction)

    def _on_result(self, value: object) -> None:
        if not self._current() or not isinstance(value, (CritiqueResult, Comparison, BlindResult)):
            return
        self._shown_request = self.request.id if self.request is not None else None
        self.display.show_item(value, photo=self.request_preview, photo_path=self.request_photo)
        emit(self.critiqueFinished, value)
        emit(self.historyChanged)

    def _on_failed(self, message: str) -> None:
        if not self._current():
            return
        name = self.request_photo.name if self.request_photo else "the photo"
        if message == CANCELLED:
            self.stack.setCurrentIndex(PAGE_STREAM)  # the photo and the partial text stay on screen
            partial = " What the model had written so far is below." if self._stream_text else ""
            self.notice.show_notice(f"Cancelled: the critique of {name} was stopped before it finished.{partial}",
                                    "cancelled", [("Critique again", self.retry)])
            self._set_status("Cancelled.")
            emit(self.historyChanged)
            return
        self.batch_failures.append((str(self.request_photo or name), message))
        self.show_error(message, retry=True)
        self.stack.setCurrentIndex(PAGE_DROP)
        emit(self.historyChanged)

    def _on_finished(self) -> None:
        if not self._current():
            return
        self.request = None
        self.status.end()
        if self.queue:
            self.start(self.queue.pop(0))
        else:
            if self.batch_total > 1 and self.batch_failures:
                self._show_batch_failures()
            self.batch_index = self.batch_total = 0

    def _show_batch_failures(self) -> None:
        """After several photos: every one that failed, in one list (each banner replaced the last)."""
        lines = []
        for photo, message in self.batch_failures:
            name = Path(photo).name
            why = message
            for prefix in (f"{photo}: ", f"{name}: "):  # the file named once per line
                why = why[len(prefix):] if why.startswith(prefix) else why
            lines.append(f"• {name}: {why}")
        text = (f"{len(self.batch_failures)} of {self.batch_total} photos could not be critiqued:\n"
                + "\n".join(lines))
        self.last_error = text
        self.notice.show_notice(text, "error", [])
        self._set_status(f"Done, {len(self.batch_failures)} of {self.batch_total} could not be critiqued: "
                         "see the list above.")

    def _critique_crop(self, path: str, advisor_id: str, mode: str) -> None:
        """"Critique the crop": a new critique of the exported file, by the job's advisor and mode."""
        for choose, value in ((self.bar.set_advisor, advisor_id), (self.bar.set_mode, mode)):
            try:
                choose(value)
            except KeyError:  # that advisor was deleted since: the one picked now critiques it
                pass
        self.critique_paths([path])

    def show_job(self, job: JobRow, item: CritiqueResult | Comparison) -> None:
        """Reopen a stored job on the report page; "Critique again" then critiques its photo."""
        self.last_photo = Path(job.photo_path)
        self.display.show_job(job, item)

    def show_error(self, message: str, *, retry: bool = False) -> None:
        self.last_error = message
        actions = [("Critique again", self.retry)] if retry and self.last_photo else []
        self.notice.show_notice(message, "error", actions)
        self._set_status("Could not critique: see the message above.")

    def clear_notice(self) -> None:
        self.last_error = ""
        self.notice.clear()

    def _set_status(self, text: str) -> None:
        self.status.label.setText(text)
        emit(self.statusMessage, text)
