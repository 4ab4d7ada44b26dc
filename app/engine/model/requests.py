"""What travels to the model thread and back: a generation request, its output, its handle.

These types are shared by the one-at-a-time loop (host.py) and the batched one (batch.py), which
both import them from here, so neither imports the other's module to name a request.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from app.engine.critique.budget import BoundedSchema, TokenBudget
from app.engine.critique.prompts import Prompt
from app.engine.critique.result import GenerationStats
from app.engine.model.weights_ref import AdapterRef

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
    # A cap on generated tokens. None: the host derives the limit from ``schema`` and the loaded
    # tokenizer so that a constrained report always completes (see critique/budget.py).
    max_tokens: int | None = None
    temperature: float = 0.0
    # Constrain output to this JSON schema when given. A BoundedSchema lets the host lower its
    # string bound to fit the model's context; with ``constrain=False`` it only sets the limit.
    schema: dict[str, Any] | BoundedSchema | None = None
    constrain: bool = True
    on_token: TokenCallback | None = None
    request_id: str = field(default_factory=new_request_id)
    adapter: AdapterRef | None = None  # the weights that answer: None = the base model (``ModelHost.adapter_hook``)
    # Reuse the photo's vision features and the prompt prefix's K/V from earlier requests (see
    # app/engine/model/caches.py); False computes everything afresh (benchmarks, exactness tests).
    cache: bool = True
    # Called on the model thread at each sampled step of a constrained generation that allows at
    # most a few tokens, with (tokens so far, allowed ids, their probabilities): triage reads the
    # score digits' distribution from it (model/decode.py).
    inspect: Callable[[list[int], list[int], list[float]], None] | None = None


@dataclass
class GenerationOutput:
    request_id: str
    text: str
    finish_reason: str  # "stop" | "length" | "cancelled"
    stats: GenerationStats
    model_id: str
    budget: TokenBudget | None = None  # how the token limit was chosen (None: the caller's max_tokens)


class Handle(Future):
    """A future for one queued request, with its id and a cancel flag checked at every token."""

    def __init__(self, request_id: str):
        super().__init__()
        self.request_id = request_id
        self._cancel = threading.Event()

    def cancel(self) -> bool:
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


def has_chat_template(processor: Any) -> bool:
    """Whether the processor (or its tokenizer) renders chat turns; a model without one takes one text."""
    tokenizer = getattr(processor, "tokenizer", None)
    return bool(getattr(processor, "chat_template", None) or getattr(tokenizer, "chat_template", None))


def render_prompt(processor: Any, config: Any, prompt: Prompt, num_images: int = 1) -> str:
    """The exact prompt text the model sees; mlx-vlm's trainer renders training turns the same way."""
    from mlx_vlm import apply_chat_template

    messages = prompt.messages()
    if not has_chat_template(processor):
        # mlx-vlm keeps only the last turn when there is no template (PaliGemma): the advisor's
        # instructions would be dropped without a word, so they go into the one turn there is.
        text_turns = [m["content"] for m in messages if isinstance(m.get("content"), str) and m["content"]]
        messages = [{"role": "user", "content": "\n\n".join(text_turns)}]
    text = apply_chat_template(processor, config, messages, add_generation_prompt=True, num_images=num_images)
    if not isinstance(text, str):
        raise TypeError(f"mlx-vlm rendered the prompt as {type(text).__name__}, not text")
    return text
