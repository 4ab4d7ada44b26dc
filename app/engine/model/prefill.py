"""Prefill a prompt up to its last token, computing the text before the photo once.

The prompt builder puts everything constant (role, report format, persona) before the photo
(critique/prompts.py). mlx-vlm 0.7.10 reuses a cached prefix only when what follows it is text
alone (``PromptCacheState`` in ``stream_generate``, APC's ``suffix_is_text_only``): a prefix that
ends *before* the image is never reused, because the image's features have to be merged into the
suffix and the suffix's positions depend on the whole prompt. This module is that missing glue,
and nothing more:

* :class:`TextPrefixCache` keeps the K/V of the text before the photo per (weights, token ids),
  bounded in bytes; a new prompt takes the longest common token prefix of any entry (a copy,
  trimmed), so another advisor still reuses the shared role + format text.
* :func:`prefill` embeds the *whole* prompt once with the model's own ``get_input_embeddings``
  (the vision tower goes through the feature cache), then runs the language model over the
  uncached text and over the photo + the text after it with the full prompt's position metadata
  (Qwen's mRoPE ``position_ids``/``rope_deltas`` and deepstack masks, sliced by the model at the
  cache offset exactly as in mlx-vlm's chunked prefill), stopping before the last token.

The caller hands the result to mlx-vlm: one request as a ``PromptCacheState`` covering all but the
last token (``stream_generate`` then sees a text-only suffix and does the rest itself), a batch
as rows merged into ``BatchKVCache`` (model/batch.py). Only for language models whose cache is
plain ``KVCache`` layers (Qwen VL, most others); sliding-window caches (Gemma 3) take mlx-vlm's
own path unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from app.engine.model.requests import LoadedModel

GLUE_KEY = "prefill_glue"  # LoadedModel.state: whether this model's cache suits the glue
MIN_SHARED = 8  # a shorter common prefix is computed again rather than copied


def _nbytes(cache: list[Any]) -> int:
    return sum(int(c.nbytes) for c in cache)


def copy_prefix(cache: list[Any], n: int) -> list[Any]:
    """A new single-row cache holding the first ``n`` tokens of ``cache`` (the original is untouched:
    the copy's arrays are slices, and a KVCache grows by concatenation into new arrays)."""
    from mlx_vlm.models.cache import KVCache

    out = []
    for c in cache:
        keys, values = c.state
        new = KVCache()
        new.keys, new.values, new.offset = keys[..., :n, :], values[..., :n, :], n
        out.append(new)
    return out


@dataclass
class _Text:
    ids: tuple[int, ...]
    cache: list[Any]
    nbytes: int


@dataclass
class TextPrefixCache:
    """The K/V of prompt text before the photo, per (weights key, token ids); LRU within ``max_bytes``."""

    max_bytes: int
    entries: OrderedDict[tuple[str, tuple[int, ...]], _Text] = field(default_factory=OrderedDict)

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.entries.values())

    def longest(self, weights_key: str, ids: list[int]) -> tuple[int, list[Any] | None]:
        """(length, a trimmed copy) of the longest cached prefix of ``ids`` under these weights."""
        best, found = 0, None
        for (key, _), entry in self.entries.items():
            if key != weights_key:
                continue
            n, limit = 0, min(len(entry.ids), len(ids))
            while n < limit and entry.ids[n] == ids[n]:
                n += 1
            if n > best:
                best, found = n, entry
        if found is None or best < MIN_SHARED:
            return 0, None
        self.entries.move_to_end((weights_key, found.ids))
        return best, copy_prefix(found.cache, best)

    def put(self, weights_key: str, ids: list[int], cache: list[Any]) -> None:
        key = (weights_key, tuple(ids))
        if key in self.entries or len(ids) < MIN_SHARED:
            return
        kept = copy_prefix(cache, len(ids))
        size = _nbytes(kept)
        if size > self.max_bytes:
            return
        while self.entries and self.nbytes + size > self.max_bytes:
            self.entries.popitem(last=False)
        self.entries[key] = _Text(tuple(ids), kept, size)

    def clear(self) -> None:
        self.entries.clear()


@dataclass
class Prefilled:
    """A prompt computed up to its last token: what mlx-vlm needs to go on from there."""

    ids: list[int]  # the whole prompt's token ids
    cache: list[Any]  # single-row KVCache layers holding ids[:-1]
    last_kwargs: dict[str, Any]  # position metadata of the last token (empty for plain RoPE)
    reused: int  # prompt tokens taken from the text cache instead of computed


def prepare_model_inputs(loaded: LoadedModel, text_prompt: str, image: Any) -> dict[str, Any]:
    """The model inputs, prepared once as ``stream_generate`` would (so the prompt length is known
    before generation); passed back to it as caller-prepared tensors."""
    from mlx_vlm.utils import prepare_inputs, should_add_special_tokens

    config = loaded.model.config
    inputs = prepare_inputs(loaded.processor, images=[image], prompts=text_prompt,
                            image_token_index=getattr(config, "image_token_index", None),
                            add_special_tokens=should_add_special_tokens(config.model_type, loaded.processor))
    out = {k: v for k, v in inputs.items() if k != "attention_mask" and v is not None}
    out["mask"] = inputs.get("attention_mask")
    return out


def glue_supported(loaded: LoadedModel) -> bool:
    """True when the model's prompt cache is plain KVCache layers (trimmable, mergeable per row)."""
    if GLUE_KEY not in loaded.state:
        from mlx_vlm.models.cache import KVCache, make_prompt_cache

        lm = loaded.model.language_model
        loaded.state[GLUE_KEY] = (hasattr(loaded.model, "get_input_embeddings")
                                  and all(type(c) is KVCache for c in make_prompt_cache(lm)))
    return bool(loaded.state[GLUE_KEY])


def first_media_index(loaded: LoadedModel, ids: list[int]) -> int | None:
    from mlx_vlm.apc import multimodal_token_ids_from_config

    media = multimodal_token_ids_from_config(loaded.model.config)
    return next((i for i, t in enumerate(ids) if t in media), None)


def last_media_index(loaded: LoadedModel, ids: list[int]) -> int:
    from mlx_vlm.apc import multimodal_token_ids_from_config

    media = multimodal_token_ids_from_config(loaded.model.config)
    return max((i for i, t in enumerate(ids) if t in media), default=-1)


def prefill(loaded: LoadedModel, inputs: dict[str, Any], store: TextPrefixCache | None,
            weights_key: str, *, warm: tuple[int, list[Any]] | None = None,
            any_cache: bool = False) -> Prefilled | None:
    """Compute ``inputs`` (as ``_prepare_inputs`` makes them) up to the last token, reusing and
    filling ``store`` for the text before the photo; None when the glue does not apply (no photo
    in the prompt, or a model whose cache is not plain KVCache).

    ``warm``: (n, a cache already holding the prompt's first n tokens, n past the photo), e.g. a
    re-run's state trimmed to the shared prefix: only the text after it is computed.
    ``any_cache``: a model whose cache is not plain KVCache (Gemma 3's rotating layers) is
    prefilled too, without the text store (its caches cannot be trimmed to a shared prefix)."""
    import mlx.core as mx
    from mlx_vlm.generate.common import generation_stream
    from mlx_vlm.models.cache import make_prompt_cache

    plain = glue_supported(loaded)
    if not plain and not (any_cache and hasattr(loaded.model, "get_input_embeddings")):
        return None
    input_ids = inputs["input_ids"]
    ids = [int(t) for t in input_ids[0].tolist()]
    start = first_media_index(loaded, ids)
    if start is None or len(ids) < 2:
        return None
    if not plain:
        store = None
    model, lm = loaded.model, loaded.model.language_model
    data = {k: v for k, v in inputs.items() if k not in ("input_ids", "pixel_values", "mask")}
    with mx.stream(generation_stream):
        embedded = model.get_input_embeddings(input_ids, inputs.get("pixel_values"), mask=inputs.get("mask"), **data)
        embeds = embedded.inputs_embeds
        # Gemma 3's attention_mask_4d is the padding mask's outer product (all ones for one row):
        # passed on, it would replace the causal mask, so the language model builds its own.
        extra = {k: v for k, v in embedded.to_dict().items()
                 if k not in ("inputs_embeds", "attention_mask_4d") and v is not None}
        positions = {k: extra[k] for k in ("position_ids", "rope_deltas") if k in extra}
        found: list[Any] | None
        if warm is not None:
            reused, found = warm
            start = reused
        else:
            reused, found = (store.longest(weights_key, ids[:start]) if store is not None and store.enabled
                             else (0, None))
        if found is None:
            reused, found = 0, make_prompt_cache(lm)
        cache: list[Any] = found

        def run(a: int, b: int, kwargs: dict[str, Any]) -> None:
            if b > a:
                lm(input_ids[:, a:b], inputs_embeds=embeds[:, a:b], cache=cache, logits_to_keep=1, **kwargs)
                mx.eval([c.state for c in cache])

        run(reused, start, positions)  # the text before the photo (its positions are plain)
        if store is not None and store.enabled and reused < start and warm is None:
            store.put(weights_key, ids[:start], cache)
        run(start, len(ids) - 1, {**data, **extra})  # the photo and the text after it
    last = {}
    if "position_ids" in positions:
        last["position_ids"] = positions["position_ids"][..., -1:]
    if "rope_deltas" in positions:
        last["rope_deltas"] = positions["rope_deltas"]
    return Prefilled(ids=ids, cache=cache, last_kwargs=last, reused=reused)


def as_prompt_state(done: Prefilled) -> Any:
    """The prefilled cache as an mlx-vlm ``PromptCacheState`` for ``stream_generate``."""
    from mlx_vlm.generate.common import PromptCacheState

    state = PromptCacheState()
    state.update(done.ids[:-1], done.cache)
    return state
