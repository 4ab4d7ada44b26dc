"""The weights axis: which model answers a request, as a value, and the service-wide policies over it.

:class:`Weights` is what a generation request carries (``adapter`` None = the base model); the
adapter manager applies it on the model thread, on the one resident base model.

A :class:`WeightsPolicy` (``serve --model-mode``; the GUI's blind A/B) overrides the weights a
mode preset would use. It is consulted *after* the pipeline is chosen, so both arms of an A/B
test run the same pipeline and only the weights differ:

* ``base``: never an adapter; ``lora`` is unavailable and falls back along the chain.
* ``fine_tuned``: every request runs on the ``--lora-path`` adapter; the advisor's own adapter
  is never looked at (so a broken one cannot fail the request).
* ``ab_test``: each request draws the adapter with probability ``--ab-test-split`` (seedable),
  else the base; jobs record ``ab_test_fine_tuned`` / ``ab_test_base``.
"""

from __future__ import annotations

import logging
import random
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine.adapters.versions import AdapterVersion, adapter_ref
from app.engine.model.weights_ref import AdapterRef
from app.engine.vocabulary import ModelMode, ModelUsed

if TYPE_CHECKING:
    from app.engine.adapters.manager import AdapterInfo, AdapterManager
    from app.engine.model.host import ModelHost

log = logging.getLogger(__name__)

MODEL_MODES: tuple[str, ...] = tuple(m.value for m in ModelMode)


class WeightsPolicyError(ValueError):
    """The weights policy cannot run as configured; the message says what to change, in the
    engine's words. ``setting`` names what is wrong (``model_mode``, ``lora_path``,
    ``ab_test_split``) so a front end can add its own name for it (the CLI its flag)."""

    def __init__(self, message: str, setting: str):
        self.setting = setting
        super().__init__(message)


@dataclass(frozen=True)
class Weights:
    """The weights one request runs on: ``adapter`` None is the plain base model. Two Weights on
    the same adapter folder are equal however it was named (the label is for records)."""

    adapter: AdapterRef | None = None
    label: str | None = field(default=None, compare=False)  # "v3" for a stored version, else the folder

    @property
    def fine_tuned(self) -> bool:
        return self.adapter is not None


BASE_WEIGHTS = Weights()


def adapter_weights(adapter: str | Path | AdapterVersion | AdapterRef) -> Weights:
    """The weights of one adapter folder (named "v3" when it is a stored version)."""
    ref = adapter_ref(adapter)
    return Weights(ref, ref.label)


@dataclass(frozen=True)
class Draw:
    """The weights a policy chose for one request, with how jobs record them and why (if it matters)."""

    weights: Weights
    model_used: ModelUsed
    adapter_version: str | None  # recorded with the job: for A/B, the version under test on both arms
    why: str  # e.g. "the A/B test routed this request to the base model"


class WeightsPolicy(ABC):
    """Decides the weights of every request, once its pipeline is chosen."""

    name: ModelMode

    @property
    def blocks_adapter(self) -> str | None:
        """Why no adapter can ever run under this policy (None: one can)."""
        return None

    @abstractmethod
    def draw(self) -> Draw:
        """The weights for one request (the A/B policy takes one draw from its sequence)."""

    def preview(self) -> Draw:
        """What :meth:`draw` would give, without drawing (to show a mode before running it)."""
        return self.draw()

    def prepare(self, host: ModelHost, manager: AdapterManager, timeout: float | None = None) -> None:
        """Check at start-up that the policy can run (loads the model). Raises WeightsPolicyError."""
        host.load().result(timeout)

    def describe(self) -> dict[str, Any]:
        return {"model_mode": self.name.value}


class BasePolicy(WeightsPolicy):
    name = ModelMode.BASE

    @property
    def blocks_adapter(self) -> str | None:
        return "the service runs with model mode base: no adapter"

    def draw(self) -> Draw:
        return Draw(BASE_WEIGHTS, ModelUsed.BASE, None, "the service runs with model mode base")


class _AdapterPolicy(WeightsPolicy):
    """Shared by fine_tuned and ab_test: one adapter, validated before the service starts."""

    def __init__(self, lora_path: str | Path | AdapterVersion | AdapterRef | None):
        if not lora_path:
            raise WeightsPolicyError(f"model mode {self.name.value} needs an adapter folder (with "
                                     "adapter_config.json and adapters.safetensors)", "lora_path")
        self.weights = adapter_weights(lora_path)
        folder = self.adapter.path
        if not folder.is_dir():
            raise WeightsPolicyError(f"adapter folder {folder} does not exist", "lora_path")
        self.label = self.weights.label
        self.info: AdapterInfo | None = None

    @property
    def adapter(self) -> AdapterRef:
        assert self.weights.adapter is not None  # an adapter policy always has one
        return self.weights.adapter

    def prepare(self, host: ModelHost, manager: AdapterManager, timeout: float | None = None) -> None:
        """Validate the adapter against the loaded model and apply it once (then back to base)."""
        from app.engine.adapters.manager import AdapterError

        try:
            self.info = manager.validate(self.adapter, timeout)

            def trial(loaded: Any) -> None:
                manager.use(loaded, self.adapter)
                manager.use(loaded, None)

            host.call(trial).result(timeout)
        except AdapterError as exc:
            raise WeightsPolicyError(f"model mode {self.name.value}: the adapter cannot be used: {exc}",
                                     "lora_path") from exc
        log.info("weights policy %s ready with adapter %s", self.name.value, self.label)

    def describe(self) -> dict[str, Any]:
        return {"model_mode": self.name.value, "adapter": self.label,
                "lora_path": str(self.adapter.path)}


class FixedAdapterPolicy(_AdapterPolicy):
    name = ModelMode.FINE_TUNED

    def draw(self) -> Draw:
        return Draw(self.weights, ModelUsed.FINE_TUNED, self.label,
                    f"the service runs every request on adapter {self.label} (model mode fine_tuned)")


class ABDrawPolicy(_AdapterPolicy):
    """Draws per request: the adapter with probability ``split`` (seedable), else the base."""

    name = ModelMode.AB_TEST

    def __init__(self, lora_path: str | Path | AdapterVersion | AdapterRef | None, split: float = 0.5,
                 seed: int | None = None):
        if isinstance(split, bool) or not isinstance(split, int | float) or not 0.0 <= float(split) <= 1.0:
            raise WeightsPolicyError(f"the A/B split must be a number from 0 to 1, not {split!r}", "ab_test_split")
        super().__init__(lora_path)
        self.split = float(split)
        self.seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def flip(self) -> bool:
        """True = fine-tuned. Thread-safe: concurrent requests each take one draw from the sequence."""
        with self._lock:
            return self._rng.random() < self.split

    def _arm(self, fine: bool) -> Draw:
        if fine:
            return Draw(self.weights, ModelUsed.AB_TEST_FINE_TUNED, self.label,
                        f"the A/B test routed this request to the fine-tuned model (adapter {self.label})")
        return Draw(BASE_WEIGHTS, ModelUsed.AB_TEST_BASE, self.label,
                    "the A/B test routed this request to the base model")

    def draw(self) -> Draw:
        return self._arm(self.flip())

    def preview(self) -> Draw:
        draw = self._arm(True)
        return Draw(draw.weights, draw.model_used, draw.adapter_version,
                    f"A/B test: each request runs on the base or on adapter {self.label}, drawn at random")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "ab_test_split": self.split, "seed": self.seed}


def build_weights_policy(model_mode: str | None, lora_path: str | Path | None = None,
                         ab_test_split: float = 0.5, seed: int | None = None) -> WeightsPolicy | None:
    """The policy for a model mode (``serve --model-mode``; None: none, each mode preset picks its
    weights)."""
    if model_mode is None:
        if lora_path:
            raise WeightsPolicyError("an adapter folder is only used with model mode fine_tuned or ab_test",
                                     "lora_path")
        return None
    try:
        mode = ModelMode(model_mode.strip().lower())
    except ValueError:
        raise WeightsPolicyError(f"unknown model mode {model_mode!r}; choose one of: "
                                 f"{', '.join(MODEL_MODES)}", "model_mode") from None
    if mode is ModelMode.BASE:
        if lora_path:
            log.warning("model mode base never applies an adapter: the adapter folder %s is ignored", lora_path)
        return BasePolicy()
    if mode is ModelMode.FINE_TUNED:
        return FixedAdapterPolicy(lora_path)
    return ABDrawPolicy(lora_path, ab_test_split, seed)
