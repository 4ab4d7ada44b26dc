"""Constrained decoding that skips the tokens the grammar forces (jump-forward decoding).

In a report's JSON much is forced by the schema: keys, quotes, punctuation, the rest of an enum
spelling. mlx-vlm's ``stream_generate`` feeds one token per forward pass and its logits processor
consumes one token per call, so every forced token costs a pass. Here Mondrian owns the llguidance
matcher: after each sampled token it asks ``compute_ff_tokens`` for the tokens the grammar forces
next, consumes them, and feeds them *with* the sampled token in one forward pass (mlx-vlm's
speculative decoding verifies several tokens in one pass the same way). The logits of the last
fed position give the next sampled token. Nothing else is new: the prompt comes from
:func:`~app.engine.model.prefill.prefill`, the K/V live in mlx-vlm's own cache objects (``KVCache``;
Gemma 3's ``RotatingKVCache`` takes a multi-token step across its window with its concatenating
update), and the language model is called as mlx-vlm calls it.

Pitfalls, each tested (tests/test_fast_forward.py):

* llguidance holds back forced bytes that could merge with what follows (``": "`` before a digit):
  ``compute_ff_tokens`` returns only the safe tokens, the rest is sampled (still masked to the
  grammar), so the output's bytes always continue ``compute_ff_bytes``.
* the grammar may allow several tokenizations of the same forced bytes; llguidance picks one. With
  a tokenizer that has one token per forced step the output equals one-token-per-pass decoding.
* the cache then holds the *fed* ids: :class:`Decoded.fed` is what a follow-up reuses a prefix by.
* a batch (:func:`decode_rows`) moves its rows in lockstep: each pass feeds every row the same
  number of tokens (the smallest pending count across live rows), a row with more forced tokens
  keeps the rest for the next pass and samples nothing meanwhile; a finished row leaves the batch.
  ``forward_passes`` counts a row's passes, the batch's count is returned (batch passes per token).

The matcher only ever consumes what is fed (a forced span cut by the token limit is consumed up
to the cut), so it never needs llguidance's ``rollback``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Called at each sampled step with (tokens so far, allowed token ids, their probabilities).
Inspector = Callable[[list[int], list[int], list[float]], None]
PieceCallback = Callable[[str], None]
INSPECT_MAX_ALLOWED = 16  # the inspector sees only steps with this few allowed tokens (score digits),
# unless it has a ``max_allowed`` of its own (derived from the tokenizer: triage's ScoreSteps)


@dataclass
class Decoded:
    """One row's generation: its tokens, how many the model chose, and what the cache holds."""

    tokens: list[int] = field(default_factory=list)  # every generated token, stop token excluded
    sampled: int = 0  # tokens chosen from the logits (the rest were forced by the grammar)
    forward_passes: int = 0  # passes this row took part in (the batch's for a row of a batch)
    finish: str = "length"  # "stop" | "length" | "cancelled"
    fed: list[int] = field(default_factory=list)  # ids the cache holds after the prompt's prefilled part
    forced_bytes: list[tuple[int, bytes]] = field(default_factory=list)  # (byte offset, ff bytes)
    text: str = ""


@dataclass
class _Row:
    matcher: Any
    max_tokens: int
    on_piece: PieceCallback | None
    inspect: Inspector | None
    detokenizer: Any
    out: Decoded = field(default_factory=Decoded)
    pending: list[int] = field(default_factory=list)  # tokens to feed at the next passes
    done: bool = False
    nbytes: int = 0


def new_matcher(llg_tokenizer: Any, grammar: str) -> Any:
    """A fresh llguidance matcher for ``grammar`` (as mlx-vlm's processor compiles it)."""
    from llguidance import LLMatcher

    return LLMatcher(llg_tokenizer, grammar)


def _check(matcher: Any) -> None:
    error = matcher.get_error()
    if error:
        raise ValueError(f"llguidance matcher error: {error}")


def _emit(row: _Row, tokens: Sequence[int], llg_tokenizer: Any) -> None:
    for token in tokens:
        row.out.tokens.append(int(token))
        row.detokenizer.add_token(int(token))
    if tokens:
        row.nbytes += len(llg_tokenizer.decode_bytes([int(t) for t in tokens]))
    _flush(row)


def _flush(row: _Row, final: bool = False) -> None:
    if final:
        row.detokenizer.finalize()
    piece = row.detokenizer.last_segment
    if piece:
        row.out.text += piece
        if row.on_piece is not None:
            row.on_piece(piece)


def _forced(row: _Row) -> list[int]:
    """Consume and return the tokens the grammar forces now (after the last consumed token),
    within the row's token budget; records the forced bytes for the tests' check."""
    matcher = row.matcher
    if matcher.is_stopped():
        return []
    ff_bytes = matcher.compute_ff_bytes()
    if ff_bytes:
        row.out.forced_bytes.append((row.nbytes, bytes(ff_bytes)))
    room = row.max_tokens - len(row.out.tokens)
    tokens = [int(t) for t in matcher.compute_ff_tokens()][:max(room, 0)]
    if tokens:
        matcher.consume_tokens(tokens)
        _check(matcher)
    return tokens


def _sample(logits: Any, temperature: float) -> Any:
    import mlx.core as mx

    if temperature <= 0:
        return mx.argmax(logits, axis=-1)
    return mx.random.categorical(logits * (1.0 / temperature), axis=-1)


def _masked(logits: Any, rows: Sequence[_Row], vocab_size: int) -> Any:
    """``logits`` (rows, vocab) with each row's grammar mask applied."""
    import llguidance.numpy
    import mlx.core as mx

    from app.engine.model.structured import apply_token_bitmask

    bitmask = llguidance.numpy.allocate_token_bitmask(len(rows), vocab_size)
    for i, row in enumerate(rows):
        llguidance.numpy.fill_next_token_bitmask(row.matcher, bitmask, i)
    return apply_token_bitmask(logits, mx.array(bitmask))


def _inspect(row: _Row, logits: Any) -> None:
    """Give the row's inspector the allowed tokens and their probabilities when they are few."""
    import mlx.core as mx
    import numpy as np

    if row.inspect is None:
        return
    allowed = np.flatnonzero(np.array(mx.isfinite(logits)))
    if 0 < len(allowed) <= int(getattr(row.inspect, "max_allowed", INSPECT_MAX_ALLOWED)):
        probs = np.array(mx.softmax(logits[mx.array(allowed)].astype(mx.float32), axis=-1))
        row.inspect(list(row.out.tokens), [int(t) for t in allowed], [float(p) for p in probs])


def decode_rows(lm: Any, cache: list[Any], first: Sequence[int], rows: Sequence[_Row], *, llg_tokenizer: Any,
                stop_ids: set[int], temperature: float = 0.0, step_kwargs: dict[str, Any] | None = None,
                cancelled: Callable[[int], bool] | None = None) -> int:
    """Decode ``rows`` (batch order = cache rows) from their last prompt tokens ``first``; returns
    the forward passes run. ``cache`` holds each row's prompt but its last token (left-padded
    ``BatchKVCache`` for several rows, filtered as rows finish); ``step_kwargs`` go to every pass,
    one row each (Qwen's ``rope_deltas``)."""
    import mlx.core as mx
    from mlx_vlm.generate.common import generation_stream

    for row, token in zip(rows, first, strict=True):
        forced = _forced(row)  # the grammar's opening (``{"``) rides with the prompt's last token
        _emit(row, forced, llg_tokenizer)
        row.pending, row.out.fed = [int(token), *forced], []
        if len(row.out.tokens) >= row.max_tokens:
            row.done, row.out.finish = True, "length"
            _flush(row, final=True)
    passes = 0
    active = list(range(len(rows)))  # the rows the cache still holds, in its order
    kwargs = dict(step_kwargs or {})
    with mx.stream(generation_stream):
        while not all(r.done for r in rows):
            for i, row in enumerate(rows):
                if not row.done and cancelled is not None and cancelled(i):
                    row.done, row.out.finish = True, "cancelled"
            keep = [k for k, i in enumerate(active) if not rows[i].done]
            if not keep:
                break
            if len(keep) < len(active):  # finished rows leave the batch (its caches shrink with them)
                index = mx.array(keep)
                for layer in cache:
                    layer.filter(index)
                kwargs = {k: v[index] for k, v in kwargs.items()}
                active = [active[k] for k in keep]
            width = min(len(rows[i].pending) for i in active)
            out = lm(mx.array([rows[i].pending[:width] for i in active]), cache=cache, **kwargs)
            logits = out.logits[:, -1, :]
            passes += 1
            for i in active:
                row = rows[i]
                row.out.fed.extend(row.pending[:width])
                row.pending = row.pending[width:]
                row.out.forward_passes += 1
            wanting = [k for k, i in enumerate(active) if not rows[i].pending]
            if not wanting:
                mx.eval([c.state for c in cache])
                continue
            masked = _masked(logits, [rows[i] for i in active], int(llg_tokenizer.vocab_size))
            chosen = _sample(masked, temperature).tolist()
            for k in wanting:
                i = active[k]
                row = rows[i]
                _inspect(row, masked[k])
                token = int(chosen[k])
                row.out.sampled += 1
                if token in stop_ids or row.matcher.is_stopped():
                    row.done, row.out.finish = True, "stop"
                    _flush(row, final=True)
                    continue
                row.matcher.consume_token(token)
                _check(row.matcher)
                _emit(row, [token], llg_tokenizer)
                if cancelled is not None and cancelled(i):  # checked at every token, as mlx-vlm's loop is
                    row.done, row.out.finish = True, "cancelled"
                    continue
                forced = _forced(row)
                _emit(row, forced, llg_tokenizer)
                if row.matcher.is_stopped():  # complete: only the stop token could follow, no pass for it
                    row.done, row.out.finish = True, "stop"
                    _flush(row, final=True)
                    continue
                if len(row.out.tokens) >= row.max_tokens:
                    row.done, row.out.finish = True, "length"
                    _flush(row, final=True)
                    continue
                row.pending = [token, *forced]
    return passes


def make_row(matcher: Any, max_tokens: int, detokenizer: Any, on_piece: PieceCallback | None = None,
             inspect: Inspector | None = None) -> _Row:
    """One row for :func:`decode_rows`."""
    return _Row(matcher=matcher, max_tokens=max_tokens, on_piece=on_piece, inspect=inspect,
                detokenizer=detokenizer)
