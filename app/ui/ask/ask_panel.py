"""Under the report: ask the advisor about this photo and this critique, and suggest a crop.

The thread is the job's stored conversation (``store.conversations.list_turns``), so it comes back when a
history entry is reopened; a new question is stored by the engine before the model runs, streams
into the thread token by token through its own bridge :class:`~app.ui.common.bridge.Request`, and can be
cancelled at any token (the partial answer stays, marked cancelled). Every engine call runs on the
worker (:mod:`app.ui.ask.ask_worker`), never here. A photo that moved is said so, with
"Locate photo…" (the engine checks the chosen file's content against the photo critiqued).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.engine.conversation.crop import ASPECTS, CropSuggestion
from app.engine.conversation.session import Answer, Conversations
from app.engine.critique.result import CritiqueResult

from ..common import theme, ui_state
from ..common.bridge import CANCELLED, InferenceBridge, Request, TaskFn
from ..common.notice_bar import NoticeBar
from ..common.pixmaps import load_preview
from ..common.qt_compat import emit
from ..crop.crop_card import CropCard
from .ask_thread import QuestionBox, TurnView
from .ask_worker import Located, Missing, ask_task, crop_task, export_task, locate_task

if TYPE_CHECKING:
    from app.engine.service import MondrianService
    from app.engine.store.database import JobRow, Store

PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.tif *.tiff *.webp *.heic *.heif *.dng *.cr2 *.cr3 *.nef *.arw);;All files (*)"
CROP_PREVIEW_EDGE = 1024
FREE = "Free"


class AskPanel(QWidget):
    """The question thread and the crop card for the job on the report page."""

    critiqueRequested = Signal(str, str, str)  # photo path, advisor id, mode: "Critique the crop"
    statusMessage = Signal(str)

    def __init__(self, service: MondrianService, bridge: InferenceBridge, store: Store | None = None, *,
                 queries: InferenceBridge | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("page")
        self.talk = Conversations(service)
        self.store = store or service.store
        self.bridge = bridge
        self.queries = queries or bridge
        self.job: JobRow | None = None
        self.advisor = "Advisor"
        self.request: Request | None = None
        self.live: TurnView | None = None
        self.located: dict[str, Path] = {}  # job id -> where the user found its moved photo
        self.turn_views: list[TurnView] = []
        self.syncing: Request | None = None  # the check against the store after a cancel or failure
        self._build()
        self.hide()

    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(16, 0, 16, 12)
        root.setSpacing(8)
        title = QLabel("Ask the advisor")
        title.setFont(theme.title_font(13))
        root.addWidget(title)
        self.notice = NoticeBar()
        root.addWidget(self.notice)
        self.turns_box = QVBoxLayout()
        self.turns_box.setSpacing(8)
        root.addLayout(self.turns_box)
        self.crop_card = CropCard()
        self.crop_card.exportRequested.connect(self.export_crop)
        self.crop_card.critiqueRequested.connect(self._critique_crop)
        root.addWidget(self.crop_card)
        self.box = QuestionBox()
        self.box.textChanged.connect(self._update_buttons)
        self.box.submitted.connect(self.ask)
        root.addWidget(self.box)
        row = QHBoxLayout()
        self.counter = QLabel()
        self.counter.setObjectName("muted")
        row.addWidget(self.counter, 1)
        self.aspect = QComboBox()
        self.aspect.addItems([FREE, *ASPECTS])
        self.aspect.setToolTip("The crop's aspect ratio (Free: the advisor chooses)")
        row.addWidget(self.aspect)
        self.crop_button = QPushButton("Suggest a crop")
        self.crop_button.clicked.connect(self.suggest_crop)
        row.addWidget(self.crop_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop this answer; what was written so far is kept")
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.cancel_button)
        self.ask_button = QPushButton("Ask")
        self.ask_button.setObjectName("primary")
        self.ask_button.clicked.connect(self.ask)
        row.addWidget(self.ask_button)
        root.addLayout(row)
        self._update_buttons()

    # ---- which job ----------------------------------------------------------------------------
    def show_for(self, result: CritiqueResult | None, advisor: str = "Advisor") -> None:
        """Show the conversation of ``result``'s job (hidden when there is no stored report to talk about)."""
        job = None
        if isinstance(result, CritiqueResult) and result.job_id and result.report is not None and self.store:
            job = self.store.jobs.find_job(result.job_id)
        same = self.job is not None and job is not None and job.id == self.job.id
        if not same:
            self._detach()
        self.job, self.advisor = job, advisor
        self.setVisible(job is not None)
        if job is None or (same and self.request is not None):  # an answer is streaming into this thread
            return
        self.notice.clear()
        self.reload()
        if self.photo() is None:
            self._say_missing(str(job.photo_path), None)

    def photo(self) -> Path | None:
        """The job's photo file: where it was critiqued, or where the user located it; None if gone."""
        if self.job is None:
            return None
        located = self.located.get(self.job.id)
        if located is not None and located.is_file():
            return located
        path = Path(self.job.photo_path)
        return path if path.is_file() else None

    def reload(self) -> None:
        """Rebuild the thread from the store (the stored turns are the truth)."""
        for view in self.turn_views:
            self.turns_box.removeWidget(view)
            view.deleteLater()
        self.turn_views = []
        self.live = None
        if self.job is None or self.store is None:
            return
        for turn in self.store.conversations.list_turns(self.job.id):
            self._add_view(TurnView.from_turn(turn, self.advisor))
        crop = self.talk.latest_crop(self.job.id)
        if crop is not None:
            self._show_crop(crop)
        else:
            self.crop_card.hide()
        self._update_buttons()

    def _add_view(self, view: TurnView) -> TurnView:
        self.turns_box.addWidget(view)
        self.turn_views.append(view)
        return view

    def _detach(self) -> None:
        """Another job is shown: a running answer goes on (and is stored) but no longer draws here."""
        self.request = None
        self.live = None

    # ---- asking ---------------------------------------------------------------------------------
    def ask(self) -> Request | None:
        """Send the question in the box; refused in the box when empty or too long."""
        problem = self.box.problem()
        if self.job is None or self.request is not None or problem:
            if problem:
                self.counter.setText(problem)
            return None
        question = self.box.toPlainText().strip()
        self.box.clear()
        self.live = self._add_view(TurnView(question, self.advisor, kind="question"))
        self.live.waiting("Thinking…")
        return self._submit("ask", ask_task(self.talk, self.job.id, question, self.located.get(self.job.id)),
                            stream=True)

    def suggest_crop(self) -> Request | None:
        if self.job is None or self.request is not None:
            return None
        aspect = None if self.aspect.currentText() == FREE else self.aspect.currentText()
        self.live = self._add_view(TurnView("Suggest a crop" + (f" ({aspect})" if aspect else ""), self.advisor,
                                            kind="crop"))
        self.live.waiting("Choosing a crop…")
        return self._submit("crop", crop_task(self.talk, self.job.id, aspect, self.located.get(self.job.id)),
                            stream=False)

    def _submit(self, kind: str, fn: TaskFn, *, stream: bool) -> Request:
        request = self.bridge.run(kind, fn)
        if stream:
            request.token.connect(self._on_token)
        request.result.connect(self._on_result)
        request.failed.connect(self._on_failed)
        request.finished.connect(self._on_finished)
        self.request = request
        self._update_buttons()
        return request

    def cancel(self) -> None:
        if self.request is not None:
            self.request.cancel()

    def _current(self) -> bool:
        return self.request is not None and self.sender() is self.request and self.live is not None

    def _on_token(self, text: str) -> None:
        if self._current():
            assert self.live is not None
            if not self.live.text():
                self.live.set_note()
            self.live.append(text)

    def _on_result(self, value: object) -> None:
        if not self._current():
            return
        assert self.live is not None
        if isinstance(value, Missing):  # nothing was stored: the question goes back in the box
            self._unsend(self.live)
            self._say_missing(value.path, value.message)
        elif isinstance(value, Answer):
            self.live.show_turn(value.turn)
            if value.crop is not None:
                self._show_crop(value.crop)
            cut = value.turn.details.get("finish_reason") == "length"
            emit(self.statusMessage, "Crop suggested." if value.crop is not None else
                 "The advisor's answer was cut off at the token limit: see the note below it." if cut else
                 "The advisor answered.")

    def _on_failed(self, message: str) -> None:
        if not self._current():
            return
        assert self.live is not None
        if message == CANCELLED:
            self.live.cancelled()
            emit(self.statusMessage, "Cancelled: the partial answer is kept.")
        else:
            self.live.failed(message)
            emit(self.statusMessage, "No answer: see the conversation.")
        self._sync(self.live, message)

    def _sync(self, view: TurnView, message: str) -> None:
        """Once the worker is done with the request (the next task on it), show the turn as stored:
        a cancel can land after the last token, and a question refused before it was stored
        leaves no turn (it goes back in the box, the reason in the notice)."""
        assert self.job is not None
        job_id = self.job.id
        self.syncing = self.bridge.run("ask-sync", lambda _ctx: None)
        self.syncing.result.connect(lambda _value: self._synced(job_id, view, message))

    def _synced(self, job_id: str, view: TurnView, message: str) -> None:
        self.syncing = None
        if self.store is None or self.job is None or self.job.id != job_id or view not in self.turn_views:
            return
        turns = self.store.conversations.list_turns(job_id)
        index = self.turn_views.index(view)
        if index < len(turns):
            view.show_turn(turns[index])
        else:  # refused before it was stored, or cancelled before it started: nothing to keep
            self._unsend(view)
            if message != CANCELLED:
                self.notice.show_notice(message[0].upper() + message[1:], "error")

    def _unsend(self, view: TurnView) -> None:
        self.turn_views.remove(view)
        self.turns_box.removeWidget(view)
        view.deleteLater()
        if view.kind == "question" and not self.box.toPlainText().strip():
            self.box.setPlainText(view.question.text())

    def _on_finished(self) -> None:
        if self.sender() is self.request:
            self.request = None
            self.live = None
            self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.request is not None
        problem = self.box.problem()
        self.counter.setText(self.box.counter_text() or (problem if self.box.toPlainText().strip() else ""))
        self.ask_button.setEnabled(self.job is not None and not busy and not problem)
        self.ask_button.setToolTip(problem if problem and self.box.toPlainText() else "Ask (Enter)")
        self.crop_button.setEnabled(self.job is not None and not busy)
        self.aspect.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    # ---- a moved photo ------------------------------------------------------------------------
    def _say_missing(self, path: str, message: str | None) -> None:
        text = message or (f"The photo of this critique is no longer at {path}: locate it to ask about it "
                           "or to crop it.")
        self.notice.show_notice(text[0].upper() + text[1:], "error", [("Locate photo…", self.locate_dialog)])

    def locate_dialog(self) -> None:
        start = str(Path(self.job.photo_path).parent) if self.job else ui_state.folder(ui_state.OPEN_FOLDER)
        path, _ = QFileDialog.getOpenFileName(self, "Locate the photo", start, PHOTO_FILTER)
        if path:
            self.locate(path)

    def locate(self, path: str | Path) -> Request | None:
        """Use ``path`` for this job's photo once the engine has checked it is the same photo."""
        if self.job is None:
            return None
        job_id = self.job.id
        request = self.queries.run("locate", locate_task(self.talk, job_id, Path(path)))
        request.result.connect(lambda value: self._located(job_id, value))
        request.failed.connect(lambda message: self.notice.show_notice(
            message[0].upper() + message[1:], "error", [("Locate photo…", self.locate_dialog)]))
        return request

    def _located(self, job_id: str, value: object) -> None:
        if not isinstance(value, Located):
            return
        self.located[job_id] = value.path
        if self.job is not None and self.job.id == job_id:
            self.notice.show_notice(f"Found it: the conversation now uses {value.path}.", "info")
            crop = self.crop_card.suggestion
            if crop is not None:
                self._show_crop(crop)

    # ---- the crop -------------------------------------------------------------------------------
    def _show_crop(self, crop: CropSuggestion) -> None:
        photo = self.photo()
        image: QImage | None = load_preview(photo, CROP_PREVIEW_EDGE) if photo else None
        self.crop_card.set_suggestion(crop, image)

    def export_crop(self, suggestion: CropSuggestion) -> Request | None:
        if self.job is None:
            return None
        request = self.queries.run("export-crop", export_task(self.talk, self.job.id, suggestion,
                                                              self.located.get(self.job.id)))
        request.result.connect(self._exported)
        request.failed.connect(lambda message: self.crop_card.export_done(None, message))
        return request

    def _exported(self, value: object) -> None:
        if isinstance(value, Missing):
            self.crop_card.export_done(None, value.message)
            self._say_missing(value.path, value.message)
        elif isinstance(value, Path):
            self.crop_card.export_done(value)
            emit(self.statusMessage, f"Crop saved as {value}")

    def _critique_crop(self, path: object) -> None:
        if self.job is not None:
            emit(self.critiqueRequested, str(path), self.job.advisor_id, self.job.requested_mode)
