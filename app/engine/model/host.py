"""The one resident model, owned by one long-lived thread.

MLX streams belong to the thread that created them, so loading, generating and adapter changes
all run on the host's worker thread. Callers queue work with :meth:`ModelHost.generate` or
:meth:`ModelHost.call` and get a :class:`Handle` (a future with a request id and a cancel flag).
Tokens come back through a per-request callback, invoked on the worker thread: the GUI turns it
into a Qt signal, the CLI prints it. Cancellation is checked at every token.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from app.engine.critique.prompts import Prompt
from app.engine.critique.result import GenerationStats  # re-exported: what one generation cost
from app.engine.model.source import resolve_model

log = logging.getLogger(__name__)

TokenCallback = Callable[[str, str], None]  # (request_id, text chunk)

_ids = itertools.count(1)


def new_request_id(prefix: str = "req") -> str:
    return f"{prefix}-{next(_ids)}-{int(time.time() * 1000) % 100000}"


class CancelledError(RuntimeError):
    """The request was cancelled before it finished."""


@dataclass
class GenerationRequest:
    prompt: Prompt
    image: Image.Image
    max_tokens: int = 1500
    temperature: float = 0.0
    schema: dict[str, Any] | None = None  # constrain output to this JSON schema when given
    on_token: TokenCallback | None = None
    request_id: str = field(default_factory=new_request_id)
    adapter: Any = None  # the weights that answer: None = the base model (see ``ModelHost.adapter_hook``)


@dataclass
class GenerationOutput:
    request_id: str
    text: str
    finish_reason: str  # "stop" | "length" | "cancelled"
    stats: GenerationStats
    model_id: str


class Handle(Future):
    """A future for one queued request, with its id and a cancel flag checked at every token."""

    def __init__(self, request_id: str):
        super().__init__()
        self.request_id = request_id
        self._cancel = threading.Event()

    def cancel(self) -> bool:  # type: ignore[override]
        self._cancel.set()
        return super().cancel() or True

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()


@dataclass
class LoadedModel:
    """What the worker thread holds; passed to :meth:`ModelHost.call` functions."""

    model: Any
    processor: Any
    path: Path
    model_id: str
    load_seconds: float
    state: dict[str, Any] = field(default_factory=dict)  # for extensions (adapters, caches)


def render_prompt(processor: Any, config: Any, prompt: Prompt, num_images: int = 1) -> str:
    """The exact prompt text the model sees; mlx-vlm's trainer renders training turns the same way."""
    from mlx_vlm import apply_chat_template

    return apply_chat_template(processor, config, prompt.messages(), add_generation_prompt=True,
                               num_images=num_images)


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

    def __init__(self, model_ref: str | None = None):
        self.model_ref = model_ref
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._loaded: LoadedModel | None = None
        self._load_error: BaseException | None = None
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

    def _generate(self, loaded: LoadedModel, req: GenerationRequest, handle: Handle) -> GenerationOutput:
        import mlx.core as mx
        from mlx_vlm import stream_generate

        if self.adapter_hook is not None:
            self.adapter_hook(loaded, req.adapter)
        elif req.adapter is not None:
            raise RuntimeError("this model host has no adapter support installed")
        text_prompt = render_prompt(loaded.processor, loaded.model.config, req.prompt)
        kwargs: dict[str, Any] = {"max_tokens": req.max_tokens, "temperature": req.temperature}
        if req.schema is not None:
            kwargs["logits_processors"] = [self._logits_processor(loaded, req.schema)]
        mx.reset_peak_memory()
        stats = GenerationStats()
        pieces: list[str] = []
        finish = "length"
        start = time.perf_counter()
        last = None
        for result in stream_generate(loaded.model, loaded.processor, text_prompt, image=[req.image], **kwargs):
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
        if finish == "cancelled":
            raise CancelledError(f"request {req.request_id} was cancelled")
        return GenerationOutput(request_id=req.request_id, text="".join(pieces), finish_reason=finish,
                                stats=stats, model_id=loaded.model_id)
