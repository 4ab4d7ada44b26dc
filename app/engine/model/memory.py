"""How many frames a review can decode together: an estimate from the loaded model and the memory
there is, so the review's batch size needs no tuning (``review_batch_size`` 0, the default).

A row of a batch holds its own K/V for the prompt and the answer (layers x 2 x kv heads x head
size x bytes, per token) and one step's logits (vocabulary x 4 bytes, several copies while
sampling and masking). The weights are already resident. The batch is as many rows as fit in
half of the memory available now, capped where batching stops paying (a triage row is mostly
prefill, which a batch does not shorten; ``bench/review.py`` measures what each stage gains).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

log = logging.getLogger(__name__)

SHARE = 0.5  # of the memory available now, for the rows of one batch
LOGIT_COPIES = 4  # logits, their float32 copy, the masked copy, the probabilities
TRIAGE_CAP = 8  # rows; beyond this the tiny per-row prefill saving is noise
CRITIQUE_CAP = 4


def available_memory_bytes() -> int | None:
    """Memory that can be used now (macOS: Metal's recommended working set; Linux: MemAvailable),
    or None when unknown."""
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


def row_bytes(config: Any, tokens: int, *, kv_bytes: int = 2) -> int:
    """One batch row's memory for ``tokens`` of prompt and answer (its K/V and a step's logits)."""
    text = _get(config, "text_config", None) or config
    hidden = int(_get(text, "hidden_size", 0) or 0)
    layers = int(_get(text, "num_hidden_layers", 0) or 0)
    heads = int(_get(text, "num_attention_heads", 1) or 1)
    kv_heads = int(_get(text, "num_key_value_heads", heads) or heads)
    head_dim = int(_get(text, "head_dim", 0) or 0) or (hidden // max(1, heads))
    vocab = int(_get(text, "vocab_size", 0) or 0)
    return layers * 2 * kv_heads * head_dim * kv_bytes * max(1, tokens) + vocab * 4 * LOGIT_COPIES


def batch_size_for(config: Any, tokens: int, *, cap: int, setting: int = 0, budget: int | None = None) -> int:
    """``setting`` when set (> 0), else the rows of ``tokens`` each that fit in :data:`SHARE` of
    ``budget`` (default: the memory available now), from 1 to ``cap``."""
    if setting > 0:
        return int(setting)
    budget = available_memory_bytes() if budget is None else budget
    if not budget:
        return 1
    return max(1, min(cap, int(budget * SHARE) // max(1, row_bytes(config, tokens))))
