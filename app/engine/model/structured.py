"""Constrained JSON decoding through mlx-vlm's llguidance structured output.

mlx-vlm's ``LLGuidanceLogitsProcessor`` masks disallowed tokens with a Metal kernel, which raises
"[metal_kernel] No Metal back-end" off macOS (Linux CI, CPU-only MLX). Where Metal is missing we
use a subclass that does the same masking with plain MLX ops; everything else (grammar
compilation, the llguidance matcher, the cached llguidance tokenizer) stays mlx-vlm's.
mlx-vlm is imported lazily: it costs over a second and the app must start fast.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def metal_available() -> bool:
    """True when MLX can run Metal kernels (Apple silicon with the Metal back-end)."""
    import mlx.core as mx

    try:
        return bool(mx.metal.is_available())
    except AttributeError:  # an MLX build without the metal namespace
        return False


def apply_token_bitmask(logits: Any, mask: Any) -> Any:
    """Set the logits of tokens whose bit is 0 in llguidance's packed int32 ``mask`` to -inf.

    ``logits`` is (vocab,) or (batch, vocab); ``mask`` is (words,) or (batch, words), bit ``t % 32``
    of word ``t // 32`` allowing token ``t``. Tokens past the mask are disallowed, as in mlx-vlm's
    Metal kernel.
    """
    import mlx.core as mx

    squeeze = logits.ndim == 1
    if squeeze:
        logits = logits[None, :]
    if mask.ndim == 1:
        mask = mask[None, :]
    vocab = logits.shape[-1]
    shifts = mx.arange(32, dtype=mx.int32)
    # An arithmetic shift of the int32 word still leaves bit k in the lowest place.
    bits = mx.right_shift(mask[:, :, None], shifts[None, None, :]) & 1
    allowed = bits.reshape(mask.shape[0], -1).astype(mx.bool_)
    width = allowed.shape[1]
    if width < vocab:
        allowed = mx.concatenate([allowed, mx.zeros((allowed.shape[0], vocab - width), dtype=mx.bool_)], axis=1)
    elif width > vocab:
        allowed = allowed[:, :vocab]
    out = mx.where(allowed, logits, mx.array(-mx.inf, dtype=logits.dtype))
    return out[0] if squeeze else out


@functools.cache
def _cpu_processor_class() -> type:
    """mlx-vlm's processor with only the Metal masking step replaced (built on first use)."""
    from mlx_vlm.structured import LLGuidanceLogitsProcessor

    class CPULLGuidanceLogitsProcessor(LLGuidanceLogitsProcessor):
        """Same as mlx-vlm's, but masks with MLX ops so it runs without Metal."""

        def _apply_bitmask(self, logits: Any) -> Any:
            return apply_token_bitmask(logits, self._fill_next_token_mask())

        def clone(self) -> CPULLGuidanceLogitsProcessor:
            return type(self)(self.grammar, self.llg_tokenizer)

    return CPULLGuidanceLogitsProcessor


def json_schema_logits_processor(tokenizer: Any, schema: dict[str, Any]) -> Callable[[Any, Any], Any]:
    """A logits processor that constrains generation to JSON matching ``schema``.

    ``tokenizer`` is the Hugging Face tokenizer (``processor.tokenizer``). Pass the result in
    ``logits_processors=[...]`` of ``mlx_vlm.stream_generate``. It is stateful: use a new one
    per generation.
    """
    if not isinstance(schema, dict):
        raise TypeError(f"schema must be a dict (a JSON schema), not {type(schema).__name__}")
    from mlx_vlm.structured import build_json_schema_logits_processor

    stock = build_json_schema_logits_processor(tokenizer, schema)
    if metal_available():
        return stock
    return _cpu_processor_class()(stock.grammar, stock.llg_tokenizer)
