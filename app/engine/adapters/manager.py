"""LoRA adapters on the one resident model: validate, apply, toggle off/on, swap.

One base model serves the base and every fine-tuned advisor. mlx-vlm's own LoRA code
(``apply_lora_layers``, ``LoRALinear``) wraps the base's Linear layers in place; the base
weights are shared, never copied. Then:

* off  = the wrappers swapped out for the original layers they hold: the model is the plain
  base again and costs nothing extra per token (a wrapper at scale 0 would still run its LoRA
  matmuls: 1.22x per token). Only module references move, no weights: a few ms;
* on   = the wrappers swapped back in, at their saved scales;
* swap to another adapter of the same layout = ``model.load_weights(adapter, strict=False)``
  plus its scale;
* another layout (rank, target layers, LoRA vs DoRA) = the original layers put back, then the
  new adapter applied with ``apply_lora_layers``.

Every adapter is validated before the model is touched, so a bad adapter never leaves the model
half-changed: missing files, unreadable config, corrupt safetensors, an adapter made for another
base model (manifest, quantization) or with shapes that do not fit the model all raise
:class:`AdapterError` naming the folder. Folders written by ``python -m mlx_vlm.train``
(``adapter_config.json`` + ``adapters.safetensors``, no manifest) load as they are.

:class:`AdapterManager` is installed as ``ModelHost.adapter_hook``; its model-changing methods run
on the model thread (MLX streams belong to the thread that made them). ``inspect`` and
``validate`` may be called from any thread.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from app.engine.adapters.files import (  # re-exported: what callers catch and inspect
    ADAPTER_WEIGHTS,
    AdapterError,
    AdapterInfo,
    AdapterRef,
    read_adapter,
)
from app.engine.adapters.fit import (
    BaseSignature,
    base_signature,
    check_base_model,
    check_fits,
    inner_layer,
    wrapper_types,
)
from app.engine.model.caches import BASE, WEIGHTS_KEY
from app.engine.model.host import LoadedModel, ModelHost

log = logging.getLogger(__name__)

_STATE_KEY = "adapters"

__all__ = ["AdapterError", "AdapterInfo", "AdapterManager", "AdapterStatus", "base_signature", "read_adapter"]


@dataclass
class AdapterStatus:
    """What is on the resident model right now."""

    applied: str | None  # label of the adapter whose layers are on the model
    enabled: bool
    layers: int
    adapter_parameters: int
    path: str | None = None


@dataclass
class _ModelState:
    """Per loaded model (lives in ``LoadedModel.state``): the applied adapter and its wrappers."""

    applied: AdapterInfo | None = None
    enabled: bool = False
    wrappers: dict[str, Any] = field(default_factory=dict)  # name -> wrapper module
    scales: dict[str, float] = field(default_factory=dict)  # name -> its "on" scale
    attached: bool = True  # False while the wrappers are swapped out (off)
    timings: dict[str, float] = field(default_factory=dict)


class AdapterManager:
    """Applies the requested adapter (or none) to the resident model before each generation.

    Install with ``AdapterManager(host)``; requests then carry ``adapter=`` None (the base),
    a folder path or an :class:`~app.engine.adapters.versions.AdapterVersion`.
    """

    def __init__(self, host: ModelHost | None = None):
        self.host = host
        self._lock = threading.Lock()
        self._signature: BaseSignature | None = None
        if host is not None:
            host.adapter_hook = self

    # ---- any thread ---------------------------------------------------------------------------
    def inspect(self, adapter: AdapterRef) -> AdapterInfo:
        """File-level validation plus the manifest's base model against the host's model id."""
        info = read_adapter(adapter)
        if self.host is not None:
            loaded = self.host.loaded
            check_base_model(info, self.host.model_id, str(loaded.path) if loaded else "")
        return info

    def validate(self, adapter: AdapterRef, timeout: float | None = None) -> AdapterInfo:
        """Full validation, including shapes against the model (loads the model if it is not yet).

        Call it from any thread but the model thread (it may queue work there); on the model thread
        :meth:`use` validates anyway."""
        info = read_adapter(adapter)
        check_fits(info, self.signature(timeout))
        return info

    def signature(self, timeout: float | None = None) -> BaseSignature:
        """The base model's layers; computed once on the model thread."""
        with self._lock:
            sig = self._signature
        loaded = self.host.loaded if self.host else None
        if sig is not None and (loaded is None or sig.model_id == loaded.model_id):
            return sig
        if self.host is None:
            raise RuntimeError("this adapter manager has no model host to check shapes against")
        return self.host.call(self._signature_on_thread).result(timeout)

    def status(self, timeout: float | None = None) -> AdapterStatus:
        if self.host is None:
            raise RuntimeError("this adapter manager has no model host")
        return self.host.call(self.status_of).result(timeout)

    # ---- model thread ------------------------------------------------------------------------
    def __call__(self, loaded: LoadedModel, adapter: AdapterRef | None) -> None:
        self.use(loaded, adapter)

    def _state(self, loaded: LoadedModel) -> _ModelState:
        state = loaded.state.get(_STATE_KEY)
        if state is None:
            state = loaded.state[_STATE_KEY] = _ModelState()
        return state

    def _signature_on_thread(self, loaded: LoadedModel) -> BaseSignature:
        cached = loaded.state.get("adapters.signature")
        if cached is None:
            cached = loaded.state["adapters.signature"] = base_signature(loaded)
        with self._lock:
            self._signature = cached
        return cached

    def use(self, loaded: LoadedModel, adapter: AdapterRef | None) -> AdapterInfo | None:
        """Make ``adapter`` (None = the base) the active one on the resident model."""
        loaded.state[WEIGHTS_KEY] = BASE  # until the adapter below is on
        info = self._use(loaded, adapter)
        if info is not None:
            loaded.state[WEIGHTS_KEY] = info.weights
        return info

    def _use(self, loaded: LoadedModel, adapter: AdapterRef | None) -> AdapterInfo | None:
        state = self._state(loaded)
        if adapter is None:
            self._set_enabled(loaded, state, False)
            return None
        info = read_adapter(adapter)
        check_fits(info, self._signature_on_thread(loaded))
        applied = state.applied
        start = time.perf_counter()
        if applied is not None and applied.fingerprint == info.fingerprint:
            self._set_enabled(loaded, state, True)
            state.applied = info  # same files; keep the newest label (a path and a version may name one folder)
        elif applied is not None and applied.layout == info.layout:
            self._swap(loaded, state, info)
            state.timings["swap_s"] = time.perf_counter() - start
        else:
            self._apply(loaded, state, info)
            state.timings["apply_s"] = time.perf_counter() - start
        return info

    def off(self, loaded: LoadedModel) -> None:
        """Back to the plain base model (the adapter's wrappers are kept aside for a quick on)."""
        self._set_enabled(loaded, self._state(loaded), False)
        loaded.state[WEIGHTS_KEY] = BASE

    def remove(self, loaded: LoadedModel) -> None:
        """Take the adapter layers off entirely: the model is the plain base again."""
        self._detach_all(loaded)
        loaded.state[_STATE_KEY] = _ModelState()
        loaded.state[WEIGHTS_KEY] = BASE

    def status_of(self, loaded: LoadedModel) -> AdapterStatus:
        state = self._state(loaded)
        params = sum(math.prod(shape) for shape in state.applied.tensors.values()) if state.applied else 0
        return AdapterStatus(applied=state.applied.label if state.applied else None, enabled=state.enabled,
                             layers=len(state.wrappers), adapter_parameters=params,
                             path=str(state.applied.path) if state.applied else None)

    # ---- mechanics ---------------------------------------------------------------------------
    def _set_enabled(self, loaded: LoadedModel, state: _ModelState, on: bool) -> None:
        if state.applied is None or state.enabled == on:
            return
        start = time.perf_counter()
        self._attach(loaded, state, on)
        state.enabled = on
        state.timings["on_s" if on else "off_s"] = time.perf_counter() - start

    def _attach(self, loaded: LoadedModel, state: _ModelState, on: bool) -> None:
        """On/off: put the wrappers in, or the original layers back (no weights are copied)."""
        from mlx_vlm.trainer.common.utils import set_module_by_name

        if state.attached == on:
            return
        for name, wrapper in state.wrappers.items():
            set_module_by_name(loaded.model, name, wrapper if on else inner_layer(wrapper))
        state.attached = on

    def _swap(self, loaded: LoadedModel, state: _ModelState, info: AdapterInfo) -> None:
        """Same layout: load the other adapter's weights into the existing layers."""
        import mlx.core as mx

        weights = self._load_weights(info)
        self._attach(loaded, state, True)
        loaded.model.load_weights(list(weights.items()), strict=False)
        mx.eval([w.parameters() for w in state.wrappers.values()])
        state.scales = {name: info.scale for name in state.wrappers}
        for wrapper in state.wrappers.values():
            wrapper.scale = info.scale
        state.applied, state.enabled = info, True
        log.info("swapped adapter to %s", info.label)

    def _load_weights(self, info: AdapterInfo) -> dict[str, Any]:
        import mlx.core as mx

        try:
            weights = mx.load(str(info.weights_file))
            if not isinstance(weights, dict):  # a .safetensors file loads as a dict of arrays
                raise ValueError("not a table of named arrays")
            mx.eval(list(weights.values()))
        except Exception as exc:  # mlx raises plain RuntimeError/ValueError
            raise AdapterError(info.path, f"{ADAPTER_WEIGHTS} is corrupt: {exc}", "corrupt") from exc
        return weights

    def _apply(self, loaded: LoadedModel, state: _ModelState, info: AdapterInfo) -> None:
        """Another layout (or the first adapter): restore the original layers, then apply mlx-vlm's LoRA."""
        import mlx.core as mx
        from mlx_vlm.trainer.peft import apply_lora_layers

        self._load_weights(info)  # proves the data reads before anything changes
        self._detach_all(loaded)
        state = loaded.state[_STATE_KEY] = _ModelState()
        try:
            apply_lora_layers(loaded.model, str(info.path))
            loaded.model.eval()  # new wrappers start in training mode: dropout must be off
        except Exception as exc:  # undo whatever part was applied
            self._detach_all(loaded)
            raise AdapterError(info.path, f"could not be applied ({exc}); the model is back to the base",
                               "apply_failed") from exc
        wrappers = self._find_wrappers(loaded)
        mx.eval([w.parameters() for w in wrappers.values()])  # read the weights now, not in the first request
        state.wrappers = wrappers
        state.scales = {name: float(w.scale) for name, w in wrappers.items()}
        state.applied, state.enabled, state.attached = info, True, True
        log.info("applied adapter %s (%d layers, rank %d)", info.label, len(wrappers), info.rank)

    def _find_wrappers(self, loaded: LoadedModel) -> dict[str, Any]:
        wrappers = wrapper_types()
        return {name: m for name, m in loaded.model.named_modules() if isinstance(m, wrappers)}

    def _detach_all(self, loaded: LoadedModel) -> None:
        """Put every wrapped layer's original back; the model is exactly the base again."""
        from mlx_vlm.trainer.common.utils import set_module_by_name

        state = loaded.state.get(_STATE_KEY)
        if state is None or state.attached:  # switched off, the model already holds the originals
            for name, wrapper in sorted(self._find_wrappers(loaded).items(), key=lambda kv: -len(kv[0])):
                set_module_by_name(loaded.model, name, inner_layer(wrapper))
        config = getattr(loaded.model, "config", None)
        if config is not None and getattr(config, "lora", None) is not None:
            try:
                config.lora = None
            except AttributeError:
                pass
        if hasattr(loaded.model, "_vlm_adapter_config"):
            del loaded.model._vlm_adapter_config
