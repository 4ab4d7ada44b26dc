"""Pieces of a training run around mlx-vlm's ``Trainer``: the model with its LoRA, progress events,
stopping at a step, resized rows, gradient checkpointing, the optimizer's state in checkpoints."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from .causal import ensure_causal, make_training_causal
from .common import JsonLines, flatten
from .hyper import Hyper
from .stopping import StopRequested
from .world import World


class ResizedRows:
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


def chat_template_problem(processor: Any, model_ref: str) -> str | None:
    """Why mlx-vlm's trainer cannot train this model, if it cannot: its datasets render every row
    through the chat template and check that the answer follows the prompt, so a model without a
    template (PaliGemma) fails deep inside with "not prefix-stable"; said here, once, by name."""
    from app.engine.model.requests import has_chat_template

    if has_chat_template(processor):
        return None
    return (f"the model {model_ref} has no chat template: mlx-vlm's trainer renders every training row "
            "through one, so it cannot train this model (it can still critique)")


def load_for_training(model_ref: str, hyper: Hyper, world: World, checkpoint: Path | None,
                      out: JsonLines) -> tuple[Any, Any]:
    """The base model with a LoRA on it (fresh from ``hyper.seed``, or rank 0's ``checkpoint``), and rank 0's
    adapter weights on every process; ``model_loaded`` says so."""
    import mlx.core as mx
    import mlx_vlm
    from mlx_vlm.trainer import prepare_model_for_training

    from app.engine.model.source import ModelNotAvailableError, resolve_model

    try:
        path, problem = resolve_model(model_ref), None
    except ModelNotAvailableError as exc:
        path, problem = None, str(exc)
    world.check_all(problem)
    start = time.perf_counter()
    model, processor = mlx_vlm.load(str(path), lazy=True)
    world.check_all(chat_template_problem(processor, model_ref))
    make_training_causal(model)  # Gemma 3's training forward attends to the future in mlx-vlm 0.7.10
    mx.random.seed(hyper.seed)  # the adapter's initial weights
    prepare_model_for_training(model, train_type="lora", lora_rank=hyper.rank, lora_alpha=float(hyper.alpha or 2 * hyper.rank),
                               lora_dropout=hyper.dropout, target_modules=hyper.target_modules,
                               checkpoint_path=checkpoint if world.leader else None, verbose=False)
    model.update(world.broadcast_tree(model.trainable_parameters()))  # rank 0's weights everywhere
    out.emit("model_loaded", model=model_ref, path=str(path), seconds=time.perf_counter() - start,
             quantized=quantized(model), resumed_from=str(checkpoint) if checkpoint else None)
    return model, processor


def progress_callback_class() -> type:
    from mlx_vlm.trainer import TrainingCallback

    class ProgressCallback(TrainingCallback):
        """Turns mlx-vlm's reports into ``step`` events (mlx-vlm calls it on rank 0 only)."""

        def __init__(self, out: JsonLines, steps_per_epoch: int, epochs: int):
            self.out = out
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

        def on_val_loss_report(self, info: dict) -> None:
            self.val_info = dict(info)
            self.val_seconds = float(info.get("val_time", 0.0))
            self._last = time.perf_counter()

    return ProgressCallback


def enable_grad_checkpoint(model: Any) -> None:
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


def save_optimizer(optimizer: Any, file: Path) -> None:
    import mlx.core as mx

    state = {k: v for k, v in flatten(optimizer.state) if isinstance(v, mx.array)}
    mx.save_safetensors(str(file), state)


def load_optimizer(optimizer: Any, file: Path, model: Any) -> None:
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    loaded = cast(dict[str, Any], mx.load(str(file)))
    optimizer.state = tree_unflatten(list(loaded.items()))
    optimizer.init(model.trainable_parameters())


def quantized(model: Any) -> bool:
    import mlx.nn as nn

    return any(isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)) for _, m in model.named_modules())


def image_token_count(sample: dict[str, Any], model: Any) -> int:
    config = model.config
    token = getattr(config, "image_token_id", None) or getattr(config, "image_token_index", None)
    if token is None:
        return 0
    import numpy as np

    return int(np.count_nonzero(np.asarray(sample["input_ids"]) == int(token)))


def stop_at_step(trainer: Any, should_stop: Callable[[], bool]) -> None:
    """Check ``should_stop`` before every training batch, in every process, and raise
    :class:`StopRequested` there. mlx-vlm's loop asks its batch iterator for the next batch on
    every rank at the same step, so a check that all ranks agree on (``World.any``) stops them
    all at the same step boundary; the callbacks run on rank 0 only and could not."""
    original = trainer.task.batches

    def batches(dataset: Any, *args: Any, train: bool = False, **kwargs: Any) -> Iterator[Any]:
        for batch in original(dataset, *args, train=train, **kwargs):
            if train and should_stop():
                raise StopRequested
            ensure_causal(trainer.model, batch)  # once: a forward that sees ahead is fixed before it trains
            yield batch

    trainer.task = replace(trainer.task, batches=batches)
