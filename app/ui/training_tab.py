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
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
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
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.engine.advisors import Advisor, AdvisorError, save_user_advisor, slugify, validate_advisor_id

from .bridge import CANCELLED, InferenceBridge
from .loss_plot import LossPlot
from .operations import DraftSummary, MemoryInfo, PortfolioPhoto, draft_task, memory_task, scan_task
from .profiles_view import ProfilesView
from .qt_compat import emit
from .training_process import CommandRunner, Step
from .versions_view import VersionsView, eval_summary, read_eval

log = logging.getLogger(__name__)

PREPARE, TRAIN, EVALUATE = "Preparing the dataset", "Training", "Evaluating"
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
        self.runner.event.connect(self._on_event)
        self.runner.output.connect(lambda label, text: self.log.appendPlainText(text))
        self.runner.finished.connect(self._pipeline_finished)

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
        self.epochs = _spin(1, 100, 5)
        self.rank = _spin(1, 128, 8)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 1.0)
        self.lr.setSingleStep(1e-5)
        self.lr.setValue(5e-5)
        self.batch = _spin(1, 16, 1)
        self.dropout = QDoubleSpinBox()
        self.dropout.setRange(0.0, 0.9)
        self.dropout.setSingleStep(0.05)
        self.dropout.setValue(0.05)
        self.augment = _spin(0, 10, 0)
        self.val_fraction = QDoubleSpinBox()
        self.val_fraction.setRange(0.05, 0.5)
        self.val_fraction.setSingleStep(0.05)
        self.val_fraction.setValue(0.2)
        self.eval_limit = _spin(1, 500, 20)
        self.grad_checkpoint = QCheckBox("Gradient checkpointing (less memory, slower)")
        self.activate = QCheckBox("Activate the new version when done")
        self.activate.setChecked(True)
        form.addRow("Epochs", self.epochs)
        form.addRow("LoRA rank", self.rank)
        form.addRow("Learning rate", self.lr)
        form.addRow("Batch size", self.batch)
        form.addRow("Dropout", self.dropout)
        form.addRow("Augmented copies", self.augment)
        form.addRow("Held-out share", self.val_fraction)
        form.addRow("Evaluate on ≤", self.eval_limit)
        form.addRow(self.grad_checkpoint)
        form.addRow(self.activate)
        mem = QHBoxLayout()
        self.memory_label = QLabel("Memory: —")
        self.memory_label.setWordWrap(True)
        mem.addWidget(self.memory_label, 1)
        self.memory_button = QPushButton("Estimate")
        self.memory_button.clicked.connect(self.estimate_memory)
        mem.addWidget(self.memory_button)
        form.addRow(mem)
        for w in (self.rank, self.batch):
            w.valueChanged.connect(lambda *_: self.memory_label.setText("Memory: — (press Estimate)"))
        self.grad_checkpoint.toggled.connect(lambda *_: self.memory_label.setText("Memory: — (press Estimate)"))
        col.addWidget(box)

        buttons = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("primary")
        self.train_button.clicked.connect(self.train)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.train_button)
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
        self._memory_id = self.bridge.submit("memory", memory_task(
            self.service, rank=self.rank.value(), batch_size=self.batch.value(),
            grad_checkpoint=self.grad_checkpoint.isChecked()))
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
            self.photos = list(value)  # type: ignore[arg-type]
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
        advisor = self.advisor_id() or ""
        model = self.service.settings.model
        prepare = ["--advisor", advisor, "--portfolio", self.folder_edit.text().strip(), "--draft", "--model", model,
                   "--augment", str(self.augment.value()), "--val-fraction", f"{self.val_fraction.value():g}",
                   "--jsonl"]
        train = ["--advisor", advisor, "--model", model, "--epochs", str(self.epochs.value()),
                 "--rank", str(self.rank.value()), "--lr", f"{self.lr.value():g}",
                 "--batch-size", str(self.batch.value()), "--dropout", f"{self.dropout.value():g}"]
        if self.grad_checkpoint.isChecked():
            train.append("--grad-checkpoint")
        if not self.activate.isChecked():
            train.append("--no-activate")
        return [Step(PREPARE, "training.prepare_dataset", prepare),
                Step(TRAIN, "training.train_lora", train),
                Step(EVALUATE, "training.evaluate", self._eval_args(advisor, None))]

    def _eval_args(self, advisor: str, version: str | None) -> list[str]:
        args = ["--advisor", advisor, "--max-tokens", str(self.service.settings.max_tokens),
                "--limit", str(self.eval_limit.value()), "--jsonl"]
        return args + (["--version", version] if version else [])

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
        self.new_version = None
        self.loss_plot.clear()
        self.log.clear()
        self.progress.setValue(0)
        self.run_title.setText(f"Training {self.advisor_combo.currentText().replace('(personal)', '').strip()}")
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.tabs.setCurrentIndex(1)
        self.runner.start(self.steps())
        return True

    def evaluate(self, version: str) -> None:
        if self.runner.running:
            self.show_error("A training command is already running.")
            return
        self._clear_error()
        self.new_version = version
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.runner.start([Step(EVALUATE, "training.evaluate", self._eval_args(self.advisor_id() or "", version))])

    def cancel(self) -> None:
        if self.runner.running:
            self.status.setText("Stopping…")
            self.runner.stop()

    def _step_started(self, label: str) -> None:
        self.status.setText(f"{label}…")
        self.log.appendPlainText(f"── {label}")
        base = {PREPARE: 0.0, TRAIN: 0.1, EVALUATE: 0.9}.get(label, 0.0)
        self.progress.setValue(int(1000 * base))

    def _on_event(self, label: str, e: dict) -> None:
        kind = e.get("event")
        if kind == "step":
            step, total = int(e.get("step", 0)), int(e.get("total_steps", 0) or 1)
            self.loss_plot.add_step(step, float(e.get("loss", float("nan"))), total)
            self.progress.setValue(int(1000 * (0.1 + 0.8 * step / total)))
            self.eta_label.setText(f"Step {step} of {total} · epoch {e.get('epoch')}/{e.get('epochs')} · "
                                   f"loss {float(e.get('loss', 0)):.3f} · {float(e.get('tokens_per_s', 0)):.0f} tok/s · "
                                   f"ETA {fmt_eta(e.get('eta_s'))}")
            self.status.setText(f"Training: step {step}/{total}, ETA {fmt_eta(e.get('eta_s'))}")
        elif kind == "epoch":
            epoch, epochs = int(e.get("epoch", 0)), int(e.get("epochs", 1) or 1)
            total = self.loss_plot.total_steps or epoch
            self.loss_plot.add_val(int(total * epoch / epochs), e.get("val_loss"))
            self.log.appendPlainText(f"epoch {epoch}/{epochs}: train loss {_f(e.get('train_loss'))}, "
                                     f"validation loss {_f(e.get('val_loss'))}")
        elif kind == "published":
            self.new_version = str(e.get("version"))
            self.log.appendPlainText(f"published {self.new_version}" + (" (active)" if e.get("active") else ""))
            for step in self.runner._steps:  # evaluate exactly the version just made
                if step.label == EVALUATE:
                    step.args = self._eval_args(self.advisor_id() or "", self.new_version)
        elif kind == "sample":
            total, index = int(e.get("total", 1) or 1), int(e.get("index", 0))
            done = 2 * index + (1 if e.get("model") == "base" else 2)
            self.progress.setValue(int(1000 * (0.9 + 0.1 * done / (2 * total))))
            self.status.setText(f"Evaluating: photo {index + 1} of {total} ({e.get('model')})")
        elif kind == "memory_estimate":
            fits = "fits" if e.get("fits") else "does NOT fit"
            budget = e.get("budget_gb")
            self.memory_label.setText(f"Memory ≈ {float(e.get('total_gb') or 0):.2f} GB"
                                      + (f" of {float(budget):.0f} GB" if budget else "") + f": {fits}")
            self.memory_label.setToolTip("training's own estimate, from the loaded model and the longest example")
            self.log.appendPlainText(f"memory estimate {_f(e.get('total_gb'))} GB, budget {_f(e.get('budget_gb'))} GB")
        elif kind in ("drafted", "skipped", "saved", "note", "early_stop", "model_loaded", "start", "done",
                      "stopped", "error", "refused"):
            self.log.appendPlainText(_describe(e))

    def _pipeline_finished(self, ok: bool, message: str) -> None:
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        advisor = self.advisor_id() or ""
        self.versions.refresh(select=self.new_version)
        emit(self.advisorsChanged, advisor)
        if not ok:
            if message.endswith(": stopped"):
                self.status.setText("Training cancelled. The last checkpoint is kept (train again to resume).")
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


def _spin(low: int, high: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setAlignment(Qt.AlignmentFlag.AlignRight)
    return box


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "—"


def _describe(e: dict) -> str:
    kind = e.get("event")
    if kind == "drafted":
        return f"drafted {e.get('file')}"
    if kind == "skipped":
        return f"skipped {e.get('file')}: {e.get('reason')}"
    if kind == "saved":
        counts = e.get("counts") or {}
        return f"dataset saved: {counts.get('train', '?')} training rows, {counts.get('validation', '?')} held out"
    if kind == "done":
        return "evaluation written to " + str(e.get("path"))
    if kind == "start":
        return (f"training {e.get('advisor_id')}: {e.get('train_rows')} training rows, {e.get('val_rows')} held out, "
                f"{e.get('epochs')} epoch(s) × {e.get('steps_per_epoch')} steps")
    if kind == "model_loaded":
        return f"model loaded in {float(e.get('seconds') or 0):.1f} s" + (" (4-bit: QLoRA)" if e.get("quantized") else "")
    if kind in ("error", "refused", "note", "early_stop", "stopped"):
        return f"{kind}: {e.get('message') or e.get('reason') or ''}".rstrip(": ")
    return f"{kind}: " + ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("event", "time", "step_label"))
