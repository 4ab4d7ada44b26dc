"""Checks a training run makes before its first step: the batch size against the dataset, whether an
unfinished run may be resumed, the longest example against ``--max-seq-length``, and the memory
estimate on every process (one ``refused`` event naming the processes that would not fit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import CommandError, JsonLines, flatten
from .dataset import TRAIN, VALIDATION
from .hyper import Hyper, HyperError
from .run_state import RunState
from .trainer_support import image_token_count
from .world import World


def check_batches(hyper: Hyper, data: Any, world_size: int) -> None:
    """The hyperparameters are valid and a batch fits in the training (and the held-out) rows."""
    try:
        hyper.validate(world_size)
    except HyperError as exc:
        raise CommandError(str(exc)) from None
    rows = len(data.split(TRAIN))
    if rows < hyper.batch_size:
        raise CommandError(f"--batch-size {hyper.batch_size} is larger than the {rows} training rows")
    val = len(data.splits.get(VALIDATION, []))
    if 0 < val < hyper.batch_size:
        raise CommandError(f"--batch-size {hyper.batch_size} is larger than the {val} held-out rows (validation "
                           "runs in batches of the same size): hold out more photos or lower the batch size")


def check_resumable(existing: RunState | None, *, advisor_id: str, folder: Path, dataset_hash: str,
                    model_ref: str) -> RunState:
    """The unfinished run ``--resume`` continues: it has a checkpoint, the same dataset and model."""
    if existing is None or existing.completed_epochs == 0:
        raise CommandError(f"no unfinished training run with a checkpoint for advisor {advisor_id!r} "
                           f"to resume (in {folder}); start one without --resume")
    if existing.dataset_hash != dataset_hash:
        raise CommandError("the dataset changed since the run started (hash "
                           f"{existing.dataset_hash[:12]} -> {dataset_hash[:12]}); start a new run "
                           "without --resume")
    if model_ref and model_ref != existing.model:
        raise CommandError(f"the run was started on model {existing.model!r}, not {model_ref!r}")
    return existing


def fits_in_memory(trainer: Any, model: Any, hyper: Hyper, *, train_rows: Any, val_rows: Any, world: World,
                   memory_limit_gb: float | None, out: JsonLines) -> tuple[bool, int]:
    """Whether the run fits on every process (``refused`` emitted when not), and the adapter's bytes."""
    from .memory import estimate_for_training

    # Lengths are cached by mlx-vlm's dataset wrapper, so measuring them here costs the trainer nothing.
    lengths = [trainer.train_dataset.itemlen(i) for i in range(len(train_rows))]
    if val_rows is not None:
        lengths += [trainer.eval_dataset.itemlen(i) for i in range(len(val_rows))]
    longest = max(lengths)
    if hyper.max_seq_length and longest > hyper.max_seq_length:
        raise CommandError(f"the longest example has {longest} tokens, over --max-seq-length "
                           f"{hyper.max_seq_length}: it would be cut (raise it or use a smaller --max-image-edge)")
    trainable = [v for _, v in flatten(model.trainable_parameters())]
    lora_params = sum(v.size for v in trainable)
    longest_train = max(range(len(train_rows)), key=lambda i: lengths[i])
    est = estimate_for_training(model, hyper, sequence_tokens=longest, lora_parameters=lora_params,
                                image_tokens=image_token_count(trainer.train_dataset[longest_train], model),
                                world_size=world.size, memory_limit_gb=memory_limit_gb)
    out.emit("memory_estimate", **est.to_dict(), trainable_parameters=lora_params)
    refused = world.gather_text("" if est.fits else f"{est.total_gb:.1f} of {est.budget_gb or 0:.1f} GB")
    if any(refused):
        where = "" if not world.distributed else " on " + ", ".join(
            f"process {r} ({t})" for r, t in enumerate(refused) if t)
        out.emit("refused", reason="memory", message=(
            f"this configuration needs about {est.total_gb:.1f} GB but {est.budget_gb or 0:.1f} GB is available "
            f"(90 % usable){where}; {est.advice()}"), estimate=est.to_dict())
    return not any(refused), sum(v.nbytes for v in trainable)
