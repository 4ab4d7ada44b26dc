"""The one resident model, owned by one long-lived thread.

MLX streams belong to the thread that created them, so loading, generating and adapter changes
all run on the host's worker thread. Callers queue work with :meth:`ModelHost.generate` or
:meth:`ModelHost.call` and get a :class:`Handle` (a future with a request id and a cancel flag).
Tokens come back through a per-request callback, invoked on the worker thread: the GUI turns it
into a Qt signal, the CLI prints it. Cancellation is checked at every token.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from app.engine.critique.budget import (
    BoundedSchema,
    TokenBudget,
    context_window,
    min_token_bytes,
    plan_budget,
)
from app.engine.critique.result import GenerationStats  # re-exported: what one generation cost
from app.engine.model.caches import CacheBudget, caches_of, photo_key, weights_of
from app.engine.model.prefill import (
    TextPrefixCache,
    as_prompt_state,
    last_media_index,
    prefill,
    prepare_model_inputs,
)
from app.engine.model.requests import (  # re-exported: callers name requests through the host
    CancelledError,
    GenerationOutput,
    GenerationRequest,
    Handle,
    LoadedModel,
    TokenCallback,
    new_request_id,
    render_prompt,
)
from app.engine.model.source import resolve_model

__all__ = ["CancelledError", "GenerationOutput", "GenerationRequest", "GenerationStats", "Handle", "LoadedModel",
           "ModelHost", "TokenCallback", "new_request_id", "render_prompt"]

log = logging.getLogger(__name__)

class _BatchSlot:
    """The queue entry of a batch: its rows' handles, failed together if the batch cannot start."""

    def __init__(self, rows: list[tuple[GenerationRequest, Handle]]):
        self.rows = rows

    def fail(self, exc: BaseException) -> None:
        for _, handle in self.rows:
            if not handle.done():
                if handle.running() or handle.set_running_or_notify_cancel():
                    handle.set_exception(exc)


_STOP = object()
_HOSTS: weakref.WeakSet[ModelHost] = weakref.WeakSet()


@atexit.register
def _shutdown_all_hosts() -> None:
    """Stop every model thread and free the main thread's streams before the interpreter goes."""
    for host in list(_HOSTS):
        host.shutdown(timeout=30)
    _clear_thread_streams()


def _clear_thread_streams() -> None:
    """Free this thread's MLX streams: mlx >= 0.32 aborts at exit if a thread's streams outlive it."""
    import sys

    if "mlx.core" in sys.modules:
        sys.modules["mlx.core"].clear_streams()


class ModelHost:
    """Owns the model on one worker thread. Thread-safe to call from anywhere."""

    def __init__(self, model_ref: str | None = None, *, cache_budget: CacheBudget | None = None):
        self.model_ref = model_ref
        self.cache_budget = cache_budget or CacheBudget()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._loaded: LoadedModel | None = None
        # Called on the worker before each generation with (loaded, request.adapter) so the right
        # adapter (or none) is active; installed by the adapter manager.
        self.adapter_hook: Callable[[LoadedModel, Any], None] | None = None
        _HOSTS.add(self)

    # ---- lifecycle -------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="mondrian-model", daemon=True)
                self._thread.start()

    def load(self) -> Handle:
        """Queue the model load (a no-op when loaded). The handle's result is the LoadedModel."""
        return self.call(lambda loaded: loaded, request_id=new_request_id("load"))

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    @property
    def model_id(self) -> str:
        return self._loaded.model_id if self._loaded else (self.model_ref or "")

    def shutdown(self, timeout: float | None = 10.0) -> None:
        """Stop the worker after the queued work; drop the model."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._queue.put(_STOP)
        thread.join(timeout)

    # ---- work --------------------------------------------------------------------------------
    def call(self, fn: Callable[[LoadedModel], Any], *, request_id: str | None = None) -> Handle:
        """Run ``fn(loaded_model)`` on the model thread (loading first if needed)."""
        handle = Handle(request_id or new_request_id("call"))
        self._ensure_thread()
        self._queue.put((handle, fn))
        return handle

    def generate(self, request: GenerationRequest) -> Handle:
        """Queue a generation; the handle's result is a :class:`GenerationOutput`."""
        handle = Handle(request.request_id)
        self._ensure_thread()
        self._queue.put((handle, lambda loaded: self._generate(loaded, request, handle)))
        return handle

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Handle]:
        """Queue requests to be decoded together (greedy); one handle per request, each resolving,
        streaming and cancelling on its own. Requests for different adapters run as one batch each."""
        handles = [Handle(r.request_id) for r in requests]
        groups: dict[int, list[int]] = {}
        for i, request in enumerate(requests):
            same = next((g for g in groups.values() if requests[g[0]].adapter == request.adapter), None)
            (same if same is not None else groups.setdefault(i, [])).append(i)
        self._ensure_thread()
        for members in groups.values():
            rows = [(requests[i], handles[i]) for i in members]
            self._queue.put((_BatchSlot(rows), lambda loaded, rows=rows: self._generate_batch(loaded, rows)))
        return handles

    # ---- worker ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._loaded = None
            _clear_thread_streams()

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            handle, fn = item
            if isinstance(handle, _BatchSlot):  # the rows' handles are settled by the batch itself
                try:
                    fn(self._load_once())
                except BaseException as exc:  # noqa: BLE001 - reported through the rows' futures
                    handle.fail(exc)
                continue
            if handle.cancel_requested or not handle.set_running_or_notify_cancel():
                continue
            try:
                loaded = self._load_once()
                handle.set_result(fn(loaded))
            except BaseException as exc:  # noqa: BLE001 - reported through the future
                handle.set_exception(exc)

    def _load_once(self) -> LoadedModel:
        if self._loaded is not None:
            return self._loaded
        start = time.perf_counter()
        path = resolve_model(self.model_ref)
        from mlx_vlm import load  # lazy: importing mlx_vlm costs 1-2 s

        model, processor = load(str(path))
        model_id = self.model_ref or str(path)
        self._loaded = LoadedModel(model=model, processor=processor, path=path, model_id=model_id,
                                   load_seconds=time.perf_counter() - start)
        log.info("loaded %s in %.2fs", model_id, self._loaded.load_seconds)
        return self._loaded

    def _logits_processor(self, loaded: LoadedModel, schema: dict[str, Any]) -> Any:
        from app.engine.model.structured import json_schema_logits_processor

        tokenizer = getattr(loaded.processor, "tokenizer", loaded.processor)
        return json_schema_logits_processor(tokenizer, schema)

    def _apply_weights(self, loaded: LoadedModel, req: GenerationRequest) -> None:
        """The request's adapter (or none) on the model, and the caches told which weights answer."""
        if self.adapter_hook is not None:
            self.adapter_hook(loaded, req.adapter)
        elif req.adapter is not None:
            raise RuntimeError("this model host has no adapter support installed")
        caches = caches_of(loaded, self.cache_budget)
        caches.relieve()
        caches.vision.weights_key = weights_of(loaded).vision_key
        caches.vision.enabled = req.cache and caches.vision.store.max_bytes > 0

    def _generate_batch(self, loaded: LoadedModel, rows: list[tuple[GenerationRequest, Handle]]) -> None:
        from app.engine.model.batch import generate_together

        self._apply_weights(loaded, rows[0][0])
        caches = caches_of(loaded, self.cache_budget)
        generate_together(loaded, rows, lambda schema: self._logits_processor(loaded, schema),
                          lambda req, prompt_tokens: self._plan(loaded, req, prompt_tokens),
                          caches.text, weights_of(loaded).key)

    def _generate(self, loaded: LoadedModel, req: GenerationRequest, handle: Handle) -> GenerationOutput:
        import mlx.core as mx
        from mlx_vlm import stream_generate

        self._apply_weights(loaded, req)
        text_prompt = render_prompt(loaded.processor, loaded.model.config, req.prompt)
        inputs = prepare_model_inputs(loaded, text_prompt, req.image)
        schema, budget = self._plan(loaded, req, int(inputs["input_ids"].shape[-1]))
        max_tokens = budget.max_tokens if budget is not None else req.max_tokens
        if max_tokens is None:
            raise ValueError("a generation without a schema needs max_tokens")
        if schema is not None and req.constrain:
            return self._generate_constrained(loaded, req, handle, inputs, schema, max_tokens, budget)
        kwargs: dict[str, Any] = {"max_tokens": max_tokens, "temperature": req.temperature, **inputs}
        caches = caches_of(loaded, self.cache_budget)
        prefix = caches.prefix
        prefix_key = (weights_of(loaded).key, photo_key(req.image))
        prefix_state = prefix.state_for(prefix_key) if req.cache and prefix.enabled else None
        reused = None  # prompt tokens taken from the text-before-the-photo cache (None: mlx-vlm counts)
        mx.reset_peak_memory()
        start = time.perf_counter()  # the prefill below is part of the time to the first token
        if prefix_state is not None:
            prefix_state, reused = self._warm_state(loaded, inputs, prefix_state, caches.text)
            kwargs["prompt_cache_state"] = prefix_state
        stats = GenerationStats()
        pieces: list[str] = []
        finish = "length"
        last = None
        images: list[Any] = [req.image]  # mlx-vlm takes paths or PIL images (its hint says str)
        for result in stream_generate(loaded.model, loaded.processor, text_prompt, image=images, **kwargs):
            if not stats.time_to_first_token_s:
                stats.time_to_first_token_s = time.perf_counter() - start
            last = result
            if result.text:
                pieces.append(result.text)
                if req.on_token is not None:
                    req.on_token(req.request_id, result.text)
            if handle.cancel_requested:
                finish = "cancelled"
                break
            if result.finish_reason:
                finish = "stop" if result.finish_reason == "stop" else str(result.finish_reason)
        stats.total_s = time.perf_counter() - start
        if last is not None:
            stats.prompt_tokens = int(last.prompt_tokens)
            stats.generation_tokens = int(last.generation_tokens)
            stats.prompt_tps = float(last.prompt_tps)
            stats.generation_tps = float(last.generation_tps)
        stats.peak_memory_gb = mx.get_peak_memory() / 1e9
        stats.cached_prompt_tokens = int(getattr(last, "cached_tokens", 0) or 0) if reused is None else reused
        if prefix_state is not None and finish != "cancelled":
            prefix.give_back(prefix_key, prefix_state)  # a cancelled request's K/V is not kept
            prefix.reused_tokens += stats.cached_prompt_tokens
            prefix.prompt_tokens += stats.prompt_tokens
        if finish == "cancelled":
            raise CancelledError(f"request {req.request_id} was cancelled")
        return GenerationOutput(request_id=req.request_id, text="".join(pieces), finish_reason=finish,
                                stats=stats, model_id=loaded.model_id, budget=budget)

    def _generate_constrained(self, loaded: LoadedModel, req: GenerationRequest, handle: Handle,
                              inputs: dict[str, Any], schema: dict[str, Any], max_tokens: int,
                              budget: TokenBudget | None) -> GenerationOutput:
        """A constrained request on the jump-forward loop (model/constrained.py): the same prompt
        caches, forced tokens fed with the sampled one, the per-photo state given back keyed by
        the ids its cache holds."""
        import mlx.core as mx

        from app.engine.model.constrained import compile_grammar, generate_constrained

        caches = caches_of(loaded, self.cache_budget)
        prefix = caches.prefix
        prefix_key = (weights_of(loaded).key, photo_key(req.image))
        state = prefix.state_for(prefix_key) if req.cache and prefix.enabled else None
        mx.reset_peak_memory()
        start = time.perf_counter()
        first: list[float] = []

        def on_piece(piece: str) -> None:
            if not first:
                first.append(time.perf_counter() - start)
            if req.on_token is not None:
                req.on_token(req.request_id, piece)

        done = generate_constrained(loaded, inputs, compile_grammar(loaded, schema), max_tokens,
                                    temperature=req.temperature, text=caches.text if req.cache else None,
                                    weights_key=weights_of(loaded).key, state=state, on_piece=on_piece,
                                    inspect=req.inspect, cancelled=lambda: handle.cancel_requested)
        out = done.decoded
        total = time.perf_counter() - start
        ttft = first[0] if first else total
        stats = GenerationStats(prompt_tokens=done.prompt_tokens, generation_tokens=len(out.tokens),
                                time_to_first_token_s=ttft, total_s=total,
                                prompt_tps=(done.prompt_tokens - done.reused) / max(ttft, 1e-9),
                                generation_tps=len(out.tokens) / max(total - ttft, 1e-9),
                                peak_memory_gb=mx.get_peak_memory() / 1e9, cached_prompt_tokens=done.reused,
                                forward_passes=out.forward_passes, sampled_tokens=out.sampled)
        if out.finish == "cancelled":
            raise CancelledError(f"request {req.request_id} was cancelled")
        if state is not None and done.reusable:
            state.update(done.cache_ids, done.cache)
            prefix.give_back(prefix_key, state)
            prefix.reused_tokens += done.reused
            prefix.prompt_tokens += done.prompt_tokens
        return GenerationOutput(request_id=req.request_id, text=out.text, finish_reason=out.finish,
                                stats=stats, model_id=loaded.model_id, budget=budget)

    def _warm_state(self, loaded: LoadedModel, inputs: dict[str, Any], state: Any,
                    text: TextPrefixCache) -> tuple[Any, int | None]:
        """The prompt cache state to hand ``stream_generate``: this photo's own state when it covers
        the photo (a re-run, another pass with the same text before the photo: mlx-vlm reuses it),
        else a state prefilled up to the last token with the text before the photo taken from
        ``text`` (model/prefill.py). The int is the count of reused tokens when it is ours."""
        ids = inputs["input_ids"][0].tolist()
        if state.cache is not None and state.find_prefix_length(ids) > last_media_index(loaded, ids):
            return state, None
        done = prefill(loaded, inputs, text, weights_of(loaded).key)
        if done is None:
            return state, None
        return as_prompt_state(done), done.reused

    def _plan(self, loaded: LoadedModel, req: GenerationRequest,
              prompt_tokens: int) -> tuple[dict[str, Any] | None, TokenBudget | None]:
        """The budget hook: the schema and token limit for this request on this model and prompt.

        A BoundedSchema may have its string bound lowered to fit the context window; a plain dict
        is used as given (the caller chose it), its worst case still setting the limit."""
        if req.schema is None:
            return None, None
        if isinstance(req.schema, BoundedSchema):
            bounded, context = req.schema, context_window(loaded.model.config)
        else:
            fixed: dict[str, Any] = req.schema

            def same(_chars: int) -> dict[str, Any]:
                return fixed

            bounded, context = BoundedSchema(same, 1), None
        return plan_budget(bounded, token_bytes=_token_bytes(loaded), prompt_tokens=prompt_tokens,
                           context=context, user_cap=req.max_tokens)


def _token_bytes(loaded: LoadedModel) -> int:
    """The tokenizer's shortest ordinary token in bytes, computed once per loaded model."""
    if "min_token_bytes" not in loaded.state:
        from mlx_vlm.structured import build_json_schema_logits_processor

        tokenizer = getattr(loaded.processor, "tokenizer", loaded.processor)
        probe = build_json_schema_logits_processor(tokenizer, {"type": "boolean"})  # builds mlx-vlm's cached view
        loaded.state["min_token_bytes"] = min_token_bytes(probe.llg_tokenizer)
    return int(loaded.state["min_token_bytes"])
