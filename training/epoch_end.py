"""The end of an epoch on rank 0: the checkpoint made final (temp folder + rename), the early-stopping
bookkeeping and the epoch's history in the run's state, older checkpoints pruned (the newest and the
best stay), and the ``epoch`` (and ``early_stop``) events."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from app.engine import atomic

from .common import JsonLines
from .hyper import Hyper
from .run_state import CHECKPOINT_STATE, OPTIMIZER_FILE, RunState, epoch_name
from .trainer_support import save_optimizer


def finish_epoch(state: RunState, hyper: Hyper, *, epoch: int, tmp: Path, checkpoints: Path, folder: Path,
                 optimizer: Any, callback: Any, seconds: float, out: JsonLines) -> None:
    """Epoch ``epoch``'s checkpoint (written by mlx-vlm into ``tmp``) kept, and ``state`` saved in ``folder``."""
    save_optimizer(optimizer, tmp / OPTIMIZER_FILE)
    train_loss = sum(callback.losses) / max(len(callback.losses), 1)
    val_loss = float(callback.val_info["val_loss"]) if callback.val_info else None
    atomic.write_json(tmp / CHECKPOINT_STATE, {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
    final = checkpoints / epoch_name(epoch)
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
    steps = len(callback.losses)
    state.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "seconds": seconds,
                          "steps": steps, "mean_step_time_s": sum(callback.step_times[-steps:]) / max(steps, 1),
                          "tokens_per_s": sum(callback.tokens_per_s[-steps:]) / max(steps, 1),
                          "peak_memory_gb": callback.peak_gb})
    if val_loss is not None and state.bad_epochs >= hyper.patience and epoch < hyper.epochs:
        state.early_stopped = True
    state.save(folder)
    for old in checkpoints.glob("epoch-*"):
        if old.name not in (epoch_name(epoch), epoch_name(state.best_epoch or epoch)):
            shutil.rmtree(old, ignore_errors=True)
    remaining = (hyper.epochs - epoch) * seconds if not state.early_stopped else 0.0
    out.emit("epoch", epoch=epoch, epochs=hyper.epochs, train_loss=train_loss, val_loss=val_loss,
             best_epoch=state.best_epoch, best_val_loss=state.best_val_loss, improved=improved,
             checkpoint=str(final), seconds=seconds, eta_s=remaining)
    if state.early_stopped:
        out.emit("early_stop", epoch=epoch, best_epoch=state.best_epoch, patience=hyper.patience,
                 message=f"no better validation loss for {hyper.patience} epoch(s)")
