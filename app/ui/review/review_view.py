"""The Review view: pick a folder, watch the grid fill in, sort / filter / cull, write sidecars.

The review runs on the inference worker (:class:`~app.ui.common.bridge.InferenceBridge`) through the
engine's :func:`~app.engine.review.folder_review.run_review` (both stages: triage scores for every
frame, tiles marked ≈, then full critiques for the frames the Critique policy picks; opening a frame
moves it to the front of that queue); each finished frame comes back as a
progress message and only that tile is repainted (two small queries on the UI thread), and the
whole summary (bursts need every frame) is built on the worker at the end. Culling keys write the
user's flag / stars to the review's frame row at once; "Write sidecars" hands them to Lightroom,
Capture One or darktable under the photographer's policy: Mondrian's namespace and keywords only,
unless the standard fields are ticked (filled only where empty, unless "Overwrite"). A write is
confirmed with the count of files and fields that change; a dry run lists them; "Undo last sidecar
write" restores the files exactly (naming any that changed since).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.engine.review.export import (
    ExportResult,
    export_dir,
    export_sidecars,
    undo_last_write,
    write_csv,
    write_keyword_list,
)
from app.engine.review.folder_review import Progress, critique_on_demand, run_review, start_review
from app.engine.review.progress import RunOutcome, last_run
from app.engine.review.stages import jump_frame
from app.engine.review.summary import LIGHTROOM_FLAGS_NOTE, ReviewSummary, build_summary, summarize_frame
from app.engine.sidecars import STANDARD_FIELDS, WritePolicy

from ..common.bridge import CANCELLED, Request, TaskContext
from ..critique.critique_bar import MODES
from .culling import legend_text, short_legend_text
from .review_cull import CullController
from .review_grid import FILTERS, SORTS, ReviewGrid
from .review_reopen import LastReview

if TYPE_CHECKING:
    from app.engine.service import MondrianService
    from app.engine.store.database import JobRow, Store
    from app.engine.store.reviews import ReviewRow

    from ..common.bridge import InferenceBridge

log = logging.getLogger(__name__)

CONVENTIONS = [("Lightroom Classic", "lightroom"), ("Capture One", "capture_one"), ("darktable", "darktable")]
JPEG_NOTE = ("Lightroom reads only the XMP embedded in JPEG, HEIC, TIFF and DNG files, never a sidecar: for those, "
             "Mondrian also writes a CSV and a keyword list you can import (Metadata › Import Keywords). "
             + LIGHTROOM_FLAGS_NOTE)
FIELD_LABELS = {"rating": "Rating", "label": "Label", "caption": "Caption", "flag": "Pick/reject"}
# The second stage: which frames get a full critique after triage scored them all.
CRITIQUE_POLICIES = [("Auto", "auto"), ("All frames", "all"), ("Top 10", "top:10"), ("Top 50", "top:50"),
                     ("Picks + top 20", "picks+top:20"), ("Best of bursts", "bursts"), ("Picks", "picks"),
                     ("Triage only", "none")]


class ReviewView(QWidget):
    jobRequested = Signal(object)  # JobRow: open the frame's full report
    reviewFinished = Signal(object)  # ReviewRow
    teachRequested = Signal(str, str)  # advisor id, review id: learn from this shoot's culls (Training tab)

    def __init__(self, service: MondrianService, bridge: InferenceBridge, store: Store | None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.service, self.bridge, self.store = service, bridge, store
        self.review_id: str | None = None
        self.request: Request | None = None
        self.summary: ReviewSummary | None = None
        self._started = 0.0
        self._run_total = 0
        self._run_done = 0

        self.folder_button = QPushButton("Choose Folder…")
        self.folder_button.clicked.connect(self.choose_folder)
        self.advisor = QComboBox()
        for advisor in service.advisors().values():
            self.advisor.addItem(advisor.name, advisor.id)
        default = self.advisor.findData(service.settings.default_advisor)
        self.advisor.setCurrentIndex(max(0, default))
        self.mode = QComboBox()
        labels = dict((value, label) for label, value in MODES)  # "Auto", as in the Critique tab
        for mode in service.modes:
            self.mode.addItem(labels.get(mode, mode.capitalize()), mode)
        self.set_mode(service.settings.default_mode)
        self.recursive = QCheckBox("Sub-folders")
        self.critique = QComboBox()
        for label, value in CRITIQUE_POLICIES:
            self.critique.addItem(label, value)
        self.set_critique(service.settings.review_critique)
        self.critique.setToolTip("Every frame gets fast triage scores first (a tile marked ≈ shows them); these "
                                 "frames then get a full critique, best first. Opening a frame puts it first.\n"
                                 "Auto: every frame up to 100, else your picks and the best 100.")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        top = QHBoxLayout()
        for w in (self.folder_button, QLabel("Advisor"), self.advisor, QLabel("Mode"), self.mode, self.recursive,
                  QLabel("Critique"), self.critique):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.cancel_button)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)  # no "0%" before a review has started
        self.status = QLabel("Choose a folder of photos (RAW included) to review the whole shoot.")
        self.status.setWordWrap(True)

        self.sort = QComboBox()
        for label, key in SORTS:
            self.sort.addItem(label, key)
        self.filter = QComboBox()
        for label, _ in FILTERS:
            self.filter.addItem(label)
        self.grid = ReviewGrid()
        self.sort.currentIndexChanged.connect(lambda _i: self.grid.set_sort(self.sort.currentData()))
        self.filter.currentIndexChanged.connect(self.grid.set_filter)
        self.grid.openRequested.connect(self.open_frame)
        self.culling = CullController(self.grid, store, self.status.setText, self)
        self.resort_button = QPushButton("Re-sort")
        self.resort_button.setToolTip("Place new results by the sort order (they never move a tile on their own)")
        self.resort_button.clicked.connect(lambda: self.grid.refill(resort=True))
        self.empty = QLabel("No frame matches this filter.")
        self.empty.setVisible(False)
        self.filter.currentIndexChanged.connect(lambda _i: self.show_empty_state())
        bar = QHBoxLayout()
        for w in (QLabel("Sort by"), self.sort, self.resort_button, QLabel("Show"), self.filter):
            bar.addWidget(w)
        bar.addStretch(1)

        self.convention = QComboBox()
        for label, key in CONVENTIONS:
            self.convention.addItem(label, key)
        self.dry_run = QCheckBox("Dry run")
        # The standard fields in a menu, so that the row fits a 900 px window (checkable actions)
        also = QToolButton()
        also.setText("Also write")
        also.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        also.setToolTip("The standard fields to write too (only where the file has none, unless Overwrite is "
                        "ticked). None ticked: Mondrian's namespace and keywords only.")
        fields_menu = QMenu(also)
        fields_menu.setToolTipsVisible(True)
        self.fields = {name: fields_menu.addAction(FIELD_LABELS[name]) for name in STANDARD_FIELDS}
        for name, box in self.fields.items():
            box.setCheckable(True)
            box.setToolTip(f"Also write the {FIELD_LABELS[name].lower()}")
        fields_menu.addSeparator()
        self.overwrite = fields_menu.addAction("Overwrite Their Values")
        self.overwrite.setCheckable(True)
        self.overwrite.setToolTip("Replace the photographer's own values in the ticked fields")
        also.setMenu(fields_menu)
        self.export_button = QPushButton("Write Sidecars")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.write_sidecars)
        self.undo_button = QPushButton("Undo Write")
        self.undo_button.setToolTip("Undo the last sidecar write (files back as they were)")
        self.undo_button.setEnabled(False)  # only with a write of this review's not undone yet
        self.undo_button.clicked.connect(self.undo_sidecars)
        self.teach_button = QPushButton("Teach Advisor")  # short: the row must fit a 900 px window
        self.teach_button.setToolTip("Teach my advisor from this shoot: train it on your picks, rejects and stars, "
                                     "set here or in Lightroom (read from the XMP). Runs in the Training tab; its "
                                     "steps and method are under Teaching from culls there.")
        self.teach_button.setEnabled(False)
        self.teach_button.clicked.connect(self.teach)
        self.confirm = self._ask  # replaced in tests: (title, text, details) -> bool
        self.mapping = QLabel(short_legend_text())
        self.mapping.setToolTip(legend_text())
        self.mapping.setObjectName("muted")
        self.note = QLabel("JPEG/DNG: see tooltip")
        self.note.setToolTip(JPEG_NOTE)
        self.note.setObjectName("muted")
        self.convention.currentIndexChanged.connect(  # Lightroom's caveat, not Capture One's or darktable's
            lambda _i: self.note.setVisible(self.convention.currentData() == "lightroom"))
        export = QHBoxLayout()
        widgets: list[QWidget] = [QLabel("Ratings to"), self.convention, also, self.dry_run, self.export_button,
                                  self.undo_button, self.note, self.teach_button]
        for widget in widgets:
            export.addWidget(widget)
        export.addStretch(1)
        bar.addWidget(self.mapping)
        self.progress.setMaximumWidth(240)
        self.status.setMinimumWidth(200)
        state = QHBoxLayout()
        state.addWidget(self.status, 1)
        state.addWidget(self.progress)

        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addLayout(state)
        layout.addLayout(bar)
        layout.addLayout(self.culling.bar())
        layout.addWidget(self.empty)  # above the empty grid: beside the filter it widened the window
        layout.addWidget(self.grid, 1)
        layout.addLayout(export)
        self.last = LastReview(self)
        self.last.reopen()  # the review worked on last, as it was left (off the UI thread)

    def set_mode(self, mode: str) -> None:
        """Pick a mode by its name ("baseline"); the combo shows it as the Critique tab does."""
        self.mode.setCurrentIndex(max(0, self.mode.findData(mode)))

    def set_critique(self, policy: str) -> None:
        """Pick the second-stage policy (a value not in the list is added as itself)."""
        index = self.critique.findData(policy)
        if index < 0:
            self.critique.addItem(policy, policy)
            index = self.critique.count() - 1
        self.critique.setCurrentIndex(index)

    def reload_advisors(self) -> None:
        """List the advisors again (a personal one was created), keeping the one picked."""
        current = self.advisor.currentData()
        self.advisor.blockSignals(True)
        self.advisor.clear()
        for advisor in self.service.advisors().values():
            self.advisor.addItem(advisor.name, advisor.id)
        self.advisor.setCurrentIndex(max(0, self.advisor.findData(current)))
        self.advisor.blockSignals(False)

    # ---- running -------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Review a folder")
        if folder:
            self.review(folder)

    def review(self, folder: str | Path) -> Request | None:
        """Start (or continue) the review of ``folder`` with the chosen advisor and mode."""
        if self.store is None:
            self.status.setText("Reviews need the history database, which is off.")
            return None
        if self.request is not None and self.request.live:
            self.status.setText("A review is already running: cancel it first.")
            return None
        service, store = self.service, self.store
        advisor, mode, recursive = self.advisor.currentData(), self.mode.currentData(), self.recursive.isChecked()
        critique = self.critique.currentData()

        def task(ctx: TaskContext) -> tuple[Any, ReviewSummary, RunOutcome | None]:
            review = start_review(service, store, folder, advisor, mode, recursive=recursive, critique=critique)
            ctx.progress(json.dumps({"opened": review.id}), 0.0)

            def report(p: Progress) -> None:
                ctx.progress(json.dumps(p.__dict__), p.finished / p.total if p.total else 1.0)

            final = run_review(service, store, review.id, on_progress=report, scope=ctx.scope)
            return final, build_summary(store, final.id), last_run(final.id)

        self.request = request = self.bridge.run("review", task)
        request.progress.connect(self._on_progress)
        request.result.connect(self._on_result)
        request.failed.connect(self._on_failed)
        request.finished.connect(self._on_finished)
        self.cancel_button.setEnabled(True)
        self.export_button.setEnabled(False)
        self.teach_button.setEnabled(False)  # until this review is through: not the last one's, nor half of this
        self.status.setText(f"Scanning {Path(folder).name}…")
        self._started, self._run_done, self._run_total = time.perf_counter(), 0, 0
        return request

    def cancel(self) -> None:
        if self.request is not None:
            self.request.cancel()

    def _on_progress(self, message: str, fraction: float) -> None:
        data = json.loads(message)
        if "opened" in data:
            self.review_id = data["opened"]
            self.last.remember(self.review_id)
            assert self.store is not None
            self.culling.open_review(self.review_id)
            self.refresh_undo()
            self.grid.set_frames([summarize_frame(self.store, f) for f in self.store.reviews.list_frames(self.review_id)],
                                 resort=True)
            self.show_empty_state()
            return
        p = Progress(**data)
        self.progress.setTextVisible(True)
        self.progress.setRange(0, max(1, p.total))
        self.progress.setValue(p.finished)
        if p.path is None:  # the start of the model work
            self._run_total, self._started = p.to_run, time.perf_counter()
        else:
            if p.status in ("done", "failed", "triaged"):
                self._run_done += 1
            assert self.store is not None
            self.grid.update_frame(summarize_frame(self.store, self.store.reviews.get_frame(p.review_id, p.path)))
            self.show_empty_state()
        self.status.setText(self._progress_text(p))

    def _progress_text(self, p: Progress) -> str:
        text = ("Triage: " if p.stage == "triage" else "Critiques: ") + f"{p.finished} of {p.total} frames"
        if self._run_done and self._run_total > self._run_done:
            per = (time.perf_counter() - self._started) / self._run_done
            text += f" · about {round(per * (self._run_total - self._run_done))} s left"
        if p.status == "failed" and p.error:
            name, why = Path(p.path or "").name, p.error
            for prefix in (f"{p.path}: ", f"{name}: "):  # the file named once
                why = why[len(prefix):] if why.startswith(prefix) else why
            text += f" · {name}: {why}"
        return text

    def _on_result(self, value: object) -> None:
        assert isinstance(value, tuple)
        review: ReviewRow = value[0]
        summary: ReviewSummary = value[1]
        self.summary = summary
        self.grid.set_frames(summary.frames)  # in place: the tile under the cursor stays where it is
        self.show_empty_state()
        ran: RunOutcome = value[2] or RunOutcome(review.total, review.done + review.reused)
        # every frame is through: a full bar (the last progress message can be the second stage's start
        # with nothing to critique, which left "0%" beside "Completed")
        self.progress.setRange(0, max(1, review.total))
        self.progress.setValue(max(1, review.total))
        triaged = sum(f.stage == "triage" for f in summary.frames)
        text = ran.describe(review.state)  # this run, apart from what earlier runs did
        self.status.setText(text[:1].upper() + text[1:] + "."
                            + (f" {triaged} show triage scores (≈) only." if triaged else ""))
        self.reviewFinished.emit(review)

    def _on_failed(self, message: str) -> None:
        if message == CANCELLED and self.store is not None and self.review_id:
            self.store.reviews.set_review_state(self.review_id, "cancelled", "cancelled")
            self.summary = build_summary(self.store, self.review_id)
            self.grid.set_frames(self.summary.frames)
            self.status.setText("Cancelled: what was reviewed is kept; review the folder again to continue.")
        else:
            self.status.setText(message)

    def _on_finished(self) -> None:
        self.cancel_button.setEnabled(False)
        self.export_button.setEnabled(self.review_id is not None)
        self.teach_button.setEnabled(self.review_id is not None)
        self.refresh_undo()

    def refresh_undo(self) -> None:
        """Undo Write only when the store has a write of this review's sidecars not undone yet."""
        batch = (self.store.sidecar_writes.last_sidecar_batch(self.review_id)
                 if self.store is not None and self.review_id is not None else None)
        self.undo_button.setEnabled(batch is not None)

    def teach(self) -> None:
        """Ask the window to teach the review's advisor from this shoot's culls."""
        if self.review_id is not None and self.store is not None:
            self.teachRequested.emit(self.store.reviews.get_review(self.review_id).advisor_id, self.review_id)

    # ---- culling (app.ui.review.review_cull) -----------------------------------------------------------
    def show_empty_state(self) -> None:
        self.empty.setVisible(bool(self.grid.frames) and self.grid.count() == 0)

    def set_flag(self, path: str, flag: str) -> None:
        self.culling.cull([path], "flag", flag)

    def set_stars(self, path: str, stars: int) -> None:
        self.culling.cull([path], "stars", stars)

    def open_frame(self, path: str) -> None:
        """The frame's full report; a frame with triage scores only asks the running review to critique
        it next (the engine's queue), or, once the review is over, is critiqued now on its own; its
        report opens when it arrives."""
        frame = self.grid.frames.get(path)
        job: JobRow | None = self.store.jobs.find_job(frame.job_id) if self.store and frame and frame.job_id else None
        if job is not None:
            self.jobRequested.emit(job)
            return
        if frame is None or frame.status == "failed":
            return
        if self.review_id is None or self.store is None:
            return
        if jump_frame(self.review_id, path):
            self.status.setText(f"{frame.name}: its full critique runs next.")
            return
        if self.request is not None and self.request.live:
            self.status.setText(f"{frame.name}: its full critique runs when the current task ends.")
            return
        self.critique_frame(path)

    def critique_frame(self, path: str) -> Request | None:
        """The review is over: critique this one frame now (the engine's critique_on_demand, as the
        HTTP jump does); its tile and report follow when it arrives."""
        if self.store is None or self.review_id is None:
            return None
        service, store, review_id = self.service, self.store, self.review_id

        def task(ctx: TaskContext) -> str:
            return critique_on_demand(service, store, review_id, path, scope=ctx.scope)

        self.request = request = self.bridge.run("review", task)
        request.result.connect(lambda status, p=path: self._on_frame_critiqued(p, str(status)))
        request.failed.connect(lambda message, name=Path(path).name: self.status.setText(
            f"{name}: its critique was cancelled." if message == CANCELLED else message))  # the review stays as it was
        request.finished.connect(self._on_finished)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"{Path(path).name}: writing its full critique…")
        return request

    def _on_frame_critiqued(self, path: str, status: str) -> None:
        assert self.store is not None and self.review_id is not None
        frame = summarize_frame(self.store, self.store.reviews.get_frame(self.review_id, path))
        self.grid.update_frame(frame)
        if status == "failed" or frame.job_id is None:
            self.status.setText(f"{frame.name}: no full critique ({frame.error or 'the advisor gave no report'}).")
            return
        self.status.setText(f"{frame.name}: full critique written.")
        job = self.store.jobs.find_job(frame.job_id)
        if job is not None:
            self.jobRequested.emit(job)

    def policy(self) -> WritePolicy:
        return WritePolicy(frozenset(n for n, box in self.fields.items() if box.isChecked()),
                           self.overwrite.isChecked())

    def _ask(self, title: str, text: str, details: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setDetailedText(details)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        return box.exec() == QMessageBox.StandardButton.Yes

    def _show(self, title: str, text: str, details: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, title, text, parent=self)
        box.setDetailedText(details)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()

    def write_sidecars(self) -> ExportResult | None:
        """Plan the write, confirm it with its counts (unless a dry run), then write; returns what was done."""
        if self.store is None or self.review_id is None:
            return None
        summary = build_summary(self.store, self.review_id)
        convention, policy = self.convention.currentData(), self.policy()
        result = export_sidecars(summary, convention, dry_run=True, policy=policy, store=self.store,
                                 review_id=self.review_id)
        if not self.dry_run.isChecked():
            if result.files_changing and not self.confirm(
                    "Write sidecars", f"{result.headline()}.\nPolicy: {policy.describe()}.\nA backup of every "
                    "sidecar is kept; Undo Write restores them.", result.describe()):
                self.status.setText("Nothing written.")
                return None
            result = export_sidecars(summary, convention, policy=policy, store=self.store, review_id=self.review_id)
        folder = export_dir(self.review_id)
        csv_path = write_csv(summary, folder / "ratings.csv")
        write_keyword_list(summary, folder / "keywords.txt")
        text = f"{result.headline()}; CSV and keyword list in {csv_path.parent}"
        self.status.setText(text)
        self.refresh_undo()
        if self.dry_run.isChecked() or result.errors or result.skipped:
            self._show("Sidecars", text, result.describe())
        return result

    def undo_sidecars(self) -> None:
        if self.store is None or self.review_id is None:
            return
        result = undo_last_write(self.store, self.review_id)  # this review's write, not another's
        text = result.describe().splitlines()[0]
        self.status.setText(text)
        self.refresh_undo()
        if result.refused:
            self._show("Undo sidecar write", text, result.describe())
