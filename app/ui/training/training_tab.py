"""The Training tab: a personal advisor from a portfolio, trained as a LoRA adapter.

Create the advisor (name + persona), choose a portfolio folder, let the resident base model draft
a profile per photo (in the background), correct them in the table, pick hyperparameters (with
the memory estimate), then Train: the dataset, training and evaluation commands that training
builds run one after the other as separate processes, with progress, ETA, a live loss plot and
Cancel. Finally the versions table: evaluation base vs fine-tuned, Activate, Roll back.

The layout is in :mod:`~app.ui.training.training_controls` and :mod:`~app.ui.training.training_run_page`; each
background query (scan, drafts, memory) is a :class:`~app.ui.common.bridge.Request` of its own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QScrollArea, QTabWidget, QWidget

from app.engine.advisors import Advisor, AdvisorError, save_user_advisor, slugify, validate_advisor_id
from training import events as ev
from training.pipeline import (
    LEARN,
    TRAIN,
    evaluate_command,
    learn_command,
    resume_pipeline,
    training_pipeline,
)
from training.run_state import resumable

from ..common import ui_state
from ..common.bridge import InferenceBridge, Request
from ..common.qt_compat import emit, signals_blocked
from .profiles_view import ProfilesView
from .training_controls import TrainingControls
from .training_form import remember, remembered
from .training_portfolio import PortfolioWork
from .training_process import CommandRunner, Step
from .training_run_page import RunPage, fmt_eta
from .training_tasks import PortfolioPhoto
from .versions_view import VersionsView, eval_summary, read_eval

LAST_OUTCOME = "training/last_outcome"
ALREADY_RUNNING = "A training command is already running."

if TYPE_CHECKING:
    from app.engine.service import MondrianService
    from app.engine.store.database import Store

log = logging.getLogger(__name__)

__all__ = ["TRAIN", "TrainingTab", "fmt_eta"]
MIN_PROFILES = 2


class TrainingTab(QWidget):
    advisorsChanged = Signal(str)
    trainingFinished = Signal(str)  # a run ended well: what to announce
    runEnded = Signal(bool, str)  # any pipeline ended (ok, message): the window's quit waits for it

    def __init__(self, service: MondrianService, bridge: InferenceBridge, store: Store | None, *,
                 queries: InferenceBridge | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("page")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.service = service
        self.bridge = bridge
        self.queries = queries or bridge
        self.store = store
        self.runner = CommandRunner(self)
        self.new_version: str | None = None
        self.last_error = ""
        self._build()
        self.reload_advisors()
        self.runner.stepStarted.connect(self._step_started)
        self.runner.progressEvent.connect(self._on_event)
        self.runner.output.connect(lambda label, text: self.log.appendPlainText(text))
        self.runner.finished.connect(self._pipeline_finished)
        self._restore()
        self._update_resume()

    # ---- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QHBoxLayout(self)
        root.setContentsMargins(12, 10, 12, 10)
        c = self.controls = TrainingControls()
        self.advisor_combo, self.new_name, self.new_persona = c.advisor_combo, c.new_name, c.new_persona
        self.folder_edit, self.draft_button, self.portfolio_info = c.folder_edit, c.draft_button, c.portfolio_info
        self.form, self.activate, self.hosts = c.form, c.activate, c.hosts
        self.epochs, self.rank, self.lr = self.form["epochs"], self.form["rank"], self.form["lr"]
        self.batch, self.grad_checkpoint = self.form["batch_size"], self.form["grad_checkpoint"]
        self.eval_limit = self.form["eval_limit"]
        self.learn_steps, self.learn_method = c.learn_steps, c.learn_method
        self.memory_label, self.memory_button = c.memory_label, c.memory_button
        self.train_button, self.cancel_button, self.resume_button = c.train_button, c.cancel_button, c.resume_button
        self.progress, self.status, self.error_label = c.progress, c.status, c.error_label
        self.advisor_combo.currentIndexChanged.connect(self._advisor_changed)
        c.create_button.clicked.connect(self.create_advisor)
        self.folder_edit.editingFinished.connect(lambda: self.set_portfolio(self.folder_edit.text()))
        c.browse_button.clicked.connect(self._browse)
        self.draft_button.clicked.connect(self.draft_profiles)
        self.memory_button.clicked.connect(self.estimate_memory)
        self.hosts.problem.connect(self.show_error)
        self.train_button.clicked.connect(self.train)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)

        self.column = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(c)
        scroll.setFixedWidth(380)
        root.addWidget(scroll)

        self.tabs = QTabWidget()
        self.profiles = ProfilesView(self.store)
        self.profiles.problem.connect(self.show_error)
        self.profiles.edited.connect(lambda *_: self._update_portfolio_info())
        self.tabs.addTab(self.profiles, "Photos && profiles")
        self.run_page = RunPage()
        if ui_state.get_str(LAST_OUTCOME):  # a run stopped in an earlier session: say how it ended
            self.run_page.run_title.setText(ui_state.get_str(LAST_OUTCOME))
        self.run_title, self.eta_label = self.run_page.run_title, self.run_page.eta_label
        self.loss_plot, self.log = self.run_page.loss_plot, self.run_page.log
        self.tabs.addTab(self.run_page, "Training run")
        self.versions = VersionsView()
        self.versions.problem.connect(self.show_error)
        self.versions.changed.connect(lambda: emit(self.advisorsChanged, self.advisor_id() or ""))
        self.versions.evaluateRequested.connect(self.evaluate)
        self.tabs.addTab(self.versions, "Versions && evaluation")
        root.addWidget(self.tabs, 1)
        self.portfolio = PortfolioWork(self.service, self.store, self.bridge, self.queries, c, self.profiles,
                                       self.advisor_id, self)
        self.portfolio.problem.connect(self.show_error)
        self.portfolio.scanned.connect(lambda: self.tabs.setCurrentWidget(self.profiles))

    # ---- advisors -----------------------------------------------------------------------------
    def reload_advisors(self, select: str | None = None) -> None:
        current = select or self.advisor_id()
        ordered = sorted(self.service.advisors().values(), key=lambda a: (a.builtin, a.name.lower()))
        with signals_blocked(self.advisor_combo):
            self.advisor_combo.clear()
            for a in ordered:
                self.advisor_combo.addItem(a.name + ("" if a.builtin else "  (personal)"), a.id)
            self.advisor_combo.setCurrentIndex(max(0, self.advisor_combo.findData(current)))
        self._advisor_changed()

    def advisor_id(self) -> str | None:
        return self.advisor_combo.currentData() if hasattr(self, "advisor_combo") else None

    def set_advisor(self, advisor_id: str) -> None:
        self.advisor_combo.setCurrentIndex(self.advisor_combo.findData(advisor_id))

    def _advisor_changed(self) -> None:
        if not hasattr(self, "portfolio"):
            return  # still being built
        advisor_id = self.advisor_id()
        self.versions.set_advisor(advisor_id)
        self.profiles.set_photos(advisor_id, self.photos)
        self._update_portfolio_info()
        self._update_resume()

    def create_advisor(self) -> str | None:
        name = self.new_name.text().strip()
        persona = self.new_persona.toPlainText().strip()
        if not name:
            self.show_error("Give the new advisor a name.")
            return None
        advisor_id = slugify(name)
        try:
            validate_advisor_id(advisor_id)
            if advisor_id in self.service.advisors():
                raise AdvisorError(f"an advisor with the id {advisor_id!r} exists already; choose another name")
            save_user_advisor(Advisor(id=advisor_id, name=name, bio=persona))
        except (AdvisorError, OSError) as exc:
            self.show_error(str(exc))
            return None
        self._clear_error()
        self.new_name.clear()
        self.new_persona.clear()
        self.reload_advisors(select=advisor_id)
        self.status.setText(f"Created the personal advisor {name!r} ({advisor_id}).")
        emit(self.advisorsChanged, advisor_id)
        return advisor_id

    # ---- portfolio, drafts, memory (training_portfolio) ----------------------------------------------
    @property
    def photos(self) -> list[PortfolioPhoto]:
        return self.portfolio.photos

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the portfolio folder", self.folder_edit.text())
        if folder:
            self.set_portfolio(folder)

    def set_portfolio(self, folder: str) -> Request | None:
        self._clear_error()
        return self.portfolio.set_folder(folder)

    def draft_profiles(self) -> Request | None:
        self._clear_error()
        return self.portfolio.draft_profiles()

    def estimate_memory(self) -> Request:
        return self.portfolio.estimate_memory()

    def _update_portfolio_info(self) -> None:
        self.portfolio.update_info()

    # ---- training -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """A training, evaluation or host check process is running."""
        return self.runner.running

    def steps(self) -> list[Step]:
        """The pipeline training builds for these choices (``training.pipeline``)."""
        return training_pipeline(self.advisor_id() or "", self.folder_edit.text().strip(), self.service.settings.model,
                                 self.form.hyper(), self.form.options(), max_tokens=self.service.settings.max_tokens,
                                 activate=self.activate.isChecked(), hosts=self.hosts.selected())

    def train(self) -> bool:
        """Check the inputs, then run dataset -> training -> evaluation as separate processes."""
        self._clear_error()
        folder = self.folder_edit.text().strip()
        problem = (ALREADY_RUNNING if self.runner.running else
                   "Choose or create an advisor first." if not self.advisor_id() else
                   f"Choose the portfolio folder first{f' ({folder} is not a folder)' if folder else ''}."
                   if not folder or not Path(folder).is_dir() else None)
        c = self.profiles.counts()
        if problem is None and c["draft"] + c["edited"] < MIN_PROFILES:
            problem = f"At least {MIN_PROFILES} photos need a profile: press “Draft profiles”, then review them."
        if problem:
            self.show_error(problem)
            return False
        self._remember()
        self._start_run(self.steps(), "Training")
        return True

    def resume(self) -> bool:
        """Continue the cancelled run of this advisor from its last finished epoch, then evaluate."""
        self._clear_error()
        advisor = self.advisor_id() or ""
        if self.runner.running or resumable(advisor) is None:
            self.show_error("There is no cancelled training run of this advisor to resume.")
            self._update_resume()
            return False
        steps = resume_pipeline(advisor, self.form.options(), max_tokens=self.service.settings.max_tokens,
                                activate=self.activate.isChecked(), hosts=self.hosts.selected())
        self._start_run(steps, "Resuming")
        return True

    def _start_run(self, steps: list[Step], verb: str) -> None:
        self.new_version = None
        self.controls.show_progress(0.0)
        self.run_page.begin(f"{verb} {self.advisor_combo.currentText().replace('(personal)', '').strip()}")
        self.train_button.setEnabled(False)
        self.resume_button.hide()
        self.cancel_button.setEnabled(True)
        self.tabs.setCurrentWidget(self.run_page)
        self.runner.start(steps)

    def teach_from_review(self, advisor_id: str, review_id: str) -> bool:
        """"Teach my advisor from this shoot" (the Review view): ``training.learn`` on that review's
        culls, shown and cancellable here like any run."""
        self._clear_error()
        if self.runner.running:
            self.show_error(ALREADY_RUNNING)
            return False
        if self.advisor_combo.findData(advisor_id) < 0:
            self.reload_advisors()  # created since the tab listed them (another tab, the command line)
        if self.advisor_combo.findData(advisor_id) < 0:
            self.show_error(f"The review's advisor {advisor_id!r} no longer exists: it cannot be taught.")
            return False
        self.set_advisor(advisor_id)
        self._remember()
        self._start_run(self.teach_steps(advisor_id, review_id), "Teaching")
        return True

    def teach_steps(self, advisor_id: str, review_id: str) -> list[Step]:
        """The one ``training.learn`` command for these choices: steps and method from "Teaching from
        culls"; "Activate the new version when done" unticked is ``--activate never``, ticked leaves
        learn's own rule (only when it agrees with the culls better)."""
        return [learn_command(advisor_id, [review_id], self.service.settings.model,
                              method=self.learn_method.currentData(), steps=self.learn_steps.value(),
                              activate=None if self.activate.isChecked() else "never")]

    def evaluate(self, version: str) -> None:
        if self.runner.running:
            self.show_error(ALREADY_RUNNING)
            return
        self._clear_error()
        self.new_version = version
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.runner.start([evaluate_command(self.advisor_id() or "", version, self.form.options(),
                                            self.service.settings.max_tokens)])

    def cancel(self) -> None:
        if self.runner.running:
            self.status.setText("Stopping…")
            self.runner.stop()

    def _step_started(self, label: str) -> None:
        self.status.setText(f"{label}…")
        self.controls.show_progress(self.run_page.step_started(label))

    def _on_event(self, _label: str, e: ev.Event) -> None:
        shown = self.run_page.show_event(e)
        if shown.fraction is not None:
            self.controls.show_progress(shown.fraction)
        if shown.status is not None:
            self.status.setText(shown.status)
        if shown.memory is not None:
            self.memory_label.setText(shown.memory)
            self.memory_label.setToolTip("training's own estimate, from the loaded model and the longest example")
        if shown.version is not None:
            self.new_version = shown.version

    def _pipeline_finished(self, ok: bool, message: str) -> None:
        if self.last_error == ALREADY_RUNNING:  # said while it ran; no longer so
            self._clear_error()
        self.controls.show_idle()
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        advisor = self.advisor_id() or ""
        self.versions.refresh(select=self.new_version)
        emit(self.advisorsChanged, advisor)
        self._update_resume()
        if not ok:
            self._run_failed(advisor, message)
        else:
            self._run_done(advisor)
        emit(self.runEnded, ok, message)

    def _run_failed(self, advisor: str, message: str) -> None:
        lost_peer = any(isinstance(e, ev.Error) and e.reason == "peer_lost" for _, e in self.runner.events)
        if not (message.endswith(": stopped") or lost_peer):
            self.status.setText("Failed (the reason is below).")  # not the step's "Evaluating…" left standing
            self.show_error(message)
            return
        state = resumable(advisor)
        if message.startswith(LEARN):  # one process that publishes at its end: a stop keeps nothing
            text = "Teaching stopped: nothing was published. Teach Advisor in the Review view starts it again."
        elif state is not None:
            text = (f"Training cancelled after epoch {state.completed_epochs} of {state.hyper.epochs}. "
                    "Press Resume to continue from there.")
        else:
            text = "Training cancelled before the first epoch finished; there is nothing to resume."
        self.run_title.setText(text)
        ui_state.set_str(LAST_OUTCOME, f"Last run of {advisor}: {text}")
        if lost_peer:
            self.show_error(message)
        self.status.setText(text)
        self.log.appendPlainText("cancelled")

    def _run_done(self, advisor: str) -> None:
        summary = ""
        if self.new_version:
            try:
                from app.engine.adapters import versions as adapter_versions

                data = read_eval(adapter_versions.get_version(advisor, self.new_version))
                summary = eval_summary(data) if data else ""
            except Exception:  # the versions tab says what is missing
                log.debug("no evaluation summary for %s %s", advisor, self.new_version, exc_info=True)
                summary = ""
        name = self.advisor_combo.currentText().replace("(personal)", "").strip() or advisor
        text = f"{name} {self.new_version or ''} is ready." + (f" {summary}" if summary else "")
        ui_state.set_str(LAST_OUTCOME, f"Last run of {advisor}: finished, {self.new_version or 'no new version'}.")
        self.status.setText(text)
        self._reveal(self.status)
        self.eta_label.setText("Done.")
        self.tabs.setCurrentWidget(self.versions)
        emit(self.trainingFinished, text)

    def note_stop_at_quit(self) -> None:
        """Remember what "Stop Training and Quit" kept, for the tab to say at the next start."""
        done = self.run_page.epochs_done
        kept = (f"stopped at quit after epoch {done}; Resume continues from there." if done else
                "stopped at quit before its first epoch finished, so nothing of it was kept.")
        ui_state.set_str(LAST_OUTCOME, f"Last run of {self.advisor_id() or 'the advisor'}: {kept}")

    def _update_resume(self) -> None:
        can = not self.runner.running and resumable(self.advisor_id() or "") is not None
        self.resume_button.setVisible(can)

    def _remember(self) -> None:
        remember({"portfolio": self.folder_edit.text().strip(), "values": self.form.values(),
                  "activate": self.activate.isChecked(), "hosts": self.hosts.hosts_text(),
                  "several": self.hosts.enabled.isChecked(), "learn_steps": self.learn_steps.value(),
                  "learn_method": self.learn_method.currentData()}, self.service.settings)

    def _restore(self) -> None:
        state = remembered()
        self.form.set_values(state.get("values") or {})
        if isinstance(state.get("activate"), bool):
            self.activate.setChecked(state["activate"])
        self.hosts.restore(str(state.get("hosts") or ""), bool(state.get("several")))
        if isinstance(state.get("learn_steps"), int):
            self.learn_steps.setValue(state["learn_steps"])
        if self.learn_method.findData(state.get("learn_method")) >= 0:
            self.learn_method.setCurrentIndex(self.learn_method.findData(state.get("learn_method")))
        folder = state.get("portfolio")
        if isinstance(folder, str) and folder and Path(folder).is_dir():
            self.set_portfolio(folder)

    # ---- messages and lifecycle -------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.last_error = message
        self.error_label.setText(message)
        self.error_label.show()
        self._reveal(self.error_label)

    def _reveal(self, widget: QWidget) -> None:
        """Scroll the column so that ``widget`` (the status or error line at its foot) is in view: a
        run's outcome or message otherwise goes unseen below the fold."""
        QTimer.singleShot(0, self, lambda: self.column.ensureWidgetVisible(widget))

    def _clear_error(self) -> None:
        self.last_error = ""
        self.error_label.hide()

    def shutdown(self) -> None:
        """Stop a running training process cleanly (it keeps its last finished epoch, so the run can
        be resumed) before the app quits."""
        self.runner.stop(wait=True)
        self.hosts.runner.stop(wait=True)
