"""Model strategies for the headless service (seeds 000-002): which model answers each request.

``--model_mode`` picks one at start-up:

* ``base``: never an adapter. A request for the ``lora`` analysis mode falls back along the
  chain and says why.
* ``fine_tuned``: every generation runs with the ``--lora_path`` adapter. The service refuses to
  start unless that adapter validates and applies to the loaded model.
* ``ab_test``: each request goes to the fine-tuned model with probability ``--ab_test_split``
  (seedable RNG), else to the base; jobs record ``ab_test_fine_tuned`` / ``ab_test_base``.

Without a model strategy (the GUI, ``critique``) the analysis mode decides: ``lora`` uses the
advisor's active adapter. A strategy produces a :class:`ModelRoute` per request; the service runs
the request under it (:func:`use_route`) and the model host pins every generation request made
in that thread to the route's adapter (:func:`pin_request`, installed as the host's request hook),
so RAG's two passes and LoRA's one all run on the routed model. The adapter itself is applied on
the model thread by :class:`~app.engine.adapters.manager.AdapterManager`: one resident base model.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine import paths
from app.engine.adapters.versions import AdapterVersion

if TYPE_CHECKING:
    from app.engine.adapters.manager import AdapterInfo, AdapterManager
    from app.engine.advisors import Advisor
    from app.engine.model.host import GenerationRequest, ModelHost
    from app.engine.service import CritiqueResult
    from app.engine.strategies.context import Resolution, StrategyContext

log = logging.getLogger(__name__)

MODEL_MODES = ("base", "fine_tuned", "ab_test")
LORA_MODE = "lora"


class ModelStrategyError(ValueError):
    """The model strategy cannot run as configured; the message says what to change."""


@dataclass(frozen=True)
class ModelRoute:
    """The model one request runs on: ``adapter`` None is the plain base model."""

    model_used: str  # base | fine_tuned | ab_test_base | ab_test_fine_tuned
    adapter: Any = None  # a folder path or an AdapterVersion
    adapter_version: str | None = None  # label recorded with the job ("v3", or the folder)

    @property
    def fine_tuned(self) -> bool:
        return self.adapter is not None


_current: contextvars.ContextVar[ModelRoute | None] = contextvars.ContextVar("mondrian_model_route",
                                                                             default=None)


@contextlib.contextmanager
def use_route(route: ModelRoute | None) -> Iterator[ModelRoute | None]:
    """Run the block's generation requests (made in this thread) on ``route``'s model."""
    token = _current.set(route)
    try:
        yield route
    finally:
        _current.reset(token)


def current_route() -> ModelRoute | None:
    return _current.get()


def pin_request(request: GenerationRequest) -> None:
    """Host request hook (caller's thread): under a route, the route's adapter replaces whatever the
    analysis strategy asked for."""
    route = _current.get()
    if route is not None and not request.keep_adapter:
        request.adapter = route.adapter


def adapter_ref(path: str | Path) -> Any:
    """An AdapterVersion when ``path`` is a version folder in the adapter store (so the job
    records "v3"), else the folder path itself (e.g. ``mlx_vlm.train`` output)."""
    folder = Path(path).expanduser()
    try:
        resolved = folder.resolve()
        root = (paths.data_dir() / "adapters").resolve()
    except OSError:
        return folder
    if resolved.parent.parent == root and re.fullmatch(r"v\d+", resolved.name):
        return AdapterVersion(resolved.parent.name, resolved.name, resolved)
    return folder


def adapter_label(ref: Any) -> str:
    return ref.version if isinstance(ref, AdapterVersion) else str(ref)


# --------------------------------------------------------------------------------- strategies


class ModelStrategy(ABC):
    """Decides, per request, which model answers."""

    name: str = ""

    @abstractmethod
    def route(self) -> ModelRoute: ...

    def prepare(self, host: ModelHost, manager: AdapterManager | None = None,
                timeout: float | None = None) -> None:
        """Check at start-up that the strategy can run (loads the model). Raises ModelStrategyError."""
        host.load().result(timeout)

    def describe(self) -> dict[str, Any]:
        return {"model_mode": self.name}

    # ---- how a route shapes a critique --------------------------------------------------------
    def resolve(self, context: StrategyContext, mode: str, advisor: Advisor, route: ModelRoute) -> Resolution:
        """Resolve the analysis mode under ``route``: on the base model ``lora`` is not available, so
        the chain starts at its fallback (the advisor's adapter is not even looked at)."""
        from app.engine.strategies.context import AUTO, Resolution

        requested = (mode or AUTO).strip().lower()
        first = context.head if requested == AUTO else requested
        if route.fine_tuned or first != LORA_MODE or LORA_MODE not in context.strategies:
            return context.resolve(mode, advisor)
        reasons = [f"{LORA_MODE} unavailable (the A/B test routed this request to the base model)"
                   if route.model_used == "ab_test_base" else
                   f"{LORA_MODE} unavailable (the service runs with --model_mode {self.name}: no adapter)"]
        name = context.strategies[LORA_MODE].fallback
        while name is not None:
            strategy = context.strategies[name]
            ok, why = strategy.is_available(advisor)
            if ok:
                text = "; ".join(reasons)
                return Resolution(requested=requested, strategy=strategy,
                                  fallback_reason=f"auto: {text}" if requested == AUTO else text)
            reasons.append(f"{name} unavailable ({why})")
            name = strategy.fallback
        raise RuntimeError(f"no analysis mode is available for advisor {advisor.id!r}: {'; '.join(reasons)}")

    @staticmethod
    def label_result(result: CritiqueResult, route: ModelRoute) -> CritiqueResult:
        """Record the routed model on the result (the adapter was pinned for every pass)."""
        if result.model_used == "none":  # measurement-only report: no model ran
            return result
        result.model_used = route.model_used
        result.adapter_version = route.adapter_version
        return result


class BaseModelStrategy(ModelStrategy):
    name = "base"

    def route(self) -> ModelRoute:
        return ModelRoute("base")


class _AdapterStrategy(ModelStrategy):
    """Shared by fine_tuned and ab_test: one adapter, validated before the service starts."""

    def __init__(self, lora_path: str | Path | None):
        if not lora_path:
            raise ModelStrategyError(f"--model_mode {self.name} needs --lora_path DIR (a folder with "
                                     "adapter_config.json and adapters.safetensors)")
        folder = Path(lora_path).expanduser()
        if not folder.is_dir():
            raise ModelStrategyError(f"--lora_path {folder}: folder does not exist")
        self.adapter = adapter_ref(folder)
        self.label = adapter_label(self.adapter)
        self.info: AdapterInfo | None = None

    def prepare(self, host: ModelHost, manager: AdapterManager | None = None,
                timeout: float | None = None) -> None:
        """Validate the adapter against the loaded model and apply it once (then back to base)."""
        from app.engine.adapters.manager import AdapterError, AdapterManager

        if manager is None:
            hook = host.adapter_hook
            manager = hook if isinstance(hook, AdapterManager) else AdapterManager(host)
        try:
            self.info = manager.validate(self.adapter, timeout)

            def trial(loaded: Any) -> None:
                manager.use(loaded, self.adapter)
                manager.use(loaded, None)

            host.call(trial).result(timeout)
        except AdapterError as exc:
            raise ModelStrategyError(f"--model_mode {self.name}: the adapter cannot be used: {exc}") from exc
        log.info("model strategy %s ready with adapter %s", self.name, self.label)

    def describe(self) -> dict[str, Any]:
        return {"model_mode": self.name, "adapter": self.label,
                "lora_path": str(getattr(self.adapter, "path", self.adapter))}


class FineTunedStrategy(_AdapterStrategy):
    name = "fine_tuned"

    def route(self) -> ModelRoute:
        return ModelRoute("fine_tuned", self.adapter, self.label)


class ABTestStrategy(_AdapterStrategy):
    """Routes each request at random: fine-tuned with probability ``split`` (seedable)."""

    name = "ab_test"

    def __init__(self, lora_path: str | Path | None, split: float = 0.5, seed: int | None = None):
        if isinstance(split, bool) or not isinstance(split, int | float) or not 0.0 <= float(split) <= 1.0:
            raise ModelStrategyError(f"--ab_test_split must be a number from 0 to 1, not {split!r}")
        super().__init__(lora_path)
        self.split = float(split)
        self.seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> bool:
        """True = fine-tuned. Thread-safe: concurrent requests each take one draw from the sequence."""
        with self._lock:
            return self._rng.random() < self.split

    def route(self) -> ModelRoute:
        if self.draw():
            return ModelRoute("ab_test_fine_tuned", self.adapter, self.label)
        return ModelRoute("ab_test_base", None, self.label)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "ab_test_split": self.split, "seed": self.seed}


def build_model_strategy(model_mode: str | None, lora_path: str | Path | None = None,
                         ab_test_split: float = 0.5, seed: int | None = None) -> ModelStrategy | None:
    """The strategy for ``--model_mode`` (None: no strategy, the analysis mode decides)."""
    if model_mode is None:
        if lora_path:
            raise ModelStrategyError("--lora_path is used with --model_mode fine_tuned or ab_test")
        return None
    mode = model_mode.strip().lower()
    if mode == "base":
        if lora_path:
            log.warning("--model_mode base never applies an adapter: --lora_path %s is ignored", lora_path)
        return BaseModelStrategy()
    if mode == "fine_tuned":
        return FineTunedStrategy(lora_path)
    if mode == "ab_test":
        return ABTestStrategy(lora_path, ab_test_split, seed)
    raise ModelStrategyError(f"unknown --model_mode {model_mode!r}; choose one of: {', '.join(MODEL_MODES)}")
