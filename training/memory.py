"""Will this training configuration fit in memory? An estimate before the first step.

Training runs out of memory in the middle of a step, often after minutes of loading; the GUI would
only see a dead process. So before training we add up, from the loaded (lazy) model and the
longest example in the dataset:

* the base weights as stored (4-bit weights count at 4 bits: QLoRA);
* the adapter: its parameters, their gradients and Adam's two moments (4 copies, float32);
* activations kept for the backward pass, per layer per token: ~10 hidden-size and ~4
  MLP-size vectors, plus the attention probabilities (heads x sequence, twice for the softmax
  and its gradient); with ``--grad-checkpoint`` only each layer's input is kept, plus one layer's
  full set while it is recomputed;
* the logits and their gradient in float32 (sequence x vocabulary x 3);
* a vision-tower forward (frozen: no activations kept) and a fixed runtime overhead.

It errs on the high side (the benchmark prints it beside the measured peak). The budget is the
memory available now (Linux: ``MemAvailable``; macOS: Metal's recommended working set), or
``--memory-limit-gb``; above 90 % of it, training is refused with what to change.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import asdict, dataclass
from typing import Any

from .common import flatten

log = logging.getLogger(__name__)

GB = 1e9
FIXED_OVERHEAD = 0.1 * GB
SAFETY = 0.9


@dataclass
class MemoryEstimate:
    weights_gb: float
    adapter_gb: float
    activations_gb: float
    logits_gb: float
    vision_gb: float
    overhead_gb: float
    total_gb: float
    budget_gb: float | None
    sequence_tokens: int
    batch_size: int
    grad_checkpoint: bool

    @property
    def fits(self) -> bool:
        return self.budget_gb is None or self.total_gb <= self.budget_gb * SAFETY

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()} | {"fits": self.fits}

    def advice(self) -> str:
        tips = []
        if not self.grad_checkpoint:
            tips.append("--grad-checkpoint")
        if self.batch_size > 1:
            tips.append("--batch-size 1")
        tips.append("a smaller --max-image-edge (fewer image tokens)")
        tips.append("a lower --rank")
        return "try " + ", ".join(tips)


def available_memory_bytes() -> int | None:
    """Memory training can use now, or None when unknown."""
    if sys.platform == "darwin":
        try:
            import mlx.core as mx

            info = mx.device_info()
            size = info.get("max_recommended_working_set_size") or info.get("memory_size")
            if size:
                return int(size)
        except Exception:  # older mlx or no Metal: fall through to the OS total
            log.debug("mlx gave no working-set size", exc_info=True)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.75)
    except (ValueError, OSError, AttributeError):
        return None


def _get(config: Any, name: str, default: Any = None) -> Any:
    if isinstance(config, dict):
        return config.get(name, default)
    return getattr(config, name, default)


def _text_config(model: Any) -> Any:
    config = model.config
    return _get(config, "text_config", None) or config


def _nbytes(tree: Any) -> int:
    return int(sum(v.nbytes for _, v in flatten(tree)))


def _compute_bytes(model: Any) -> int:
    """Bytes per activation element: the dtype the layers compute in (quantized models: 16-bit)."""
    import mlx.core as mx

    for name, value in flatten(model.parameters()):
        if name.endswith("weight") and value.dtype in (mx.float32, mx.float16, mx.bfloat16):
            return value.dtype.size
    return 2


def estimate(model: Any, *, sequence_tokens: int, image_tokens: int, batch_size: int, grad_checkpoint: bool,
             lora_parameters: int, budget_bytes: int | None) -> MemoryEstimate:
    """Estimate peak memory of one training step (see the module docstring for the terms)."""
    text = _text_config(model)
    hidden = int(_get(text, "hidden_size", 0) or 0)
    layers = int(_get(text, "num_hidden_layers", 0) or 0)
    inter = int(_get(text, "intermediate_size", 4 * hidden) or 4 * hidden)
    heads = int(_get(text, "num_attention_heads", 1) or 1)
    vocab = int(_get(text, "vocab_size", 0) or 0)
    b = _compute_bytes(model)
    seq = max(1, sequence_tokens)
    per_layer_token = b * (10 * hidden + 4 * inter) + 2 * b * heads * seq
    if grad_checkpoint:
        activations = batch_size * seq * (layers * hidden * b + per_layer_token)
    else:
        activations = batch_size * seq * layers * per_layer_token
    logits = batch_size * seq * vocab * 4 * 3
    vision_cfg = _get(model.config, "vision_config", None)
    v_hidden = int(_get(vision_cfg, "hidden_size", 0) or 0) if vision_cfg is not None else 0
    merge = int(_get(vision_cfg, "spatial_merge_size", 2) or 2) if vision_cfg is not None else 1
    vision = batch_size * image_tokens * merge * merge * v_hidden * b * 16
    weights = _nbytes(model.parameters())
    adapter = lora_parameters * 4 * 4
    subtotal = weights + adapter + activations + logits + vision
    overhead = FIXED_OVERHEAD + 0.1 * subtotal
    total = subtotal + overhead
    return MemoryEstimate(
        weights_gb=weights / GB, adapter_gb=adapter / GB, activations_gb=activations / GB,
        logits_gb=logits / GB, vision_gb=vision / GB, overhead_gb=overhead / GB, total_gb=total / GB,
        budget_gb=budget_bytes / GB if budget_bytes else None, sequence_tokens=seq, batch_size=batch_size,
        grad_checkpoint=grad_checkpoint)


def lora_parameter_count(model: Any, rank: int, target_modules: list[str] | None = None) -> int:
    """The LoRA parameters ``prepare_model_for_training`` would add, without changing the model
    (mlx-vlm's own choice of target layers)."""
    import mlx.nn as nn
    from mlx_vlm.trainer.peft.utils import _resolve_lora_targets

    modules = dict(model.named_modules())
    total = 0
    for name in _resolve_lora_targets(model, target_modules):
        layer = modules[name]
        out_dims, in_dims = layer.weight.shape[0], layer.weight.shape[-1]
        if isinstance(layer, nn.QuantizedLinear):
            in_dims = in_dims * 32 // layer.bits
        total += rank * (in_dims + out_dims)
    return total


def image_tokens_for_edge(processor: Any, max_edge: int) -> int:
    """Image tokens of a photo scaled to ``max_edge`` (square: the worst case), from the
    processor's patch and merge sizes and its pixel cap."""
    proc = getattr(processor, "image_processor", None)
    patch = int(getattr(proc, "patch_size", 14) or 14)
    merge = int(getattr(proc, "merge_size", 2) or 2)
    pixels = max_edge * max_edge
    cap = getattr(proc, "max_pixels", None) or (getattr(proc, "size", None) or {}).get("longest_edge")
    if cap:
        pixels = min(pixels, int(cap))
    return max(1, pixels // (patch * merge) ** 2)


def estimate_for_training(model: Any, hyper: Any, *, sequence_tokens: int, image_tokens: int, lora_parameters: int,
                          world_size: int = 1, memory_limit_gb: float | None = None) -> MemoryEstimate:
    """The one estimate, used by ``train_lora`` (longest real example) and by the Training tab
    (before a dataset exists: :func:`estimate_before_dataset`). Each process of a multi-Mac run
    holds ``batch_size / world_size`` rows of a batch."""
    budget = int(memory_limit_gb * GB) if memory_limit_gb else available_memory_bytes()
    return estimate(model, sequence_tokens=sequence_tokens, image_tokens=image_tokens,
                    batch_size=max(1, hyper.batch_size // max(1, world_size)), grad_checkpoint=hyper.grad_checkpoint,
                    lora_parameters=lora_parameters, budget_bytes=budget)


def estimate_before_dataset(model: Any, processor: Any, hyper: Any, *, max_image_edge: int, text_tokens: int,
                            world_size: int = 1) -> MemoryEstimate:
    """The Training tab's estimate for the resident model: an example of ``text_tokens`` (prompt +
    the longest report the settings allow) and a square photo at ``max_image_edge``."""
    edge = min(max_image_edge, hyper.max_image_edge or max_image_edge)
    images = image_tokens_for_edge(processor, edge)
    return estimate_for_training(model, hyper, sequence_tokens=text_tokens + images, image_tokens=images,
                                 lora_parameters=lora_parameter_count(model, hyper.rank, hyper.target_modules),
                                 world_size=world_size)
