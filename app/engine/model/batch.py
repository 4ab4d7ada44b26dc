"""Several requests decoded together on mlx-vlm's ``BatchGenerator``.

Glue only, following mlx-vlm 0.7.10's own ``_generate_batch``: each request's inputs are
prepared and embedded on its own (so each photo goes through the vision cache, photos of any
size mix in one batch, and every row carries exactly the inputs the one-at-a-time path uses),
then the rows go to one ``BatchGenerator`` with their own constrained-JSON processor. Each row
streams to its own ``on_token``, is cancelled on its own (``BatchGenerator.remove``) and
resolves its own handle. Under greedy decoding the reports equal the one-at-a-time ones (tested).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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


def _settle(row: _Row, loaded: LoadedModel, finish: str, start: float) -> None:
    import mlx.core as mx

    row.done = True
    if finish == "cancelled":
        row.handle.set_exception(CancelledError(f"request {row.request.request_id} was cancelled"))
        return
    total = time.perf_counter() - start
    gen_s = max(total - row.first_token_s, 1e-9)
    stats = GenerationStats(prompt_tokens=row.prompt_tokens, generation_tokens=len(row.tokens),
                            time_to_first_token_s=row.first_token_s, total_s=total,
                            prompt_tps=row.prompt_tokens / max(row.first_token_s, 1e-9),
                            generation_tps=len(row.tokens) / gen_s, peak_memory_gb=mx.get_peak_memory() / 1e9)
    row.handle.set_result(GenerationOutput(request_id=row.request.request_id, text="".join(row.pieces),
                                           finish_reason=finish, stats=stats, model_id=loaded.model_id,
                                           budget=row.budget))


def generate_together(loaded: LoadedModel, rows: Sequence[tuple[GenerationRequest, Handle]],
                      make_processor: ProcessorFactory, plan: Planner) -> None:
    """Decode ``rows`` in one batch; every handle gets its own result or exception.

    All rows must be for the same weights (the caller applies the adapter first).
    """
    import mlx.core as mx
    from mlx_vlm.generate.ar import BatchGenerator
    from mlx_vlm.tokenizer_utils import make_streaming_detokenizer

    live = [_Row(req, handle) for req, handle in rows if not handle.cancel_requested
            and handle.set_running_or_notify_cancel()]
    if not live:
        return
    if any(r.request.temperature > 0 for r in live):
        raise ValueError("batched generation decodes greedily; a request asked for temperature > 0")
    mx.reset_peak_memory()
    start = time.perf_counter()
    prompts: list[list[int]] = []
    kwargs: list[dict[str, Any]] = []
    processors: list[list[Callable[[Any, Any], Any]] | None] = []
    for row in live:
        ids, row_kwargs = _row_inputs(loaded, row.request)
        row.prompt_tokens = len(ids)
        row.detokenizer = make_streaming_detokenizer(loaded.processor)
        prompts.append(ids)
        kwargs.append(row_kwargs)
        schema, row.budget = plan(row.request, len(ids))
        limit = row.budget.max_tokens if row.budget is not None else row.request.max_tokens
        if limit is None:
            raise ValueError("a generation without a schema needs max_tokens")
        row.max_tokens = int(limit)
        constrained = schema is not None and row.request.constrain
        processors.append([make_processor(schema)] if constrained and schema is not None else [])
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
                row = by_uid[resp.uid]
                if row.done:
                    continue
                if not row.first_token_s:
                    row.first_token_s = time.perf_counter() - start
                if resp.finish_reason != "stop":
                    row.tokens.append(int(resp.token))
                    row.detokenizer.add_token(int(resp.token))
                if resp.finish_reason is not None:
                    row.detokenizer.finalize()
                piece = row.detokenizer.last_segment
                if piece:
                    row.pieces.append(piece)
                    if row.request.on_token is not None:
                        row.request.on_token(row.request.request_id, piece)
                if resp.finish_reason is not None:
                    _settle(row, loaded, "stop" if resp.finish_reason == "stop" else str(resp.finish_reason),
                            start)
        for row in live:
            if not row.done:
                _settle(row, loaded, "cancelled" if row.handle.cancel_requested else "length", start)
    except BaseException as exc:  # noqa: BLE001 - every unfinished row learns why
        for row in live:
            if not row.done:
                row.done = True
                row.handle.set_exception(exc)
    finally:
        gen.close()
        mx.clear_cache()
