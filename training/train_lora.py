"""``mondrian train lora``: train a LoRA adapter for an advisor and publish it as ``vN``.

    mondrian train lora --advisor ID [--model M] [--epochs 5] [--rank 8] [--lr 5e-5]
        [--batch-size 1] [--grad-checkpoint] [--config FILE] [--resume] [--no-activate] ...

(every hyperparameter flag: ``training/hyper.py`` or ``--help``). Runs mlx-vlm's own ``Trainer``
on the advisor's dataset, one ``train()`` call per epoch, on the base model as stored (on the
default 4-bit base: QLoRA), loss on the assistant turn only. Progress is JSON lines on stdout
(``training/events.py``, ``training/PROGRESS.md``); everything else goes to stderr.

The same command runs under ``mlx.launch`` on several Macs (``training.distributed`` starts it):
mlx-vlm's trainer gives each process its share of every global batch and averages the
gradients; rank 0 alone prints, keeps the run's state and checkpoints, and publishes; the others
receive state and starting weights from it (``training.world``). Each epoch ends with the
validation loss and a checkpoint in ``<data>/training/<advisor>/checkpoints/epoch-NNN`` (temp
folder + rename). Early stopping after ``--patience`` epochs without a better validation loss.
SIGINT/SIGTERM (or the stop file of a multi-Mac run) stop every process at the same step; the
last checkpoint stays and ``--resume`` continues from it. A lost process ends the others with a
clear error and nothing published.

This module is the ``Training`` run's state machine (open or resume, agree across processes, train
each epoch, stop, publish); the parts that stand alone live beside it: preflight (checks before the
first step), epoch_end (checkpoint and early stopping), run_state, stopping, trainer_support,
publish, world, diskspace.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from app.engine import paths
from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import ADAPTER_WEIGHTS
from app.engine.advisors import AdvisorError, validate_advisor_id

from . import diskspace
from . import hyper as hyperparams
from .common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PEER_LOST,
    EXIT_REFUSED,
    EXIT_SIGINT,
    CommandError,
    JsonLines,
    reported,
    run_main,
    setup,
)
from .console import progress_stream, quiet_library
from .dataset import TRAIN, VALIDATION, DatasetError, load_dataset
from .epoch_end import finish_epoch
from .hyper import Hyper, HyperError
from .preflight import check_batches, check_resumable, fits_in_memory
from .publish import Finished, finish_interrupted, publish_bytes, publish_run
from .run_state import (
    LOG_FILE,
    OPTIMIZER_FILE,
    STOP_FILE,
    RunState,
    advisor_lock,
    clean_finished_runs,
    discard_run,
    epoch_name,
    run_dir,
)
from .stopping import Signals, StopRequested
from .trainer_support import (
    ResizedRows,
    enable_grad_checkpoint,
    load_for_training,
    load_optimizer,
    progress_callback_class,
    stop_at_step,
)
from .world import PeerLost, World, peer_errors

NO_LIMIT_SEQ = 1 << 20  # "no truncation": padding follows the longest row in a batch, not this
EVENT_BYTES = 512  # one JSON-lines event in training_log.jsonl, generously
SMALL_FILES = 64 << 10  # run.json, checkpoint.json, adapter_config.json, training_args.json


class Training:
    """One run: load, estimate, train epoch by epoch with checkpoints, publish (rank 0)."""

    def __init__(self, advisor_id: str, model_ref: str, hyper: Hyper, *, resume: bool, activate: bool,
                 memory_limit_gb: float | None, out: IO[str], epochs_given: bool, world: World | None = None):
        self.advisor_id = validate_advisor_id(advisor_id)
        self.model_ref = model_ref
        self.hyper = hyper
        self.resume = resume
        self.activate = activate
        self.memory_limit_gb = memory_limit_gb
        self.epochs_given = epochs_given
        self.world = world or World(group=None, rank=0, size=1)
        self.folder = run_dir(advisor_id)
        self.checkpoints = self.folder / "checkpoints"
        self.signals = Signals()
        self.stream: IO[str] | None = out if self.world.leader else None  # only rank 0 speaks
        self.out = JsonLines(self.stream)
        self._log: IO[str] | None = None
        self._trainer_args: dict[str, Any] | None = None
        # Where the run is writing now, what, and about how much: named when the disk refuses it.
        self._writing: tuple[Path, int, str] = (self.folder, SMALL_FILES, "the training run's state")
        self._weights_bytes = 0  # the adapter's trainable tensors, once the model is loaded

    # ---- the run ------------------------------------------------------------------------------
    def run(self) -> int:
        with self.signals.installed():
            try:
                lock = advisor_lock(self.advisor_id) if self.world.leader else contextlib.nullcontext()
                with lock:
                    return self._run()
            except CommandError as exc:
                self._say_error(str(exc), exc.code, exc.reason)
                raise
            except PeerLost as exc:
                self._say_error(f"a training process of this run was lost ({exc}): the run stopped and nothing "
                                f"was published; {self._resume_hint()}", EXIT_PEER_LOST, reason="peer_lost")
                return EXIT_PEER_LOST
            except Exception as exc:  # a full/read-only disk: one line; else a bug or a library crash
                disk = diskspace.as_disk_error(exc, *self._writing)
                if disk is not None:
                    self._say_error(str(disk), disk.code, reason="disk")
                    raise disk from None
                self._say_error(f"{type(exc).__name__}: {exc}", EXIT_ERROR)
                raise
            finally:
                self._close_log()
                self.out = JsonLines(self.stream)

    def _close_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):  # a full disk already said so
                self._log.close()
            self._log = None

    def _say_error(self, message: str, code: int, reason: str = "") -> None:
        self.out.emit_error(message, code, reason)
        if not self.world.leader:
            print(f"error: process {self.world.rank}: {message}", file=sys.stderr, flush=True)

    def _resume_hint(self) -> str:
        state = RunState.load(self.folder) if self.world.leader and self.folder.is_dir() else None
        if state is not None and state.completed_epochs:
            return f"epoch {state.completed_epochs}'s checkpoint is kept: resume to continue from it"
        return "no epoch had finished, so there is nothing to resume"

    def _stopped(self, state: RunState | None) -> int:
        last = state.completed_epochs if state else 0
        self.out.emit("stopped", signal=self.signals.name or "stop-request", last_checkpoint_epoch=last or None,
                      resumable=bool(last), message="stopped; the last checkpoint is kept: resume with --resume"
                      if last else "stopped before the first checkpoint; nothing to resume")
        return self.signals.exit_code

    def _stop_wanted(self) -> bool:
        if self.world.leader and self.signals.received is None and (self.folder / STOP_FILE).exists():
            self.signals.received = signal.SIGTERM  # Cancel of a multi-Mac run: like SIGTERM
        asked = self.signals.received is not None
        return self.world.any(asked)

    def _run(self) -> int:
        world = self.world
        finished = None
        if world.leader:
            adapter_versions.clean_stale_staging(self.advisor_id)
            clean_finished_runs(self.advisor_id)
            self._writing = (adapter_versions.advisor_root(self.advisor_id), SMALL_FILES, "the adapter's active pointer")
            finished = finish_interrupted(self.folder, self.advisor_id)
            self._writing = (self.folder, SMALL_FILES, "the training run's state")
        if world.broadcast_text("done" if finished is not None and self.resume else "") == "done":
            return self._report_finished(finished) if world.leader else EXIT_OK
        if finished is not None:  # a new run: first the old run's publish, then this one
            self._report_finished(finished)
            self.out.emit("note", message="then a new run starts (nothing to resume: the last run was published)")
        try:
            data, problem = load_dataset(self.advisor_id), None
        except DatasetError as exc:
            data, problem = None, str(exc)
        world.check_all(problem)
        assert data is not None
        hashes = world.gather_text(data.hash)
        world.check_all(None if hashes[world.rank] == hashes[0] else (
            f"its dataset differs from the first Mac's (hash {hashes[world.rank][:12]} vs {hashes[0][:12]}): "
            "copy the same dataset to every Mac (mondrian train distributed does)"))
        state = self._agree_on_run(data)
        hyper = self.hyper
        train_rows, val_rows = data.split(TRAIN), data.splits.get(VALIDATION)
        if val_rows is not None and len(val_rows) == 0:
            val_rows = None
        if hyper.max_image_edge:
            train_rows = ResizedRows(train_rows, hyper.max_image_edge)
            val_rows = ResizedRows(val_rows, hyper.max_image_edge) if val_rows is not None else None
        steps_per_epoch = len(train_rows) // hyper.batch_size
        if hyper.max_steps:  # a quick try (--max-steps)
            steps_per_epoch = min(steps_per_epoch, hyper.max_steps)
        self.out.emit("start", advisor_id=self.advisor_id, model=self.model_ref, dataset=str(data.path),
                      dataset_hash=data.hash, train_rows=len(train_rows), val_rows=len(val_rows or []),
                      epochs=hyper.epochs, steps_per_epoch=steps_per_epoch, start_epoch=state.completed_epochs + 1,
                      resumed=self.resume, hyperparameters=asdict(hyper), world_size=world.size)
        if self._stop_wanted():
            return self._stopped(state)
        if state.completed_epochs < hyper.epochs and not state.early_stopped:
            code = self._train(state, data, train_rows, val_rows, steps_per_epoch)
            if code != EXIT_OK:
                return code
        if not world.leader:
            return EXIT_OK
        self._writing = (adapter_versions.advisor_root(self.advisor_id), self._publish_need(), "the new adapter version")
        version, metrics = publish_run(state, data, folder=self.folder, activate=self.activate,
                                       trainer_args=self._trainer_args)
        self.out.emit("published", advisor_id=self.advisor_id, version=version.version, path=str(version.path),
                      active=self.activate, metrics=metrics)
        self._close_log()
        discard_run(self.folder)
        return EXIT_OK

    def _report_finished(self, finished: Finished | None) -> int:
        """The ``published`` event of a publish a kill interrupted and this run finished; its folder goes."""
        assert finished is not None
        version = finished.version
        manifest = version.manifest()
        active = adapter_versions.active_version(self.advisor_id)
        self.out.emit("note", message=finished.note)
        self.out.emit("published", advisor_id=self.advisor_id, version=version.version, path=str(version.path),
                      active=active is not None and active.version == version.version,
                      metrics=manifest.metrics if manifest else {}, recovered=True)
        self._close_log()
        self.out = JsonLines(self.stream)
        discard_run(self.folder)
        return EXIT_OK

    def _publish_need(self) -> int:
        """The adapter (as trained, or the best checkpoint's file) and the run's log."""
        kept = [f.stat().st_size for f in self.checkpoints.glob(f"epoch-*/{ADAPTER_WEIGHTS}")] if \
            self.checkpoints.is_dir() else []
        log = self.folder / LOG_FILE
        return publish_bytes(max([self._weights_bytes, *kept]), log.stat().st_size if log.is_file() else 0)

    def _check_space(self, steps_left: int) -> None:
        """Before the first step: room for the checkpoints (the newest, the best and the one being written:
        weights and Adam's two moments each) and for the version published at the end."""
        checkpoint = 3 * self._weights_bytes + SMALL_FILES
        self._writing = (self.checkpoints, 3 * checkpoint + steps_left * EVENT_BYTES, "the training checkpoints")
        publish = self._publish_need() + steps_left * EVENT_BYTES
        diskspace.check_writable(self.checkpoints, self._writing[1] + publish, "the training checkpoints")
        diskspace.check_writable(adapter_versions.advisor_root(self.advisor_id), publish, "the new adapter version")

    def _agree(self, check: Any) -> None:
        """Run a check on rank 0; every rank stops on its error (rank 0 with the error's own code)."""
        error = None
        if self.world.leader:
            try:
                check()
            except CommandError as exc:
                error = exc
        try:
            self.world.check_all(str(error) if error else None)
        except CommandError:
            if error is not None:
                raise error from None
            raise

    def _agree_on_run(self, data: Any) -> RunState:
        """Rank 0 opens (or resumes) the run; every rank gets its state, or the same error."""
        state, problem = None, None
        if self.world.leader:
            try:
                if not self.resume:  # check before _open_run replaces an unfinished run
                    check_batches(self.hyper, data, self.world.size)
                state = self._open_run(data.hash)
                check_batches(self.hyper, data, self.world.size)
            except CommandError as exc:
                problem = str(exc)
        self.world.check_all(problem)
        shared = self.world.broadcast_text(json.dumps(state.to_dict()) if state else "")
        if not self.world.leader:
            state = RunState.from_dict(json.loads(shared))
            self.model_ref, self.hyper = state.model, state.hyper
        assert state is not None
        return state

    def _open_run(self, dataset_hash: str) -> RunState:
        existing = RunState.load(self.folder) if self.folder.is_dir() else None
        if self.resume:
            existing = check_resumable(existing, advisor_id=self.advisor_id, folder=self.folder,
                                       dataset_hash=dataset_hash, model_ref=self.model_ref)
            if self.epochs_given:
                existing.hyper.epochs = self.hyper.epochs
            existing.resumes += 1
            existing.world_size = self.world.size
            self.model_ref, self.hyper = existing.model, existing.hyper
            self._attach_log()
            return existing
        if existing is not None or self.folder.exists():
            shutil.rmtree(self.folder, ignore_errors=True)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self._attach_log()
        if existing is not None:
            started = time.strftime("%d %b %Y %H:%M", time.localtime(existing.started))
            self.out.emit("note", message=f"discarded the unfinished run started {started} "
                                          f"({existing.completed_epochs} epoch(s) done); pass --resume to continue one")
        state = RunState(advisor_id=self.advisor_id, model=self.model_ref, dataset_hash=dataset_hash,
                         hyper=self.hyper, world_size=self.world.size)
        state.save(self.folder)
        return state

    def _attach_log(self) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        for stale in [*self.checkpoints.glob(".tmp-*"), self.folder / STOP_FILE]:
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
        self._log = open(self.folder / LOG_FILE, "a", encoding="utf-8")  # closed in run()
        self.out = JsonLines(self.stream, self._log)

    # ---- training -----------------------------------------------------------------------------
    def _train(self, state: RunState, data: Any, train_rows: Any, val_rows: Any, steps_per_epoch: int) -> int:
        import mlx.optimizers as optim
        from mlx_vlm.trainer import Trainer, VLMTrainingArgs

        hyper, world = self.hyper, self.world
        checkpoint = self.checkpoints / epoch_name(state.completed_epochs) if state.completed_epochs else None
        model, processor = load_for_training(self.model_ref, hyper, world, checkpoint, self.out)
        args = VLMTrainingArgs(batch_size=hyper.batch_size, iters=steps_per_epoch, steps_per_report=1,
                               steps_per_eval=steps_per_epoch if val_rows is not None else None,
                               steps_per_save=steps_per_epoch + 1, val_batches=-1,
                               max_seq_length=hyper.max_seq_length or NO_LIMIT_SEQ, train_on_completions=True,
                               grad_checkpoint=False, adapter_file=str(self.checkpoints / ".unused.safetensors"))
        callback = progress_callback_class()(self.out, steps_per_epoch, hyper.epochs)
        optimizer = optim.Adam(learning_rate=hyper.lr)
        trainer = Trainer(model, args, train_dataset=train_rows, eval_dataset=val_rows, processing_class=processor,
                          optimizer=optimizer, training_callback=callback, seed=hyper.seed)
        stop_at_step(trainer, self._stop_wanted)
        fits, self._weights_bytes = fits_in_memory(trainer, model, hyper, train_rows=train_rows, val_rows=val_rows,
                                                   world=world, memory_limit_gb=self.memory_limit_gb, out=self.out)
        if not fits:
            return EXIT_REFUSED
        self._agree(lambda: self._check_space((hyper.epochs - state.completed_epochs) * steps_per_epoch))
        if hyper.grad_checkpoint:
            enable_grad_checkpoint(model)
        if state.completed_epochs:
            if world.leader:
                load_optimizer(optimizer, self.checkpoints / epoch_name(state.completed_epochs) / OPTIMIZER_FILE,
                               model)
            else:
                optimizer.init(model.trainable_parameters())
            optimizer.state = world.broadcast_tree(optimizer.state)
        self._trainer_args = asdict(args)
        for epoch in range(state.completed_epochs + 1, hyper.epochs + 1):
            tmp = self.checkpoints / f".tmp-{epoch_name(epoch)}"
            if world.leader:
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
            trainer.args.adapter_file = str(tmp / ADAPTER_WEIGHTS)  # mlx-vlm saves it on rank 0 only
            self._writing = (self.checkpoints, self._writing[1], f"the checkpoint of epoch {epoch}")
            trainer.seed = hyper.seed + epoch  # a fresh, reproducible shuffle per epoch (also after --resume)
            callback.begin_epoch(epoch)
            started = time.perf_counter()
            try:
                with quiet_library(self.folder), peer_errors():
                    trainer.train()
            except StopRequested:
                shutil.rmtree(tmp, ignore_errors=True) if world.leader else None
                return self._stopped(state)
            if world.leader:
                finish_epoch(state, hyper, epoch=epoch, tmp=tmp, checkpoints=self.checkpoints, folder=self.folder,
                             optimizer=optimizer, callback=callback, seconds=time.perf_counter() - started, out=self.out)
            if world.distributed:  # the others learn the epoch's outcome (early stop, best epoch) from rank 0
                vars(state).update(vars(RunState.from_dict(json.loads(world.broadcast_text(
                    json.dumps(state.to_dict()) if world.leader else "")))))
            if self._stop_wanted():
                return self._stopped(state)
            if state.early_stopped:
                break
        return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mondrian train lora",
                                description="Train a LoRA adapter for an advisor (on a terminal: a progress bar "
                                            "and a summary; else JSON-lines progress on stdout).")
    p.add_argument("--json", action="store_true", help="JSON-lines progress even on a terminal")
    p.add_argument("--advisor", required=True)
    p.add_argument("--model", help="base model: repo id or folder (default: settings.model)")
    hyperparams.add_arguments(p)
    p.add_argument("--memory-limit-gb", type=float, help="memory budget for the estimate (default: available)")
    p.add_argument("--resume", action="store_true", help="continue the unfinished run from its last checkpoint")
    p.add_argument("--no-activate", dest="activate", action="store_false", help="publish without activating")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    with paths.private_umask():  # everything written goes into the data folder, which is private
        return _parse_and_run(argv)


def _parse_and_run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args.verbose)
    out = progress_stream(args.json)  # a terminal: bars and a summary; else JSON lines
    from app.engine.settings import load_settings

    world = World.current()
    say = JsonLines(out if world.leader else None)
    with reported(say):
        try:
            validate_advisor_id(args.advisor)
            hyper = hyperparams.from_args(args)
            if hyper.max_steps and "epochs" not in hyperparams.given(args):
                hyper.epochs = 1  # --max-steps alone: one short epoch
        except (AdvisorError, HyperError) as exc:
            raise CommandError(str(exc)) from None
        model = args.model or ("" if args.resume else load_settings().model)
    training = Training(args.advisor, model, hyper, resume=args.resume, activate=args.activate,
                        memory_limit_gb=args.memory_limit_gb, out=out, epochs_given="epochs" in hyperparams.given(args),
                        world=world)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # library prints never reach the JSON-lines stream
            return training.run()
    except KeyboardInterrupt:
        training.out.emit("stopped", signal="SIGINT", message="interrupted twice; stopped at once")
        return EXIT_SIGINT


if __name__ == "__main__":
    sys.exit(run_main(main))
