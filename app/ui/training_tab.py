"""The Training tab: a personal advisor from a portfolio, trained as a LoRA adapter.

Create the advisor (name + persona), choose a portfolio folder, let the resident base model draft
a profile per photo (in the background), correct them in the table, pick hyperparameters (with
the memory estimate), then Train: the dataset, training and evaluation commands run one after the
other as separate processes (``python -m training.*`` via QProcess), with progress, ETA and a live
loss plot, and Cancel. Finally the versions table: evaluation base vs fine-tuned, Activate, Roll back.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.engine.advisors import Advisor, AdvisorError, save_user_advisor, slugify, validate_advisor_id
from training import events as ev
from training.events import describe
from training.pipeline import EVALUATE, PREPARE, TRAIN, evaluate_command, resume_pipeline, training_pipeline
from training.run_state import resumable

from .bridge import CANCELLED, InferenceBridge
from .loss_plot import LossPlot
from .operations import DraftSummary, MemoryInfo, PortfolioPhoto, draft_task, memory_task, scan_task
from .profiles_view import ProfilesView
from .qt_compat import emit
from .training_form import HyperForm, remember, remembered
from .training_hosts import HostsPanel
from .training_process import CommandRunner, Step
from .versions_view import VersionsView, eval_summary, read_eval

log = logging.getLogger(__name__)

__all__ = ["TRAIN", "TrainingTab"]
MIN_PROFILES = 2


def fmt_eta(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class TrainingTab(QWidget):
    advisorsChanged = Signal(str)
    trainingFinished = Signal(str)

    def __init__(self, service: Any, bridge: InferenceBridge, store: Any, *,
                 queries: InferenceBridge | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("page")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.service = service
        self.bridge = bridge
        self.queries = queries or bridge
        self.store = store
        self.runner = CommandRunner(self)
        self.photos: list[PortfolioPhoto] = []
        self._scan_id: str | None = None
        self._draft_id: str | None = None
        self._memory_id: str | None = None
        self.new_version: str | None = None
        self.last_error = ""
        self._build()
        self.reload_advisors()
        for b in {id(self.bridge): self.bridge, id(self.queries): self.queries}.values():
            b.progress.connect(self._on_task_progress)
            b.result.connect(self._on_task_result)
            b.failed.connect(self._on_task_failed)
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
        left = QWidget()
        col = QVBoxLayout(left)
        col.setContentsMargins(0, 0, 8, 0)

        box = QGroupBox("Advisor")
        form = QFormLayout(box)
        self.advisor_combo = QComboBox()
        self.advisor_combo.currentIndexChanged.connect(self._advisor_changed)
        form.addRow("Train", self.advisor_combo)
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("e.g. My street style")
        form.addRow("New name", self.new_name)
        self.new_persona = QPlainTextEdit()
        self.new_persona.setPlaceholderText("Persona: how this advisor sees photos, what they care about…")
        self.new_persona.setFixedHeight(70)
        form.addRow("Persona", self.new_persona)
        self.create_button = QPushButton("Create personal advisor")
        self.create_button.clicked.connect(self.create_advisor)
        form.addRow(self.create_button)
        col.addWidget(box)

        box = QGroupBox("Portfolio")
        form = QFormLayout(box)
        row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("a folder of your own photos")
        self.folder_edit.editingFinished.connect(lambda: self.set_portfolio(self.folder_edit.text()))
        row.addWidget(self.folder_edit)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(browse)
        form.addRow(row)
        self.draft_button = QPushButton("Draft profiles with the base model")
        self.draft_button.clicked.connect(self.draft_profiles)
        form.addRow(self.draft_button)
        self.portfolio_info = QLabel("No portfolio yet.")
        self.portfolio_info.setObjectName("muted")
        self.portfolio_info.setWordWrap(True)
        form.addRow(self.portfolio_info)
        col.addWidget(box)

        box = QGroupBox("Hyperparameters")
        form = QFormLayout(box)
        self.form = HyperForm(form, box)
        self.epochs, self.rank, self.lr = self.form["epochs"], self.form["rank"], self.form["lr"]
        self.batch, self.grad_checkpoint = self.form["batch_size"], self.form["grad_checkpoint"]
        self.eval_limit = self.form["eval_limit"]
        self.activate = QCheckBox("Activate the new version when done")
        self.activate.setChecked(True)
        form.addRow(self.activate)
        mem = QHBoxLayout()
        self.memory_label = QLabel("Memory: —")
        self.memory_label.setWordWrap(True)
        mem.addWidget(self.memory_label, 1)
        self.memory_button = QPushButton("Estimate")
        self.memory_button.clicked.connect(self.estimate_memory)
        mem.addWidget(self.memory_button)
        form.addRow(mem)
        for name in ("rank", "batch_size"):
            self.form[name].valueChanged.connect(lambda *_: self.memory_label.setText("Memory: — (press Estimate)"))
        self.grad_checkpoint.toggled.connect(lambda *_: self.memory_label.setText("Memory: — (press Estimate)"))
        col.addWidget(box)
        self.hosts = HostsPanel(self)
        self.hosts.problem.connect(self.show_error)
        col.addWidget(self.hosts)

        buttons = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("primary")
        self.train_button.clicked.connect(self.train)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("continue the cancelled run from its last finished epoch")
        self.resume_button.clicked.connect(self.resume)
        self.resume_button.hide()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.cancel_button)
        col.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        col.addWidget(self.progress)
        self.status = QLabel("Ready.")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        col.addWidget(self.status)
        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        col.addWidget(self.error_label)
        col.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(left)
        scroll.setFixedWidth(380)
        root.addWidget(scroll)

        self.tabs = QTabWidget()
        self.profiles = ProfilesView(self.store)
        self.profiles.problem.connect(self.show_error)
        self.profiles.edited.connect(lambda *_: self._update_portfolio_info())
        self.tabs.addTab(self.profiles, "Photos && profiles")
        run = QWidget()
        run_layout = QVBoxLayout(run)
        self.run_title = QLabel("No training run yet.")
        run_layout.addWidget(self.run_title)
        self.eta_label = QLabel("")
        self.eta_label.setObjectName("muted")
        run_layout.addWidget(self.eta_label)
        self.loss_plot = LossPlot()
        run_layout.addWidget(self.loss_plot, 2)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        run_layout.addWidget(self.log, 1)
        self.tabs.addTab(run, "Training run")
        self.versions = VersionsView()
        self.versions.problem.connect(self.show_error)
        self.versions.changed.connect(lambda: emit(self.advisorsChanged, self.advisor_id() or ""))
        self.versions.evaluateRequested.connect(self.evaluate)
        self.tabs.addTab(self.versions, "Versions && evaluation")
        root.addWidget(self.tabs, 1)

    # ---- advisors -----------------------------------------------------------------------------
    def reload_advisors(self, select: str | None = None) -> None:
        current = select or self.advisor_id()
        advisors = self.service.advisors()
        ordered = sorted(advisors.values(), key=lambda a: (a.builtin, a.name.lower()))
        self.advisor_combo.blockSignals(True)
        self.advisor_combo.clear()
        for a in ordered:
            self.advisor_combo.addItem(a.name + ("" if a.builtin else "  (personal)"), a.id)
        index = self.advisor_combo.findData(current)
        self.advisor_combo.setCurrentIndex(max(0, index))
        self.advisor_combo.blockSignals(False)
        self._advisor_changed()

    def advisor_id(self) -> str | None:
        return self.advisor_combo.currentData() if hasattr(self, "advisor_combo") else None

    def set_advisor(self, advisor_id: str) -> None:
        self.advisor_combo.setCurrentIndex(self.advisor_combo.findData(advisor_id))

    def _advisor_changed(self) -> None:
        advisor_id = self.advisor_id()
        self.versions.set_advisor(advisor_id)
        self.profiles.set_photos(advisor_id, self.photos)
        self._update_portfolio_info()
        if hasattr(self, "resume_button"):
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

    # ---- portfolio and drafts -------------------------------------------------------------------
    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the portfolio folder", self.folder_edit.text())
        if folder:
            self.set_portfolio(folder)

    def set_portfolio(self, folder: str) -> str | None:
        folder = folder.strip()
        if not folder:
            return None
        self.folder_edit.setText(folder)
        self._clear_error()
        if self._scan_id is not None:
            self.queries.cancel(self._scan_id)
        self.status.setText(f"Reading {folder}…")
        self._scan_id = self.queries.submit("scan", scan_task(folder))
        return self._scan_id

    def draft_profiles(self) -> str | None:
        advisor_id = self.advisor_id()
        if not advisor_id or not self.photos:
            self.show_error("Choose an advisor and a portfolio folder first.")
            return None
        self._clear_error()
        usable = [p.path for p in self.photos if not p.problem]
        self.draft_button.setEnabled(False)
        self.status.setText(f"Drafting profiles for {len(usable)} photo(s) with the base model…")
        self.progress.setValue(0)
        self._draft_id = self.bridge.submit("draft", draft_task(self.service, self.store, advisor_id, usable))
        return self._draft_id

    def _update_portfolio_info(self) -> None:
        if not self.photos:
            self.portfolio_info.setText("No portfolio yet.")
            return
        c = self.profiles.counts()
        bad = sum(1 for p in self.photos if p.problem)
        text = f"{c['photos']} photos · {c['draft']} drafts · {c['edited']} edited · {c['none']} without a profile"
        if bad:
            text += f" · {bad} unreadable"
        self.portfolio_info.setText(text)

    def estimate_memory(self) -> str:
        self.memory_label.setText("Memory: estimating…")
        hosts = self.hosts.selected()
        self._memory_id = self.bridge.submit("memory", memory_task(
            self.service, self.form.hyper(), advisor_id=self.advisor_id(), world_size=len(hosts) if hosts else 1))
        return self._memory_id

    def _on_task_progress(self, rid: str, message: str, fraction: float) -> None:
        if rid in (self._draft_id, self._scan_id):
            self.status.setText(message)
            if fraction >= 0:
                self.progress.setValue(int(1000 * fraction))
            if rid == self._draft_id and message.startswith("Drafted"):
                self.profiles.reload()
                self._update_portfolio_info()

    def _on_task_result(self, rid: str, value: object) -> None:
        if rid == self._scan_id:
            self._scan_id = None
            self.photos = list(cast(list[PortfolioPhoto], value))
            self.profiles.set_photos(self.advisor_id(), self.photos)
            self._update_portfolio_info()
            self.status.setText(f"{len(self.photos)} photo(s) in the portfolio.")
            self.tabs.setCurrentWidget(self.profiles)
        elif rid == self._draft_id and isinstance(value, DraftSummary):
            self._draft_id = None
            self.draft_button.setEnabled(True)
            self.progress.setValue(1000)
            self.profiles.reload()
            self._update_portfolio_info()
            text = f"Drafted {len(value.drafted)} profile(s); kept {value.kept} existing."
            if value.skipped:
                text += " Skipped: " + "; ".join(f"{f} ({why})" for f, why in value.skipped[:5])
            self.status.setText(text + " Review and correct them in the table.")
        elif rid == self._memory_id and isinstance(value, MemoryInfo):
            self._memory_id = None
            budget = f" of {value.budget_gb:.0f} GB" if value.budget_gb else ""
            mark = "fits" if value.fits else "does NOT fit"
            self.memory_label.setText(f"Memory ≈ {value.total_gb:.2f} GB{budget}: {mark}")
            self.memory_label.setToolTip(value.detail)

    def _on_task_failed(self, rid: str, message: str) -> None:
        if rid not in (self._scan_id, self._draft_id, self._memory_id):
            return
        if rid == self._draft_id:
            self.draft_button.setEnabled(True)
            self._draft_id = None
        elif rid == self._scan_id:
            self._scan_id = None
        else:
            self._memory_id = None
            self.memory_label.setText("Memory: —")
        if message != CANCELLED:
            self.show_error(message)
        else:
            self.status.setText("Cancelled.")

    # ---- training -----------------------------------------------------------------------------
    def steps(self) -> list[Step]:
        """The pipeline training builds for these choices (``training.pipeline``)."""
        return training_pipeline(self.advisor_id() or "", self.folder_edit.text().strip(), self.service.settings.model,
                                 self.form.hyper(), self.form.options(), max_tokens=self.service.settings.max_tokens,
                                 activate=self.activate.isChecked(), hosts=self.hosts.selected())

    def train(self) -> bool:
        """Check the inputs, then run dataset -> training -> evaluation as separate processes."""
        self._clear_error()
        if self.runner.running:
            self.show_error("A training command is already running.")
            return False
        if not self.advisor_id():
            self.show_error("Choose or create an advisor first.")
            return False
        folder = self.folder_edit.text().strip()
        if not folder or not Path(folder).is_dir():
            self.show_error(f"Choose the portfolio folder first{f' ({folder} is not a folder)' if folder else ''}.")
            return False
        c = self.profiles.counts()
        if c["draft"] + c["edited"] < MIN_PROFILES:
            self.show_error(f"At least {MIN_PROFILES} photos need a profile: press “Draft profiles”, then review them.")
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
        self.loss_plot.clear()
        self.log.clear()
        self.progress.setValue(0)
        self.run_title.setText(f"{verb} {self.advisor_combo.currentText().replace('(personal)', '').strip()}")
        self.train_button.setEnabled(False)
        self.resume_button.hide()
        self.cancel_button.setEnabled(True)
        self.tabs.setCurrentIndex(1)
        self.runner.start(steps)

    def evaluate(self, version: str) -> None:
        if self.runner.running:
            self.show_error("A training command is already running.")
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
        self.log.appendPlainText(f"── {label}")
        base = {PREPARE: 0.0, TRAIN: 0.1, EVALUATE: 0.9}.get(label, 0.0)
        self.progress.setValue(int(1000 * base))

    def _on_event(self, label: str, e: ev.Event) -> None:
        if isinstance(e, ev.Step):
            total = e.total_steps or 1
            loss = e.loss if e.loss is not None else float("nan")
            self.loss_plot.add_step(e.step, loss, total)
            self.progress.setValue(int(1000 * (0.1 + 0.8 * e.step / total)))
            self.eta_label.setText(f"Step {e.step} of {total} · epoch {e.epoch}/{e.epochs} · loss {loss:.3f} · "
                                   f"{e.tokens_per_s:.0f} tok/s · ETA {fmt_eta(e.eta_s)}")
            self.status.setText(f"Training: step {e.step}/{total}, ETA {fmt_eta(e.eta_s)}")
        elif isinstance(e, ev.Epoch):
            total = self.loss_plot.total_steps or e.epoch
            self.loss_plot.add_val(int(total * e.epoch / max(e.epochs, 1)), e.val_loss)
            self.log.appendPlainText(f"epoch {e.epoch}/{e.epochs}: train loss {_f(e.train_loss)}, "
                                     f"validation loss {_f(e.val_loss)}")
        elif isinstance(e, ev.Published):
            self.new_version = e.version
            self.log.appendPlainText(f"published {e.version}" + (" (active)" if e.active else ""))
        elif isinstance(e, ev.Sample):
            total = e.total or 1
            done = 2 * e.index + (1 if e.model == "base" else 2)
            self.progress.setValue(int(1000 * (0.9 + 0.1 * done / (2 * total))))
            self.status.setText(f"Evaluating: photo {e.index + 1} of {total} ({e.model})")
        elif isinstance(e, ev.MemoryEstimateEvent):
            fits = "fits" if e.fits else "does NOT fit"
            self.memory_label.setText(f"Memory ≈ {e.total_gb:.2f} GB"
                                      + (f" of {e.budget_gb:.0f} GB" if e.budget_gb else "") + f": {fits}")
            self.memory_label.setToolTip("training's own estimate, from the loaded model and the longest example")
            self.log.appendPlainText(f"memory estimate {_f(e.total_gb)} GB, budget {_f(e.budget_gb)} GB")
        else:
            self.log.appendPlainText(describe(e))

    def _pipeline_finished(self, ok: bool, message: str) -> None:
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        advisor = self.advisor_id() or ""
        self.versions.refresh(select=self.new_version)
        emit(self.advisorsChanged, advisor)
        self._update_resume()
        if not ok:
            state = resumable(advisor)
            if message.endswith(": stopped") or self._lost_peer():
                if state is not None:
                    text = (f"Training cancelled after epoch {state.completed_epochs} of {state.hyper.epochs}. "
                            "Press Resume to continue from there.")
                else:
                    text = "Training cancelled before the first epoch finished; there is nothing to resume."
                if self._lost_peer():
                    self.show_error(message)
                self.status.setText(text)
                self.log.appendPlainText("cancelled")
            else:
                self.show_error(message)
            return
        self.progress.setValue(1000)
        summary = ""
        if self.new_version:
            try:
                from app.engine.adapters import versions as adapter_versions

                data = read_eval(adapter_versions.get_version(advisor, self.new_version))
                summary = eval_summary(data) if data else ""
            except Exception:  # noqa: BLE001 - the versions tab says what is missing
                summary = ""
        text = f"{advisor} {self.new_version or ''} is ready." + (f" {summary}" if summary else "")
        self.status.setText(text)
        self.eta_label.setText("Done.")
        self.tabs.setCurrentWidget(self.versions)
        emit(self.trainingFinished, text)

    def _lost_peer(self) -> bool:
        return any(isinstance(e, ev.Error) and e.reason == "peer_lost" for _, e in self.runner.events)

    def _update_resume(self) -> None:
        can = not self.runner.running and resumable(self.advisor_id() or "") is not None
        self.resume_button.setVisible(can)

    def _remember(self) -> None:
        remember({"portfolio": self.folder_edit.text().strip(), "values": self.form.values(),
                  "activate": self.activate.isChecked(), "hosts": self.hosts.hosts_text(),
                  "several": self.hosts.enabled.isChecked()}, self.service.settings)

    def _restore(self) -> None:
        state = remembered()
        self.form.set_values(state.get("values") or {})
        if isinstance(state.get("activate"), bool):
            self.activate.setChecked(state["activate"])
        self.hosts.restore(str(state.get("hosts") or ""), bool(state.get("several")))
        folder = state.get("portfolio")
        if isinstance(folder, str) and folder and Path(folder).is_dir():
            self.set_portfolio(folder)

    # ---- messages and lifecycle -------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.last_error = message
        self.error_label.setText(message)
        self.error_label.show()

    def _clear_error(self) -> None:
        self.last_error = ""
        self.error_label.hide()

    def shutdown(self) -> None:
        """Stop a running training process (it keeps its last checkpoint) before the app quits."""
        self.runner.stop(wait=True)
        self.hosts.runner.stop(wait=True)


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "—"
