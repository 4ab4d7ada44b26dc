"""The Training tab's "Training run" page: what the run is doing, from training's own events.

:meth:`RunPage.show_event` turns one typed event (``training.events``) into the loss plot, the
ETA line and the log, and returns what the tab's progress bar and status line should say, so the
meaning of every event is written down once.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from training import events as ev
from training.pipeline import EVALUATE, PREPARE, TRAIN

from .loss_plot import LossPlot

STEP_START = {PREPARE: 0.0, TRAIN: 0.1, EVALUATE: 0.9}  # where each step of the pipeline begins on the bar


def fmt_eta(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "—"


def memory_text(total_gb: float, budget_gb: float | None, fits: bool) -> str:
    """One wording for the tab's estimate and training's own (they come from one estimator)."""
    budget = f" of {budget_gb:.0f} GB" if budget_gb else ""
    return f"Memory ≈ {total_gb:.2f} GB{budget}: {'fits' if fits else 'does NOT fit'}"


@dataclass
class Shown:
    """What one event changes outside the page (None: leave it)."""

    fraction: float | None = None
    status: str | None = None
    memory: str | None = None
    version: str | None = None


class RunPage(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.epochs_done = 0  # finished epochs of the run on screen (what a stop keeps)
        self.run_title = QLabel("No training run yet.")
        layout.addWidget(self.run_title)
        self.eta_label = QLabel("")
        self.eta_label.setObjectName("muted")
        layout.addWidget(self.eta_label)
        self.loss_plot = LossPlot()
        layout.addWidget(self.loss_plot, 2)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        layout.addWidget(self.log, 1)

    def begin(self, title: str) -> None:
        self.epochs_done = 0
        self.loss_plot.clear()
        self.log.clear()
        self.run_title.setText(title)

    def step_started(self, label: str) -> float:
        """Log the step; returns where it starts on the progress bar."""
        self.log.appendPlainText(f"── {label}")
        return STEP_START.get(label, 0.0)

    def show_event(self, e: ev.Event) -> Shown:
        if isinstance(e, ev.Step):
            total = e.total_steps or 1
            loss = e.loss if e.loss is not None else float("nan")
            self.loss_plot.add_step(e.step, loss, total)
            self.eta_label.setText(f"Step {e.step} of {total} · epoch {e.epoch}/{e.epochs} · loss {loss:.3f} · "
                                   f"{e.tokens_per_s:.0f} tok/s · ETA {fmt_eta(e.eta_s)}")
            return Shown(fraction=0.1 + 0.8 * e.step / total,
                         status=f"Training: step {e.step}/{total}, ETA {fmt_eta(e.eta_s)}")
        if isinstance(e, ev.Epoch):
            self.epochs_done = max(self.epochs_done, e.epoch)
            total = self.loss_plot.total_steps or e.epoch
            self.loss_plot.add_val(int(total * e.epoch / max(e.epochs, 1)), e.val_loss)
            self.log.appendPlainText(f"epoch {e.epoch}/{e.epochs}: train loss {fmt(e.train_loss)}, "
                                     f"validation loss {fmt(e.val_loss)}")
            return Shown()
        if isinstance(e, ev.Published):
            self.log.appendPlainText(f"published {e.version}" + (" (active)" if e.active else ""))
            return Shown(version=e.version)
        if isinstance(e, ev.Sample):
            total = e.total or 1
            done = 2 * e.index + (1 if e.model == "base" else 2)
            return Shown(fraction=0.9 + 0.1 * done / (2 * total),
                         status=f"Evaluating: photo {e.index + 1} of {total} ({e.model})")
        if isinstance(e, ev.MemoryEstimateEvent):
            self.log.appendPlainText(f"memory estimate {fmt(e.total_gb)} GB, budget {fmt(e.budget_gb)} GB")
            return Shown(memory=memory_text(e.total_gb, e.budget_gb, e.fits))
        self.log.appendPlainText(ev.describe(e))
        return Shown()
