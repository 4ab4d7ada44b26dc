"""Several requests decoded together on mlx-vlm's batch generation.

Glue only. Each row is prefilled on its own up to its last token (model/prefill.py: the text
before the photo from the text cache, the photo through the vision cache, so photos of any size
mix and every row carries exactly the inputs of the one-at-a-time path); the rows' caches are
merged into mlx-vlm's ``BatchKVCache`` (left-padded), its ``PromptProcessingBatch`` runs the last
prompt tokens together with each row's own constrained-JSON processor, and its
``GenerationBatch`` decodes all rows in one forward pass per step. Prefilling a row alone costs
no more than in a batch on the CPU (measured: the same tokens per second), and it is what lets
every row start from the shared text. Families whose cache is not plain ``KVCache`` (sliding
windows: Gemma 3) go through mlx-vlm's ``BatchGenerator`` with cold rows, as before.

Each row streams to its own ``on_token``, is cancelled on its own (dropped from the batch) and
resolves its own handle. Under greedy decoding the reports equal the one-at-a-time ones (tested).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.engine.model.prefill import Prefilled, TextPrefixCache, prefill, prepare_model_inputs
from app.engine.model.requests import (
    CancelledError,
    GenerationOutput,
    GenerationRequest,
    GenerationStats,
    Handle,
    LoadedModel,
    render_prompt,
)

ProcessorFactory = Callable[[dict[str, Any]], Any]  # schema -> a fresh logits processor
# (request, prompt tokens) -> (the schema to enforce, its token budget): the host's budget hook
Planner = Callable[[GenerationRequest, int], tuple[dict[str, Any] | None, Any]]


@dataclass
class _Row:
    request: GenerationRequest
    handle: Handle
    uid: int = -1
    prompt_tokens: int = 0
    tokens: list[int] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)
    detokenizer: Any = None
    first_token_s: float = 0.0
    done: bool = False
    max_tokens: int = 0
    budget: Any = None
    reused: int = 0  # prompt tokens taken from the text cache


def _row_inputs(loaded: LoadedModel, req: GenerationRequest) -> tuple[list[int], dict[str, Any]]:
    """Token ids and the per-row prompt kwargs (embeddings, positions) of one request."""
    from mlx_vlm.generate.ar import _split_prompt_kwargs_per_row
    from mlx_vlm.utils import prepare_inputs, should_add_special_tokens

    model, processor = loaded.model, loaded.processor
    text = render_prompt(processor, model.config, req.prompt)
    inputs = prepare_inputs(processor, images=[req.image], prompts=text,
                            image_token_index=getattr(model.config, "image_token_index", None),
                            add_special_tokens=should_add_special_tokens(model.config.model_type, processor))
    input_ids, pixel_values, mask = inputs["input_ids"], inputs.get("pixel_values"), inputs.get("attention_mask")
    data = {k: v for k, v in inputs.items() if k not in ("input_ids", "pixel_values", "attention_mask")}
    embedded = model.get_input_embeddings(input_ids, pixel_values, mask=mask, **data)
    kwargs = {**data, **{k: v for k, v in embedded.to_dict().items() if v is not None}}
    return input_ids[0].tolist(), _split_prompt_kwargs_per_row(kwargs, 1)[0]


def _settle(row: _Row, loaded: LoadedModel, finish: str, start: float, *, forward_passes: int = 0,
            sampled: int = 0, batch_passes: int = 0) -> None:
    """Resolve the row's handle. ``forward_passes``: the passes this row needed (0: one per token,
    mlx-vlm's loop); ``batch_passes``: the passes the whole batch ran (rows move in lockstep)."""
    import mlx.core as mx

    row.done = True
    if finish == "cancelled":
        row.handle.set_exception(CancelledError(f"request {row.request.request_id} was cancelled"))
        return
    total = time.perf_counter() - start
    gen_s = max(total - row.first_token_s, 1e-9)
    stats = GenerationStats(prompt_tokens=row.prompt_tokens, generation_tokens=len(row.tokens),
                            cached_prompt_tokens=row.reused,
                            time_to_first_token_s=row.first_token_s, total_s=total,
                            prompt_tps=row.prompt_tokens / max(row.first_token_s, 1e-9),
                            generation_tps=len(row.tokens) / gen_s, peak_memory_gb=mx.get_peak_memory() / 1e9,
                            forward_passes=forward_passes, sampled_tokens=sampled, batch_passes=batch_passes)
    row.handle.set_result(GenerationOutput(request_id=row.request.request_id, text="".join(row.pieces),
                                           finish_reason=finish, stats=stats, model_id=loaded.model_id,
                                           budget=row.budget))


def _row_schema(row: _Row, plan: Planner, prompt_tokens: int) -> dict[str, Any] | None:
    """Set the row's token limit; the schema to enforce on it (None: unconstrained)."""
    row.prompt_tokens = prompt_tokens
    schema, row.budget = plan(row.request, prompt_tokens)
    limit = row.budget.max_tokens if row.budget is not None else row.request.max_tokens
    if limit is None:
        raise ValueError("a generation without a schema needs max_tokens")
    row.max_tokens = int(limit)
    return schema if row.request.constrain else None


def _plan_row(row: _Row, plan: Planner, prompt_tokens: int, make_processor: ProcessorFactory) -> list[Any]:
    """Set the row's token limit; its logits processors (one constrained-JSON processor or none)."""
    schema = _row_schema(row, plan, prompt_tokens)
    return [make_processor(schema)] if schema is not None else []


def _deliver(row: _Row, token: int, finish: str | None, loaded: LoadedModel, start: float) -> None:
    """One generated token (or the stop) of a row: stream it, settle the row when it finished."""
    if row.done:
        return
    if not row.first_token_s:
        row.first_token_s = time.perf_counter() - start
    if finish != "stop":
        row.tokens.append(int(token))
        row.detokenizer.add_token(int(token))
    if finish is not None:
        row.detokenizer.finalize()
    piece = row.detokenizer.last_segment
    if piece:
        row.pieces.append(piece)
        if row.request.on_token is not None:
            row.request.on_token(row.request.request_id, piece)
    if finish is not None:
        _settle(row, loaded, finish, start)


def _last_step_inputs(loaded: LoadedModel, done: list[Prefilled]) -> tuple[Any, dict[str, Any]]:
    """The rows' last prompt tokens embedded, and their position metadata stacked by row."""
    import mlx.core as mx

    model = loaded.model
    embeds = mx.concatenate([model.get_input_embeddings(mx.array([[d.ids[-1]]]), None).inputs_embeds
                             for d in done], axis=0)
    kwargs: dict[str, Any] = {}
    if all("position_ids" in d.last_kwargs for d in done):
        ids = [d.last_kwargs["position_ids"] for d in done]
        kwargs["position_ids"] = mx.concatenate(ids, axis=1 if ids[0].ndim == 3 else 0)
    if all("rope_deltas" in d.last_kwargs for d in done):
        kwargs["rope_deltas"] = mx.concatenate([d.last_kwargs["rope_deltas"].reshape(1, -1) for d in done], axis=0)
    return embeds, kwargs


def generate_together(loaded: LoadedModel, rows: Sequence[tuple[GenerationRequest, Handle]],
                      make_processor: ProcessorFactory, plan: Planner, text: TextPrefixCache | None = None,
                      weights_key: str = "base") -> None:
    """Decode ``rows`` in one batch; every handle gets its own result or exception.

    All rows must be for the same weights (the caller applies the adapter first); ``text`` is the
    cache of the text before the photo under ``weights_key`` (rows with ``cache=False`` skip it).
    """
    import mlx.core as mx
    from mlx_vlm.generate.ar import PromptProcessingBatch
    from mlx_vlm.generate.common import generation_stream
    from mlx_vlm.models.cache import BatchKVCache
    from mlx_vlm.tokenizer_utils import make_streaming_detokenizer

    live = [_Row(req, handle) for req, handle in rows if not handle.cancel_requested
            and handle.set_running_or_notify_cancel()]
    if not live:
        return
    if any(r.request.temperature > 0 for r in live):
        raise ValueError("batched generation decodes greedily; a request asked for temperature > 0")
    mx.reset_peak_memory()
    start = time.perf_counter()
    try:
        done: list[Prefilled] = []
        # Constrained rows run on the jump-forward loop, which also takes caches that are not plain
        # KVCache (Gemma 3's rotating layers merge into mlx-vlm's BatchRotatingKVCache).
        fast = all(r.request.constrain and r.request.schema is not None for r in live)
        for row in live:
            inputs = prepare_model_inputs(loaded, render_prompt(loaded.processor, loaded.model.config,
                                                                row.request.prompt), row.request.image)
            one = prefill(loaded, inputs, text if row.request.cache else None, weights_key, any_cache=fast)
            if one is None:  # this family's cache cannot be prefilled per row: mlx-vlm's own batch path
                _generate_cold(loaded, live, make_processor, plan, start)
                return
            done.append(one)
        schemas = [_row_schema(row, plan, len(d.ids)) for row, d in zip(live, done, strict=True)]
        if fast and all(schema is not None for schema in schemas):  # forced tokens skipped
            _decode_fast(loaded, live, done, [s for s in schemas if s is not None], start)
            return
        processors: list[list[Callable[[Any, Any], Any]] | None] = [
            [make_processor(schema)] if schema is not None else [] for schema in schemas]
        for uid, (row, d) in enumerate(zip(live, done, strict=True)):
            row.uid, row.reused = uid, d.reused
            row.detokenizer = make_streaming_detokenizer(loaded.processor)
        lm = loaded.model.language_model
        tokenizer = getattr(loaded.processor, "tokenizer", loaded.processor)
        with mx.stream(generation_stream):
            cache = [BatchKVCache.merge([d.cache[i] for d in done]) for i in range(len(done[0].cache))]
            embeds, kwargs = _last_step_inputs(loaded, done)
            prompt = PromptProcessingBatch(lm, [r.uid for r in live], [[d.ids[-1]] for d in done],
                                           [r.max_tokens for r in live], embeds, kwargs,
                                           logits_processors=processors, warm_cache=cache, greedy_sampling=True)
            batch = prompt.generate(lambda x: mx.argmax(x, axis=-1), tokenizer.stopping_criteria,
                                    compute_logprobs=False)
            del done, cache, prompt
            by_uid = {r.uid: r for r in live}
            while batch.uids:
                cancelled = [i for i, uid in enumerate(batch.uids) if by_uid[uid].handle.cancel_requested]
                for i in cancelled:
                    _settle(by_uid[batch.uids[i]], loaded, "cancelled", start)
                if cancelled:
                    batch.filter([i for i in range(len(batch.uids)) if i not in cancelled])
                    continue
                for resp in batch.next():
                    _deliver(by_uid[resp.uid], resp.token, resp.finish_reason, loaded, start)
        for row in live:
            if not row.done:
                _settle(row, loaded, "cancelled" if row.handle.cancel_requested else "length", start)
    except BaseException as exc:  # noqa: BLE001 - every unfinished row learns why
        for row in live:
            if not row.done:
                row.done = True
                row.handle.set_exception(exc)
    finally:
        mx.clear_cache()


def _decode_fast(loaded: LoadedModel, live: list[_Row], done: list[Prefilled], schemas: list[dict[str, Any]],
                 start: float) -> None:
    """The constrained rows on the jump-forward loop (model/decode.py): the prefilled rows merged
    into one left-padded ``BatchKVCache``, every pass feeding each row the same number of tokens."""
    from mlx_vlm.tokenizer_utils import make_streaming_detokenizer

    from app.engine.model.constrained import compile_grammar, step_kwargs, stop_ids
    from app.engine.model.decode import decode_rows, make_row, new_matcher

    grammars = [compile_grammar(loaded, schema) for schema in schemas]
    rows = []
    for row, d, grammar in zip(live, done, grammars, strict=True):
        row.reused = d.reused

        def on_piece(piece: str, row: _Row = row) -> None:
            if not row.first_token_s:
                row.first_token_s = time.perf_counter() - start
            row.pieces.append(piece)
            if row.request.on_token is not None:
                row.request.on_token(row.request.request_id, piece)

        rows.append(make_row(new_matcher(grammar.llg_tokenizer, grammar.grammar), row.max_tokens,
                             make_streaming_detokenizer(loaded.processor), on_piece, row.request.inspect))
    cache = [type(layer).merge([d.cache[i] for d in done]) for i, layer in enumerate(done[0].cache)]
    passes = decode_rows(loaded.model.language_model, cache, [d.ids[-1] for d in done], rows,
                         llg_tokenizer=grammars[0].llg_tokenizer, stop_ids=stop_ids(loaded, grammars[0]),
                         step_kwargs=step_kwargs(done), cancelled=lambda i: live[i].handle.cancel_requested)
    del cache
    for row, decoded in zip(live, rows, strict=True):
        out = decoded.out
        row.tokens = out.tokens
        _settle(row, loaded, out.finish, start, forward_passes=out.forward_passes, sampled=out.sampled,
                batch_passes=passes)


def _generate_cold(loaded: LoadedModel, live: list[_Row], make_processor: ProcessorFactory, plan: Planner,
                   start: float) -> None:
    """mlx-vlm's ``BatchGenerator`` with every row prefilled from nothing (rows settle as they finish)."""
    from mlx_vlm.generate.ar import BatchGenerator
    from mlx_vlm.tokenizer_utils import make_streaming_detokenizer

    prompts: list[list[int]] = []
    kwargs: list[dict[str, Any]] = []
    processors: list[list[Callable[[Any, Any], Any]] | None] = []
    for row in live:
        ids, row_kwargs = _row_inputs(loaded, row.request)
        row.detokenizer = make_streaming_detokenizer(loaded.processor)
        prompts.append(ids)
        kwargs.append(row_kwargs)
        processors.append(_plan_row(row, plan, len(ids), make_processor))
    gen = BatchGenerator(loaded.model.language_model, loaded.processor, prefill_batch_size=len(live),
                         completion_batch_size=len(live), compute_logprobs=False)
    try:
        uids = gen.insert(prompts, [r.max_tokens for r in live], prompt_kwargs=kwargs,
                          logits_processors=processors)
        by_uid = {}
        for row, uid in zip(live, uids, strict=True):
            row.uid = uid
            by_uid[uid] = row
        while gen.has_work and not all(r.done for r in live):
            for row in live:
                if not row.done and row.handle.cancel_requested:
                    gen.remove(row.uid)
                    _settle(row, loaded, "cancelled", start)
            _, responses = gen.next()
            for resp in responses:
                _deliver(by_uid[resp.uid], resp.token, resp.finish_reason, loaded, start)
        for row in live:
            if not row.done:
                _settle(row, loaded, "cancelled" if row.handle.cancel_requested else "length", start)
    finally:
        gen.close()
