"""A causal training forward for the families whose mlx-vlm forward attends to the future.

mlx-vlm 0.7.10's trainers (SFT, ORPO, DPO) all run ``model(input_ids, pixel_values, attention_mask)``
(``mlx_vlm/trainer/vlm/sft/runtime.py: forward_vlm_logits``) with the collated 2-D padding mask.
Gemma 3's ``Model.__call__`` (``mlx_vlm/models/gemma3/gemma3.py``) turns that mask into its outer
product in ``prepare_inputs_for_multimodal`` and hands it to the language model as ``mask``; and
``Gemma3Model.__call__`` (``models/gemma3/language.py``) builds its causal and sliding-window masks
only when ``mask`` is None, else uses the given one for every layer. An all-ones 0/1 integer mask is
additive in ``mx.fast.scaled_dot_product_attention``: no mask at all. Every position then sees the
token it is trained to predict, the loss falls by copying it, and a teacher-forced score reads the
probe answer instead of the photo. mlx-vlm fixed the same thing for ``gemma4_unified`` only
(``forward_vlm_logits`` drops the mask for that one family; mlx-vlm PR #1392). Generation is not
affected: it calls the language model without the 4-D mask.

The fix here does what generation does: the model's embedding step returns no 4-D mask, so the
language model builds its own causal (and sliding-window) masks. Right padding (batch > 1) stays
harmless: padded positions come after the real tokens and are outside the loss.
"""

from __future__ import annotations

from typing import Any

# mlx-vlm model types whose training forward replaces the causal mask with the padding mask's
# outer product (checked in 0.7.10 with :func:`leaks_future`).
FULL_ATTENTION_IN_TRAINING = frozenset({"gemma3"})
_MARK = "_mondrian_causal_training"


def model_type(model: Any) -> str:
    config = getattr(model, "config", None)
    return str(getattr(model, "model_type", None) or getattr(config, "model_type", "") or "")


def make_training_causal(model: Any) -> bool:
    """Make ``model``'s training forward causal when its family needs it (idempotent); True if patched."""
    if model_type(model) not in FULL_ATTENTION_IN_TRAINING:
        return False
    if getattr(model, _MARK, False):
        return True
    embeddings = model.get_input_embeddings

    def causal_embeddings(*args: Any, **kwargs: Any) -> Any:
        out = embeddings(*args, **kwargs)
        out.attention_mask_4d = None  # Model.__call__ passes it as mask=None: the causal masks are built
        return out

    model.get_input_embeddings = causal_embeddings
    setattr(model, _MARK, True)
    return True


LEAK = 1e-4  # logits moving more than this when a later token changes: the forward is not causal
_CHECKED = "_mondrian_causality_checked"


def drop_padding_mask(model: Any) -> None:
    """The trainer's forward for ``model`` without the 2-D padding mask (idempotent).

    Families such as SmolVLM (idefics3) hand the trainer's ``(batch, length)`` padding mask to their
    language model as its attention mask, which then broadcasts over the queries instead of being
    combined with a causal mask: every position sees the whole row. The collated rows are padded on
    the right, so with no mask the language model's own causal mask is exact for every real token
    (a real token never attends to the padding after it, and padding is outside the loss). The
    instance gets a subclass whose ``__call__`` passes ``mask=None``; generation never passes one."""
    cls = type(model)
    if getattr(cls, "_mondrian_no_padding_mask", False):
        return

    def call(self: Any, input_ids: Any, pixel_values: Any = None, mask: Any = None, *args: Any,
             **kwargs: Any) -> Any:
        if mask is not None and getattr(mask, "ndim", 0) == 2:
            mask = None
        return cls.__call__(self, input_ids, pixel_values, mask, *args, **kwargs)

    model.__class__ = type(f"Causal{cls.__name__}", (cls,), {"__call__": call,
                                                              "_mondrian_no_padding_mask": True})


def ensure_causal(model: Any, batch: dict[str, Any]) -> None:
    """Check the trainer's forward on ``batch`` once (:func:`leaks_future`); when earlier logits move
    with a later token, apply the family's known fix (:func:`make_training_causal`) or else drop the
    padding mask (:func:`drop_padding_mask`), and check again. Derived from the loaded model, not a
    list of names: a forward that still sees ahead is a ValueError naming the model type."""
    if getattr(model, _CHECKED, False) or "input_ids" not in batch or "attention_mask" not in batch:
        return
    if leaks_future(model, batch) > LEAK:
        if not make_training_causal(model):
            drop_padding_mask(model)
        leak = leaks_future(model, batch)
        if leak > LEAK:
            raise ValueError(f"mlx-vlm's training forward for {model_type(model) or 'this model'} is not causal "
                             f"(earlier logits move by {leak:.3g} when the last token changes): training would "
                             "copy the answer it can see, and scores would read it instead of the photo")
    setattr(model, _CHECKED, True)


def leaks_future(model: Any, batch: dict[str, Any]) -> float:
    """How far the logits before the last position move when the last token changes, in the
    trainer's own forward (0.0 for a causal model): the test of :func:`make_training_causal`."""
    import mlx.core as mx
    from mlx_vlm.trainer.vlm.sft.runtime import forward_vlm_logits

    ids = batch["input_ids"]
    first, last = ids[:, :1], ids[:, -1:]
    other = mx.concatenate([ids[:, :-1], mx.where(last == first, first + 1, first)], axis=1)
    training = bool(getattr(model, "training", False))
    model.eval()  # LoRA dropout would move the logits by itself
    try:
        a = forward_vlm_logits(model, ids, batch["attention_mask"], batch)[:, :-1]
        b = forward_vlm_logits(model, other, batch["attention_mask"], batch)[:, :-1]
        return float(mx.abs(a - b).max())
    finally:
        model.train(training)
