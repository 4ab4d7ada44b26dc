"""A constrained generation end to end on the jump-forward loop (model/decode.py).

Glue between the host's request and the loop: the grammar compiled as mlx-vlm compiles it (its
cached llguidance tokenizer), the prompt prefilled by model/prefill.py (the text before the photo
from the text cache; a re-run's per-photo state trimmed to the shared prefix), one matcher per
row owned here, and the per-photo state given back keyed by exactly the ids its cache holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.engine.model.decode import Decoded, Inspector, decode_rows, make_row, new_matcher
from app.engine.model.prefill import Prefilled, TextPrefixCache, glue_supported, last_media_index, prefill
from app.engine.model.requests import LoadedModel


@dataclass
class Grammar:
    """A compiled JSON-schema grammar and the llguidance tokenizer it runs on."""

    grammar: str
    llg_tokenizer: Any


def compile_grammar(loaded: LoadedModel, schema: dict[str, Any]) -> Grammar:
    from mlx_vlm.structured import build_json_schema_logits_processor

    tokenizer = getattr(loaded.processor, "tokenizer", loaded.processor)
    stock = build_json_schema_logits_processor(tokenizer, schema)
    return Grammar(stock.grammar, stock.llg_tokenizer)


def stop_ids(loaded: LoadedModel, grammar: Grammar) -> set[int]:
    tokenizer = getattr(loaded.processor, "tokenizer", loaded.processor)
    ids = {int(grammar.llg_tokenizer.eos_token)}
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    ids.update(int(t) for t in getattr(getattr(tokenizer, "stopping_criteria", None), "eos_token_ids", []) or [])
    return ids


def step_kwargs(done: Sequence[Prefilled]) -> dict[str, Any]:
    """What every decode pass needs besides the ids: Qwen's mRoPE offset of the text after the
    photo (positions then follow the cache offset)."""
    import mlx.core as mx

    if all("rope_deltas" in d.last_kwargs for d in done):
        deltas = [d.last_kwargs["rope_deltas"].reshape(1, -1) for d in done]
        return {"rope_deltas": mx.concatenate(deltas, axis=0)}
    return {}


def warm_prefix(loaded: LoadedModel, ids: list[int], state: Any) -> tuple[int, list[Any]] | None:
    """(n, the state's cache trimmed to n) when the per-photo state shares more than the photo
    with ``ids`` and can be trimmed there; None otherwise (the prompt is then prefilled)."""
    if state is None or state.cache is None:
        return None
    n = min(state.find_prefix_length(ids), len(ids) - 1)
    if n <= last_media_index(loaded, ids):
        return None
    held = max(int(getattr(c, "offset", 0) or 0) for c in state.cache)
    drop = held - n
    if drop < 0 or (drop and not all(c.is_trimmable() and type(c).__name__ == "KVCache" for c in state.cache)):
        return None
    for c in state.cache:
        if drop:
            c.trim(drop)
    return n, state.cache


@dataclass
class Generated:
    """One constrained generation: what the loop produced and what the prompt cost."""

    decoded: Decoded
    prompt_tokens: int
    reused: int  # prompt tokens not computed (text cache or the per-photo state)
    cache_ids: list[int]  # the ids the cache holds (the prompt then the fed tokens)
    cache: list[Any]
    reusable: bool  # plain KVCache layers: a follow-up may trim them to a shared prefix


def generate_constrained(loaded: LoadedModel, inputs: dict[str, Any], grammar: Grammar, max_tokens: int, *,
                         temperature: float = 0.0, text: TextPrefixCache | None = None, weights_key: str = "base",
                         state: Any = None, on_piece: Callable[[str], None] | None = None,
                         inspect: Inspector | None = None,
                         cancelled: Callable[[], bool] | None = None) -> Generated:
    """Prefill ``inputs`` and decode under ``grammar`` with forced tokens skipped."""
    from mlx_vlm.tokenizer_utils import make_streaming_detokenizer

    ids = [int(t) for t in inputs["input_ids"][0].tolist()]
    warm = warm_prefix(loaded, ids, state)
    done = prefill(loaded, inputs, text, weights_key, warm=warm, any_cache=True)
    if done is None:
        raise ValueError(f"{loaded.model_id}: a constrained generation needs a photo in the prompt")
    if warm is not None:
        done.reused = warm[0]
    row = make_row(new_matcher(grammar.llg_tokenizer, grammar.grammar), max_tokens,
                   make_streaming_detokenizer(loaded.processor), on_piece, inspect)

    def check(_: int) -> bool:
        return bool(cancelled and cancelled())

    decode_rows(loaded.model.language_model, done.cache, [done.ids[-1]], [row], llg_tokenizer=grammar.llg_tokenizer,
                stop_ids=stop_ids(loaded, grammar),
                temperature=temperature, step_kwargs=step_kwargs([done]), cancelled=check)
    return Generated(decoded=row.out, prompt_tokens=len(ids), reused=done.reused,
                     cache_ids=done.ids[:-1] + row.out.fed, cache=done.cache,
                     reusable=glue_supported(loaded))
