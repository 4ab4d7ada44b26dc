"""``python -m training.train_lora``: train a LoRA adapter for an advisor and publish it as ``vN``.

    python -m training.train_lora --advisor ID [--model M] [--epochs 5] [--rank 8] [--alpha A]
        [--dropout 0.05] [--lr 5e-5] [--batch-size 1] [--grad-checkpoint] [--max-image-edge N]
        [--max-seq-length N] [--patience 2] [--seed 0] [--memory-limit-gb G] [--resume] [--no-activate]

Runs mlx-vlm's own ``Trainer`` on the advisor's dataset (``training.prepare_dataset``), one
``train()`` call per epoch, on the base model as it is stored: on the default 4-bit base that is
QLoRA. The loss is on the assistant turn only (``train_on_completions``): the model learns the
report, not the prompt. Progress is JSON lines on stdout (format: ``training/PROGRESS.md``);
everything else (mlx-vlm's own reports, warnings) goes to stderr.

Each epoch ends with the validation loss and a checkpoint (adapter + optimizer state) written to
``<data>/training/<advisor>/checkpoints/epoch-NNN``: built in a temp folder, then renamed, so a
checkpoint is complete or absent. Training stops early after ``--patience`` epochs without a
better validation loss; the best epoch is published. SIGINT/SIGTERM stop at the next step: the
unfinished epoch is dropped, the last checkpoint stays, and ``--resume`` continues from it (same
dataset, same settings). The version is published with ``adapter_versions.publish``: staged in a
hidden folder, then renamed into ``<data>/adapters/<advisor>/vN``, so a killed run never leaves a
new version behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from app.engine import atomic, paths
from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import ADAPTER_CONFIG, ADAPTER_WEIGHTS, AdapterManifest
from app.engine.advisors import AdvisorError, validate_advisor_id

from .common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    CommandError,
    JsonLines,
    run_main,
    setup,
)
from .dataset import TRAIN, VALIDATION, DatasetError, load_dataset

RUN_STATE = "run.json"
LOG_FILE = "training_log.jsonl"
OPTIMIZER_FILE = "optimizer.safetensors"
CHECKPOINT_STATE = "checkpoint.json"
NO_LIMIT_SEQ = 1 << 20  # "no truncation": padding follows the longest row in a batch, not this


@dataclass
class Hyper:
    """Everything that shapes the adapter; saved with the run and in the version's manifest."""

    epochs: int = 5
    rank: int = 8
    alpha: float | None = None  # default 2 x rank (mlx-vlm scale alpha/rank = 2)
    dropout: float = 0.05
    lr: float = 5e-5
    batch_size: int = 1
    grad_checkpoint: bool = False
    max_image_edge: int | None = None
    max_seq_length: int | None = None
    patience: int = 2
    min_delta: float = 0.0
    seed: int = 0
    target_modules: list[str] | None = None

    def __post_init__(self) -> None:
        if self.alpha is None:
            self.alpha = 2.0 * self.rank

    def validate(self) -> None:
        checks = [(self.epochs >= 1, "--epochs must be at least 1"), (self.rank >= 1, "--rank must be at least 1"),
                  (self.alpha is not None and self.alpha > 0, "--alpha must be positive"),
                  (0 <= self.dropout < 1, "--dropout must be in [0, 1)"),
                  (math.isfinite(self.lr) and self.lr > 0, "--lr must be a positive number"),
                  (self.batch_size >= 1, "--batch-size must be at least 1"),
                  (self.patience >= 1, "--patience must be at least 1"),
                  (self.max_image_edge is None or self.max_image_edge >= 28, "--max-image-edge must be at least 28"),
                  (self.max_seq_length is None or self.max_seq_length >= 2, "--max-seq-length must be at least 2")]
        for ok, message in checks:
            if not ok:
                raise CommandError(message)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hyper:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def run_dir(advisor_id: str) -> Path:
    """Where an unfinished run keeps its state, log and checkpoints."""
    return paths.data_dir() / "training" / validate_advisor_id(advisor_id)


@dataclass
class RunState:
    """The resumable state of a run (``run.json``), rewritten atomically after every epoch."""

    advisor_id: str
    model: str
    dataset_hash: str
    hyper: Hyper
    started: float = field(default_factory=time.time)
    completed_epochs: int = 0
    best_epoch: int | None = None
    best_val_loss: float | None = None
    bad_epochs: int = 0
    early_stopped: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    resumes: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hyper"] = asdict(self.hyper)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        data = dict(data)
        data["hyper"] = Hyper.from_dict(data.get("hyper", {}))
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def save(self, folder: Path) -> None:
        atomic.write_json(folder / RUN_STATE, self.to_dict())

    @classmethod
    def load(cls, folder: Path) -> RunState | None:
        file = folder / RUN_STATE
        if not file.is_file():
            return None
        try:
            return cls.from_dict(json.loads(file.read_text(encoding="utf-8")))
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: the saved run is unreadable ({exc}); start a new run without --resume") \
                from None


@contextlib.contextmanager
def advisor_lock(advisor_id: str) -> Iterator[None]:
    """One training run per advisor at a time (an OS file lock: it dies with the process)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    path = paths.data_dir() / "training" / f".{validate_advisor_id(advisor_id)}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="ascii") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise CommandError(f"another training run for advisor {advisor_id!r} is in progress (pid {holder})") \
                from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class StopRequested(Exception):
    """Raised from the progress callback at the first step after SIGINT/SIGTERM."""


class Signals:
    """SIGINT/SIGTERM set a flag (checked at every step) instead of killing the process mid-write."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.received is not None:  # a second signal: the user insists
            raise KeyboardInterrupt
        self.received = signum

    @contextlib.contextmanager
    def installed(self) -> Iterator[Signals]:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else ""

    @property
    def exit_code(self) -> int:
        return EXIT_SIGTERM if self.received == signal.SIGTERM else EXIT_SIGINT


class _ResizedRows:
    """Dataset rows with their images scaled to ``max_edge`` on access (``--max-image-edge``)."""

    def __init__(self, rows: Any, max_edge: int):
        self.rows, self.max_edge = rows, max_edge

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = dict(self.rows[index])
        images = []
        for image in row["images"]:
            if max(image.size) > self.max_edge:
                image = image.copy()
                image.thumbnail((self.max_edge, self.max_edge))
            images.append(image)
        row["images"] = images
        return row


def _progress_callback_class() -> type:
    from mlx_vlm.trainer import TrainingCallback

    class ProgressCallback(TrainingCallback):
        """Turns mlx-vlm's reports into ``step`` events and stops at the first step after a signal."""

        def __init__(self, out: JsonLines, signals: Signals, steps_per_epoch: int, epochs: int):
            self.out, self.signals = out, signals
            self.steps_per_epoch, self.epochs = steps_per_epoch, epochs
            self.epoch = 0
            self.losses: list[float] = []
            self.val_info: dict[str, Any] | None = None
            self.step_walls: list[float] = []
            self.step_times: list[float] = []
            self.tokens_per_s: list[float] = []
            self.peak_gb = 0.0
            self._last = time.perf_counter()
            self.val_seconds = 0.0

        def begin_epoch(self, epoch: int) -> None:
            self.epoch, self.losses, self.val_info = epoch, [], None
            self._last = time.perf_counter()

        def on_train_loss_report(self, info: dict) -> None:
            now = time.perf_counter()
            self.step_walls.append(now - self._last)
            self._last = now
            loss = float(info["train_loss"])
            self.losses.append(loss)
            self.step_times.append(float(info.get("step_time", 0.0)))
            tps = float(info.get("processed_tokens_per_second", info.get("tokens_per_second", 0.0)))
            self.tokens_per_s.append(tps)
            self.peak_gb = max(self.peak_gb, float(info.get("peak_memory", 0.0)))
            step = (self.epoch - 1) * self.steps_per_epoch + int(info["iteration"])
            total = self.epochs * self.steps_per_epoch
            recent = self.step_walls[-20:]
            eta = sum(recent) / len(recent) * (total - step) + self.val_seconds * (self.epochs - self.epoch + 1)
            self.out.emit("step", step=step, total_steps=total, epoch=self.epoch, epochs=self.epochs,
                          loss=loss, tokens_per_s=tps, step_time_s=self.step_times[-1],
                          peak_memory_gb=float(info.get("peak_memory", 0.0)),
                          learning_rate=float(info.get("learning_rate", 0.0)), eta_s=eta)
            if self.signals.received is not None:
                raise StopRequested

        def on_val_loss_report(self, info: dict) -> None:
            self.val_info = dict(info)
            self.val_seconds = float(info.get("val_time", 0.0))
            self._last = time.perf_counter()

    return ProgressCallback


def _enable_grad_checkpoint(model: Any) -> None:
    """Checkpoint every transformer layer class once (the engine would re-wrap on every train())."""
    from mlx_vlm.trainer import grad_checkpoint

    done: set[type] = set()
    for _, module in model.named_modules():
        for name in ("layers", "blocks"):
            stack = getattr(module, name, None)
            if isinstance(stack, (list, tuple)):
                for layer in stack:
                    if type(layer) not in done:
                        grad_checkpoint(layer)
                        done.add(type(layer))


def _save_optimizer(optimizer: Any, file: Path) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    state = {k: v for k, v in tree_flatten(optimizer.state) if isinstance(v, mx.array)}
    mx.save_safetensors(str(file), state)


def _load_optimizer(optimizer: Any, file: Path, model: Any) -> None:
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    optimizer.state = tree_unflatten(list(mx.load(str(file)).items()))
    optimizer.init(model.trainable_parameters())


def _quantized(model: Any) -> bool:
    import mlx.nn as nn

    return any(isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)) for _, m in model.named_modules())


def _image_token_count(sample: dict[str, Any], model: Any) -> int:
    config = model.config
    token = getattr(config, "image_token_id", None) or getattr(config, "image_token_index", None)
    if token is None:
        return 0
    import numpy as np

    return int(np.count_nonzero(np.asarray(sample["input_ids"]) == int(token)))


class Training:
    """One run: load, estimate, train epoch by epoch with checkpoints, publish."""

    def __init__(self, advisor_id: str, model_ref: str, hyper: Hyper, *, resume: bool, activate: bool,
                 memory_limit_gb: float | None, out: IO[str], epochs_given: bool):
        self.advisor_id = validate_advisor_id(advisor_id)
        self.model_ref = model_ref
        self.hyper = hyper
        self.resume = resume
        self.activate = activate
        self.memory_limit_gb = memory_limit_gb
        self.epochs_given = epochs_given
        self.folder = run_dir(advisor_id)
        self.checkpoints = self.folder / "checkpoints"
        self.signals = Signals()
        self.stream = out
        self.out = JsonLines(out)

    # ---- set-up -------------------------------------------------------------------------------
    def _open_run(self, dataset_hash: str) -> RunState:
        existing = RunState.load(self.folder) if self.folder.is_dir() else None
        if self.resume:
            if existing is None or existing.completed_epochs == 0:
                raise CommandError(f"no unfinished training run with a checkpoint for advisor {self.advisor_id!r} "
                                   f"to resume (in {self.folder}); start one without --resume")
            if existing.dataset_hash != dataset_hash:
                raise CommandError("the dataset changed since the run started (hash "
                                   f"{existing.dataset_hash[:12]} -> {dataset_hash[:12]}); start a new run "
                                   "without --resume")
            if self.model_ref and self.model_ref != existing.model:
                raise CommandError(f"the run was started on model {existing.model!r}, not {self.model_ref!r}")
            if self.epochs_given:
                existing.hyper.epochs = self.hyper.epochs
            existing.resumes += 1
            self.model_ref, self.hyper = existing.model, existing.hyper
            self._attach_log()
            return existing
        if existing is not None or self.folder.exists():
            shutil.rmtree(self.folder, ignore_errors=True)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self._attach_log()
        if existing is not None:
            self.out.emit("note", message=f"discarded the unfinished run started at {existing.started:.0f} "
                                          f"({existing.completed_epochs} epoch(s)); pass --resume to continue one")
        state = RunState(advisor_id=self.advisor_id, model=self.model_ref, dataset_hash=dataset_hash,
                         hyper=self.hyper)
        state.save(self.folder)
        return state

    def _attach_log(self) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        for stale in self.checkpoints.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        self._log = open(self.folder / LOG_FILE, "a", encoding="utf-8")  # noqa: SIM115 - closed in run()
        self.out = JsonLines(self.stream, self._log)

    # ---- the run ------------------------------------------------------------------------------
    def run(self) -> int:
        self._log: IO[str] | None = None
        with self.signals.installed():
            try:
                with advisor_lock(self.advisor_id):
                    return self._run()
            except CommandError as exc:
                self.out.emit("error", message=str(exc), code=exc.code)
                raise
            except Exception as exc:  # a bug or a library crash: tell the GUI, traceback to stderr
                self.out.emit("error", message=f"{type(exc).__name__}: {exc}", code=EXIT_ERROR)
                raise
            finally:
                if self._log is not None:
                    self._log.close()
                    self._log = None
                self.out = JsonLines(self.stream)

    def _stopped(self, state: RunState | None) -> int:
        last = state.completed_epochs if state else 0
        self.out.emit("stopped", signal=self.signals.name, last_checkpoint_epoch=last or None,
                      resumable=bool(last), message="stopped; the last checkpoint is kept: resume with --resume"
                      if last else "stopped before the first checkpoint; nothing to resume")
        return self.signals.exit_code

    def _run(self) -> int:
        adapter_versions.clean_stale_staging(self.advisor_id)
        try:
            data = load_dataset(self.advisor_id)
        except DatasetError as exc:
            raise CommandError(str(exc)) from None
        if not self.resume:  # check before _open_run replaces an unfinished run
            self._check(self.hyper, data)
        state = self._open_run(data.hash)
        hyper = self.hyper
        self._check(hyper, data)
        train_rows, val_rows = data.split(TRAIN), data.splits.get(VALIDATION)
        if val_rows is not None and len(val_rows) == 0:
            val_rows = None
        if hyper.max_image_edge:
            train_rows = _ResizedRows(train_rows, hyper.max_image_edge)
            val_rows = _ResizedRows(val_rows, hyper.max_image_edge) if val_rows is not None else None
        steps_per_epoch = len(train_rows) // hyper.batch_size
        self.out.emit("start", advisor_id=self.advisor_id, model=self.model_ref, dataset=str(data.path),
                      dataset_hash=data.hash, train_rows=len(train_rows), val_rows=len(val_rows or []),
                      epochs=hyper.epochs, steps_per_epoch=steps_per_epoch, start_epoch=state.completed_epochs + 1,
                      resumed=self.resume, hyperparameters=asdict(hyper))
        if self.signals.received:
            return self._stopped(state)
        if state.completed_epochs < hyper.epochs and not state.early_stopped:
            code = self._train(state, data, train_rows, val_rows, steps_per_epoch)
            if code != EXIT_OK:
                return code
        return self._publish(state, data)

    @staticmethod
    def _check(hyper: Hyper, data: Any) -> None:
        hyper.validate()
        rows = len(data.split(TRAIN))
        if rows < hyper.batch_size:
            raise CommandError(f"--batch-size {hyper.batch_size} is larger than the {rows} training rows")

    def _load_model(self, state: RunState) -> tuple[Any, Any]:
        import mlx.core as mx
        import mlx_vlm
        from mlx_vlm.trainer import prepare_model_for_training

        from app.engine.model.source import ModelNotAvailableError, resolve_model

        try:
            path = resolve_model(self.model_ref)
        except ModelNotAvailableError as exc:
            raise CommandError(str(exc)) from None
        start = time.perf_counter()
        model, processor = mlx_vlm.load(str(path), lazy=True)
        mx.random.seed(self.hyper.seed)  # the adapter's initial weights
        checkpoint = self.checkpoints / _epoch_name(state.completed_epochs) if state.completed_epochs else None
        prepare_model_for_training(model, train_type="lora", lora_rank=self.hyper.rank, lora_alpha=self.hyper.alpha,
                                   lora_dropout=self.hyper.dropout, target_modules=self.hyper.target_modules,
                                   checkpoint_path=checkpoint, verbose=False)
        self.out.emit("model_loaded", model=self.model_ref, path=str(path), seconds=time.perf_counter() - start,
                      quantized=_quantized(model), resumed_from=str(checkpoint) if checkpoint else None)
        return model, processor

    def _train(self, state: RunState, data: Any, train_rows: Any, val_rows: Any, steps_per_epoch: int) -> int:
        import mlx.optimizers as optim
        from mlx.utils import tree_flatten
        from mlx_vlm.trainer import Trainer, VLMTrainingArgs

        from .memory import available_memory_bytes, estimate

        hyper = self.hyper
        model, processor = self._load_model(state)
        args = VLMTrainingArgs(batch_size=hyper.batch_size, iters=steps_per_epoch, steps_per_report=1,
                               steps_per_eval=steps_per_epoch if val_rows is not None else None,
                               steps_per_save=steps_per_epoch + 1, val_batches=-1,
                               max_seq_length=hyper.max_seq_length or NO_LIMIT_SEQ, train_on_completions=True,
                               grad_checkpoint=False, adapter_file=str(self.checkpoints / ".unused.safetensors"))
        callback = _progress_callback_class()(self.out, self.signals, steps_per_epoch, hyper.epochs)
        optimizer = optim.Adam(learning_rate=hyper.lr)
        trainer = Trainer(model, args, train_dataset=train_rows, eval_dataset=val_rows, processing_class=processor,
                          optimizer=optimizer, training_callback=callback, seed=hyper.seed)
        # Lengths are cached by mlx-vlm's dataset wrapper, so measuring them here costs the trainer nothing.
        lengths = [trainer.train_dataset.itemlen(i) for i in range(len(train_rows))]
        if val_rows is not None:
            lengths += [trainer.eval_dataset.itemlen(i) for i in range(len(val_rows))]
        longest = max(lengths)
        if hyper.max_seq_length and longest > hyper.max_seq_length:
            raise CommandError(f"the longest example has {longest} tokens, over --max-seq-length "
                               f"{hyper.max_seq_length}: it would be cut (raise it or use a smaller --max-image-edge)")
        lora_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
        longest_train = max(range(len(train_rows)), key=lambda i: lengths[i])
        image_tokens = _image_token_count(trainer.train_dataset[longest_train], model)
        budget = int(self.memory_limit_gb * 1e9) if self.memory_limit_gb else available_memory_bytes()
        est = estimate(model, sequence_tokens=longest, image_tokens=image_tokens, batch_size=hyper.batch_size,
                       grad_checkpoint=hyper.grad_checkpoint, lora_parameters=lora_params, budget_bytes=budget)
        self.out.emit("memory_estimate", **est.to_dict(), trainable_parameters=lora_params)
        if not est.fits:
            self.out.emit("refused", reason="memory", message=(
                f"this configuration needs about {est.total_gb:.1f} GB but {est.budget_gb:.1f} GB is available "
                f"(90 % usable); {est.advice()}"), estimate=est.to_dict())
            return EXIT_REFUSED
        if hyper.grad_checkpoint:
            _enable_grad_checkpoint(model)
        if state.completed_epochs:
            _load_optimizer(optimizer, self.checkpoints / _epoch_name(state.completed_epochs) / OPTIMIZER_FILE, model)
        if self.signals.received:
            return self._stopped(state)
        self._trainer_args = asdict(args)
        for epoch in range(state.completed_epochs + 1, hyper.epochs + 1):
            tmp = self.checkpoints / f".tmp-{_epoch_name(epoch)}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            trainer.args.adapter_file = str(tmp / ADAPTER_WEIGHTS)
            trainer.seed = hyper.seed + epoch  # a fresh, reproducible shuffle per epoch (also after --resume)
            callback.begin_epoch(epoch)
            started = time.perf_counter()
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    trainer.train()
            except StopRequested:
                shutil.rmtree(tmp, ignore_errors=True)
                return self._stopped(state)
            self._finish_epoch(state, epoch, tmp, optimizer, callback, time.perf_counter() - started)
            if self.signals.received:
                return self._stopped(state)
            if state.early_stopped:
                break
        return EXIT_OK

    def _finish_epoch(self, state: RunState, epoch: int, tmp: Path, optimizer: Any, callback: Any,
                      seconds: float) -> None:
        hyper = self.hyper
        _save_optimizer(optimizer, tmp / OPTIMIZER_FILE)
        train_loss = sum(callback.losses) / max(len(callback.losses), 1)
        val_loss = float(callback.val_info["val_loss"]) if callback.val_info else None
        atomic.write_json(tmp / CHECKPOINT_STATE, {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        final = self.checkpoints / _epoch_name(epoch)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
        if val_loss is None:  # nothing held out: no early stopping, the last epoch is the result
            improved = True
            state.best_epoch, state.bad_epochs = epoch, 0
        else:
            improved = state.best_val_loss is None or val_loss < state.best_val_loss - hyper.min_delta
            if improved:
                state.best_epoch, state.best_val_loss, state.bad_epochs = epoch, val_loss, 0
            else:
                state.bad_epochs += 1
        state.completed_epochs = epoch
        state.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "seconds": seconds,
                              "steps": len(callback.losses),
                              "mean_step_time_s": sum(callback.step_times[-len(callback.losses):])
                              / max(len(callback.losses), 1),
                              "tokens_per_s": sum(callback.tokens_per_s[-len(callback.losses):])
                              / max(len(callback.losses), 1),
                              "peak_memory_gb": callback.peak_gb})
        if val_loss is not None and state.bad_epochs >= hyper.patience and epoch < hyper.epochs:
            state.early_stopped = True
        state.save(self.folder)
        for old in self.checkpoints.glob("epoch-*"):
            if old.name not in (_epoch_name(epoch), _epoch_name(state.best_epoch or epoch)):
                shutil.rmtree(old, ignore_errors=True)
        remaining = (hyper.epochs - epoch) * seconds if not state.early_stopped else 0.0
        self.out.emit("epoch", epoch=epoch, epochs=hyper.epochs, train_loss=train_loss, val_loss=val_loss,
                      best_epoch=state.best_epoch, best_val_loss=state.best_val_loss, improved=improved,
                      checkpoint=str(final), seconds=seconds, eta_s=remaining)
        if state.early_stopped:
            self.out.emit("early_stop", epoch=epoch, best_epoch=state.best_epoch, patience=hyper.patience,
                          message=f"no better validation loss for {hyper.patience} epoch(s)")

    # ---- publishing ---------------------------------------------------------------------------
    def _metrics(self, state: RunState, data: Any) -> dict[str, Any]:
        history = state.history
        steps = sum(h["steps"] for h in history)
        return {
            "best_epoch": state.best_epoch, "best_val_loss": state.best_val_loss,
            "final_train_loss": history[-1]["train_loss"] if history else None,
            "epochs_completed": state.completed_epochs, "early_stopped": state.early_stopped, "steps": steps,
            "train_seconds": sum(h["seconds"] for h in history),
            "mean_step_time_s": sum(h["mean_step_time_s"] * h["steps"] for h in history) / max(steps, 1),
            "tokens_per_s": sum(h["tokens_per_s"] * h["steps"] for h in history) / max(steps, 1),
            "peak_memory_gb": max((h["peak_memory_gb"] for h in history), default=0.0),
            "train_loss_by_epoch": [h["train_loss"] for h in history],
            "val_loss_by_epoch": [h["val_loss"] for h in history],
            "train_rows": len(data.split(TRAIN)), "val_rows": len(data.splits.get(VALIDATION, [])),
            "resumes": state.resumes,
        }

    def _publish(self, state: RunState, data: Any) -> int:
        import mlx
        import mlx_vlm

        best = self.checkpoints / _epoch_name(state.best_epoch or state.completed_epochs)
        if not (best / ADAPTER_WEIGHTS).is_file():
            raise CommandError(f"the best checkpoint {best} is missing; start a new run without --resume", 1)
        metrics = self._metrics(state, data)
        hyper = asdict(self.hyper) | {"optimizer": "adam", "train_on_completions": True,
                                      "lora_scale": (self.hyper.alpha or 0) / self.hyper.rank}
        staged = adapter_versions.staging_dir(self.advisor_id)
        try:
            for name in (ADAPTER_WEIGHTS, ADAPTER_CONFIG):
                shutil.copyfile(best / name, staged / name)
            atomic.write_json(staged / "training_args.json", {
                "advisor_id": self.advisor_id, "model": self.model_ref, "dataset": str(data.path),
                "dataset_hash": data.hash, "dataset_meta": {k: data.meta.get(k) for k in (
                    "seed", "val_fraction", "augment", "augment_options", "grounding", "max_image_edge", "counts",
                    "sources")},
                "hyperparameters": hyper, "mlx_vlm_training_args": getattr(self, "_trainer_args", None),
                "published_epoch": best.name, "mlx_vlm_version": mlx_vlm.__version__,
                "mlx_version": getattr(mlx.core, "__version__", ""), "started": state.started,
                "finished": time.time()})
            log = self.folder / LOG_FILE
            if self._log is not None:
                self._log.flush()
            if log.is_file():
                shutil.copyfile(log, staged / LOG_FILE)
            else:
                (staged / LOG_FILE).touch()
            manifest = AdapterManifest(advisor_id=self.advisor_id, version="", base_model=self.model_ref,
                                       dataset_hash=data.hash, hyperparameters=hyper, metrics=metrics)
            version = adapter_versions.publish(self.advisor_id, staged, manifest, activate=self.activate)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        self.out.emit("published", advisor_id=self.advisor_id, version=version.version, path=str(version.path),
                      active=self.activate, metrics=metrics)
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self.folder, ignore_errors=True)
        return EXIT_OK


def _epoch_name(epoch: int) -> str:
    return f"epoch-{epoch:03d}"


def build_parser() -> argparse.ArgumentParser:
    d = Hyper()
    p = argparse.ArgumentParser(prog="python -m training.train_lora",
                                description="Train a LoRA adapter for an advisor (JSON-lines progress on stdout).")
    p.add_argument("--advisor", required=True)
    p.add_argument("--model", help="base model: repo id or folder (default: settings.model)")
    p.add_argument("--epochs", type=int, default=None, help=f"passes over the training rows (default {d.epochs})")
    p.add_argument("--rank", type=int, default=d.rank, help=f"LoRA rank (default {d.rank})")
    p.add_argument("--alpha", type=float, default=None, help="LoRA alpha; scale = alpha/rank (default 2 x rank)")
    p.add_argument("--dropout", type=float, default=d.dropout, help=f"LoRA dropout (default {d.dropout})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr})")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--grad-checkpoint", action="store_true", help="recompute activations: less memory, slower")
    p.add_argument("--max-image-edge", type=int, help="scale training images down to this long edge")
    p.add_argument("--max-seq-length", type=int, help="refuse examples longer than this many tokens")
    p.add_argument("--patience", type=int, default=d.patience, help="early stop after N epochs without improvement")
    p.add_argument("--min-delta", type=float, default=d.min_delta, help="smallest val-loss drop that counts")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--target-modules", nargs="+", help="LoRA target layer names (default: mlx-vlm's choice)")
    p.add_argument("--memory-limit-gb", type=float, help="memory budget for the estimate (default: available)")
    p.add_argument("--resume", action="store_true", help="continue the unfinished run from its last checkpoint")
    p.add_argument("--no-activate", dest="activate", action="store_false", help="publish without activating")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args.verbose)
    out = sys.stdout
    from app.engine.settings import load_settings

    try:
        validate_advisor_id(args.advisor)
    except AdvisorError as exc:
        JsonLines(out).emit("error", message=str(exc), code=2)
        raise CommandError(str(exc)) from None
    model = args.model or ("" if args.resume else load_settings().model)
    hyper = Hyper(epochs=args.epochs or Hyper().epochs, rank=args.rank, alpha=args.alpha, dropout=args.dropout,
                  lr=args.lr, batch_size=args.batch_size, grad_checkpoint=args.grad_checkpoint,
                  max_image_edge=args.max_image_edge, max_seq_length=args.max_seq_length, patience=args.patience,
                  min_delta=args.min_delta, seed=args.seed, target_modules=args.target_modules)
    training = Training(args.advisor, model, hyper, resume=args.resume, activate=args.activate,
                        memory_limit_gb=args.memory_limit_gb, out=out, epochs_given=args.epochs is not None)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # library prints never reach the JSON-lines stream
            return training.run()
    except KeyboardInterrupt:
        training.out.emit("stopped", signal="SIGINT", message="interrupted twice; stopped at once")
        return EXIT_SIGINT


if __name__ == "__main__":
    sys.exit(run_main(main))
