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

import json
import logging
import math
import os
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine.adapters.versions import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    MANIFEST,
    AdapterManifest,
    AdapterVersion,
)
from app.engine.model.caches import BASE, WEIGHTS_KEY, Weights
from app.engine.model.host import LoadedModel, ModelHost

log = logging.getLogger(__name__)

AdapterRef = str | os.PathLike[str] | AdapterVersion
SUPPORTED_TYPES = ("lora", "dora")
_STATE_KEY = "adapters"
_MAX_HEADER = 100 * 1024 * 1024  # a safetensors header larger than this is not an adapter

# Safetensors dtypes -> bytes per element.
_DTYPE_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
               "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


class AdapterError(ValueError):
    """An adapter that cannot be used; ``kind`` says why (for callers that branch on it).

    Kinds: ``missing``, ``bad_config``, ``unsupported``, ``corrupt``, ``wrong_base``,
    ``shape_mismatch``, ``apply_failed``.
    """

    def __init__(self, folder: str | os.PathLike[str], problem: str, kind: str):
        self.folder = Path(folder)
        self.problem = problem
        self.kind = kind
        super().__init__(f"adapter {self.folder}: {problem}")


# ---- reading an adapter folder (no model needed) --------------------------------------------------

@dataclass(frozen=True)
class AdapterInfo:
    """A validated adapter folder: what it targets, its rank and scale, its tensors' shapes."""

    path: Path
    label: str  # "v3" for a stored version, else the folder path
    fine_tune_type: str  # "lora" | "dora"
    rank: int
    scale: float
    tensors: Mapping[str, tuple[int, ...]]
    config: Mapping[str, Any]
    fingerprint: tuple[Any, ...]  # path + file sizes and mtimes: a changed file is a new adapter
    advisor_id: str | None = None
    version: str | None = None
    base_model: str | None = None  # from manifest.json, when there is one

    @property
    def modules(self) -> frozenset[str]:
        """Names (in the model) of the layers this adapter wraps."""
        return frozenset(name.rsplit(".", 1)[0] for name in self.tensors)

    @property
    def layout(self) -> tuple[Any, ...]:
        """Two adapters with the same layout swap by loading weights; otherwise layers are re-applied."""
        params = self.config.get("lora_parameters", {})
        keys = params.get("keys")
        return (self.fine_tune_type, self.rank, self.config.get("num_layers"),
                tuple(sorted(keys)) if keys is not None else None, tuple(sorted(self.tensors.items())))

    @property
    def weights_file(self) -> Path:
        return self.path / ADAPTER_WEIGHTS

    @property
    def touches_vision(self) -> bool:
        """True when the adapter wraps layers outside the language model (the vision features change)."""
        return any(not name.startswith("language_model.") for name in self.modules)

    @property
    def weights(self) -> Weights:
        """Cache keys of the model with this adapter on: its own K/V; the base's vision features
        unless it wraps vision layers."""
        key = "adapter:" + "|".join(str(part) for part in self.fingerprint)
        return Weights(key=key, vision_key=key if self.touches_vision else BASE.vision_key)


def _adapter_folder(adapter: AdapterRef) -> tuple[Path, AdapterVersion | None]:
    if isinstance(adapter, AdapterVersion):
        return Path(adapter.path), adapter
    if isinstance(adapter, str | os.PathLike):
        path = Path(adapter).expanduser()
        if path.is_file() and path.name in (ADAPTER_WEIGHTS, ADAPTER_CONFIG):
            path = path.parent  # accept the weights file itself, as mlx-vlm does
        return path, None
    raise TypeError(f"an adapter is a folder path or an AdapterVersion, not {type(adapter).__name__}")


def read_safetensors_header(file: Path, folder: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names -> shapes from the header, checking it is consistent with the file size.

    Reading the header (not the data) catches truncated and garbled files cheaply.
    """
    try:
        size = file.stat().st_size
        with open(file, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise AdapterError(folder, f"{file.name} is corrupt: {size} bytes, too short for safetensors",
                                   "corrupt")
            (n,) = struct.unpack("<Q", head)
            if n < 2 or n > _MAX_HEADER or 8 + n > size:
                raise AdapterError(folder, f"{file.name} is corrupt: header length {n} does not fit a "
                                           f"{size}-byte file", "corrupt")
            raw = fh.read(n)
    except OSError as exc:
        raise AdapterError(folder, f"{file.name} is unreadable ({exc.strerror or exc})", "corrupt") from exc
    try:
        header = json.loads(raw.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (UnicodeDecodeError, ValueError) as exc:
        raise AdapterError(folder, f"{file.name} is corrupt: unreadable header ({exc})", "corrupt") from exc
    data_len = size - 8 - n
    shapes: dict[str, tuple[int, ...]] = {}
    end_max = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], tuple(int(d) for d in entry["shape"]), entry["data_offsets"]
            nbytes = math.prod(shape) * _DTYPE_SIZE[dtype]
        except (KeyError, TypeError, ValueError) as exc:
            raise AdapterError(folder, f"{file.name} is corrupt: bad header entry for {name!r}", "corrupt") from exc
        if not (0 <= begin <= end <= data_len) or end - begin != nbytes:
            raise AdapterError(folder, f"{file.name} is corrupt: tensor {name!r} lies outside the file "
                                       f"(truncated?)", "corrupt")
        end_max = max(end_max, end)
        shapes[name] = shape
    if end_max != data_len:
        raise AdapterError(folder, f"{file.name} is corrupt: {data_len} data bytes, the header describes "
                                   f"{end_max}", "corrupt")
    if not shapes:
        raise AdapterError(folder, f"{file.name} holds no tensors", "corrupt")
    return shapes


def _read_config(folder: Path) -> dict[str, Any]:
    file = folder / ADAPTER_CONFIG
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AdapterError(folder, f"{ADAPTER_CONFIG} is unreadable ({exc})", "bad_config") from exc
    if not isinstance(config, dict):
        raise AdapterError(folder, f"{ADAPTER_CONFIG} is not a JSON object", "bad_config")
    kind = config.get("fine_tune_type", "lora")
    if kind == "full":
        raise AdapterError(folder, "this is a full fine-tune checkpoint (fine_tune_type 'full'), not an "
                                   "adapter: it replaces the whole model", "unsupported")
    if kind not in SUPPORTED_TYPES:
        raise AdapterError(folder, f"fine_tune_type {kind!r} is not supported (use lora or dora)", "unsupported")
    if "lora_parameters" not in config:
        if "rank" in config:
            raise AdapterError(folder, "this adapter is in the legacy pre-0.7 mlx-vlm format (LoRaLayer "
                                       "A/B); re-train it with this version of mlx-vlm", "unsupported")
        raise AdapterError(folder, f"{ADAPTER_CONFIG} has no lora_parameters", "bad_config")
    params = config["lora_parameters"]
    if not isinstance(params, dict):
        raise AdapterError(folder, "lora_parameters is not a JSON object", "bad_config")
    for key, typ in (("rank", int), ("scale", int | float)):
        value = params.get(key)
        if not isinstance(value, typ) or isinstance(value, bool) or value <= 0:
            raise AdapterError(folder, f"lora_parameters.{key} must be a positive number, got {value!r}",
                               "bad_config")
    keys = params.get("keys")
    if keys is not None and (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)):
        raise AdapterError(folder, "lora_parameters.keys must be a list of layer names", "bad_config")
    return config


def _fingerprint(folder: Path) -> tuple[Any, ...]:
    stats = []
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        st = (folder / name).stat()
        stats.append((st.st_size, st.st_mtime_ns, st.st_ino))
    return (str(folder.resolve()), *stats)


def _read_manifest(folder: Path) -> AdapterManifest | None:
    """Our manifest, when the folder has one (bare ``mlx_vlm.train`` output has none)."""
    file = folder / MANIFEST
    if not file.is_file():
        return None
    try:
        return AdapterManifest.from_dict(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AdapterError(folder, f"{MANIFEST} is unreadable ({exc})", "bad_config") from exc


def read_adapter(adapter: AdapterRef) -> AdapterInfo:
    """Validate an adapter folder on its own (files, config, safetensors, manifest); no model needed."""
    folder, version = _adapter_folder(adapter)
    if not folder.is_dir():
        raise AdapterError(folder, "folder does not exist", "missing")
    missing = [name for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS) if not (folder / name).is_file()]
    if missing:
        raise AdapterError(folder, f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing "
                                   f"(an mlx-vlm adapter folder holds {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS})",
                           "missing")
    config = _read_config(folder)
    tensors = read_safetensors_header(folder / ADAPTER_WEIGHTS, folder)
    params = config["lora_parameters"]
    manifest = _read_manifest(folder)
    return AdapterInfo(
        path=folder, label=version.version if version else str(folder), fine_tune_type=config.get(
            "fine_tune_type", "lora"), rank=int(params["rank"]), scale=float(params["scale"]),
        tensors=tensors, config=config, fingerprint=_fingerprint(folder),
        advisor_id=version.advisor_id if version else (manifest.advisor_id if manifest else None),
        version=version.version if version else None,
        base_model=manifest.base_model if manifest else None,
    )


# ---- the base model's layers, to check adapters against -----------------------------------------

@dataclass(frozen=True)
class BaseLayer:
    """A layer LoRA can wrap: its kind and dimensions (and quantization, which must match)."""

    kind: str  # "linear" | "embedding" | "switch"
    in_dims: int
    out_dims: int
    experts: int = 0
    quantization: tuple[int, int, str] | None = None  # (bits, group_size, mode)


@dataclass(frozen=True)
class BaseSignature:
    """What an adapter must fit: the loaded model's id, folder and wrappable layers."""

    model_id: str
    model_path: str
    layers: Mapping[str, BaseLayer]


def _wrapper_types() -> tuple[type, ...]:
    from mlx_vlm.trainer.peft import DoRAEmbedding, DoRALinear, LoRAEmbedding, LoRALinear, LoRASwitchLinear

    return (LoRALinear, DoRALinear, LoRAEmbedding, DoRAEmbedding, LoRASwitchLinear)


def _inner(wrapper: Any) -> Any:
    """The original layer inside a LoRA/DoRA wrapper."""
    return wrapper["linear"] if "linear" in wrapper else wrapper["embedding"]


def _describe_layer(module: Any) -> BaseLayer | None:
    import mlx.nn as nn
    from mlx_vlm.models.switch_layers import QuantizedSwitchLinear, SwitchLinear

    quant = None
    if isinstance(module, nn.QuantizedLinear | nn.QuantizedEmbedding | QuantizedSwitchLinear):
        quant = (int(module.bits), int(module.group_size), str(getattr(module, "mode", "affine")))
    if isinstance(module, SwitchLinear | QuantizedSwitchLinear):
        return BaseLayer("switch", int(module.input_dims), int(module.output_dims), int(module.num_experts), quant)
    if isinstance(module, nn.Linear | nn.QuantizedLinear):
        out_dims, in_dims = module.weight.shape
        if quant:
            in_dims = in_dims * 32 // quant[0]
        return BaseLayer("linear", int(in_dims), int(out_dims), 0, quant)
    if isinstance(module, nn.Embedding | nn.QuantizedEmbedding):
        num, dims = module.weight.shape
        if quant:
            dims = dims * 32 // quant[0]
        return BaseLayer("embedding", int(num), int(dims), 0, quant)
    return None


def base_signature(loaded: LoadedModel) -> BaseSignature:
    """The wrappable layers of the base model (seen through any LoRA wrappers already applied)."""
    wrappers = _wrapper_types()
    layers: dict[str, BaseLayer] = {}
    inside: list[str] = []
    for name, module in loaded.model.named_modules():
        if any(name.startswith(prefix) for prefix in inside):
            continue
        if isinstance(module, wrappers):
            inside.append(name + ".")
            module = _inner(module)
        described = _describe_layer(module)
        if described is not None and name:
            layers[name] = described
    return BaseSignature(model_id=loaded.model_id, model_path=str(loaded.path), layers=layers)


def _expected_shapes(layer: BaseLayer, rank: int, fine_tune_type: str) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]]
    if layer.kind == "linear":
        shapes = {"lora_a": (layer.in_dims, rank), "lora_b": (rank, layer.out_dims)}
        if fine_tune_type == "dora":
            shapes["m"] = (layer.out_dims,)
        return shapes
    if layer.kind == "embedding":
        shapes = {"lora_a": (layer.in_dims, rank), "lora_b": (rank, layer.out_dims)}
        if fine_tune_type == "dora":
            shapes["m"] = (layer.in_dims,)
        return shapes
    return {"lora_a": (layer.experts, rank, layer.in_dims), "lora_b": (layer.experts, layer.out_dims, rank)}


def _same_model(a: str, b_id: str, b_path: str) -> bool:
    if a in (b_id, b_path):
        return True
    try:
        pa = Path(a).expanduser()
        if pa.exists() and pa.resolve() == Path(b_path).resolve():
            return True
    except OSError:
        pass
    return False


def check_base_model(info: AdapterInfo, model_id: str, model_path: str = "") -> None:
    """The manifest's base model must be the loaded one (bare mlx_vlm.train folders have no manifest)."""
    if info.base_model and not _same_model(info.base_model, model_id, model_path or model_id):
        raise AdapterError(info.path, f"made for base model {info.base_model!r}, but the loaded model is "
                                      f"{model_id!r}", "wrong_base")


def check_fits(info: AdapterInfo, base: BaseSignature) -> None:
    """Every tensor must belong to a layer of the model, with the shape that layer needs."""
    check_base_model(info, base.model_id, base.model_path)
    by_module: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, shape in info.tensors.items():
        module, _, param = name.rpartition(".")
        by_module.setdefault(module, {})[param] = shape
    unknown = sorted(m for m in by_module if m not in base.layers)
    if unknown:
        examples = ", ".join(unknown[:3]) + (f" (+{len(unknown) - 3} more)" if len(unknown) > 3 else "")
        raise AdapterError(info.path, f"shape mismatch: weights for layers the model does not have: {examples} "
                                      f"(made for another model?)", "shape_mismatch")
    keys = info.config["lora_parameters"].get("keys")
    if keys is not None:
        without = sorted(set(keys) - set(by_module))
        if without:
            raise AdapterError(info.path, f"shape mismatch: {ADAPTER_CONFIG} lists {without[0]} but "
                                          f"{ADAPTER_WEIGHTS} has no weights for it", "shape_mismatch")
    quant = info.config.get("base_quantization") or {}
    for module, params in sorted(by_module.items()):
        layer = base.layers[module]
        expected = _expected_shapes(layer, info.rank, info.fine_tune_type)
        for param, shape in params.items():
            if param not in expected:
                raise AdapterError(info.path, f"shape mismatch: unexpected tensor {module}.{param} for a "
                                              f"{info.fine_tune_type} adapter", "shape_mismatch")
            if tuple(shape) != expected[param]:
                raise AdapterError(info.path, f"shape mismatch: {module}.{param} is {tuple(shape)}, the model "
                                              f"needs {expected[param]} (rank {info.rank})", "shape_mismatch")
        lacking = sorted(set(expected) - set(params))
        if lacking:
            raise AdapterError(info.path, f"shape mismatch: {module} has no {lacking[0]} tensor", "shape_mismatch")
        wanted = quant.get(module)
        have = layer.quantization
        if isinstance(wanted, dict):
            want = (wanted.get("bits"), wanted.get("group_size"), wanted.get("mode", "affine"))
            if have is None or tuple(have) != want:
                raise AdapterError(info.path, f"made for a base quantized as {want} at {module}, the loaded "
                                              f"model has {have or 'full precision'}", "wrong_base")


# ---- the manager (the model-thread side) ----------------------------------------------------------

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
            set_module_by_name(loaded.model, name, wrapper if on else _inner(wrapper))
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
        except Exception as exc:  # noqa: BLE001 - mlx raises plain RuntimeError/ValueError
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
        except Exception as exc:  # noqa: BLE001 - undo whatever part was applied
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
        wrappers = _wrapper_types()
        return {name: m for name, m in loaded.model.named_modules() if isinstance(m, wrappers)}

    def _detach_all(self, loaded: LoadedModel) -> None:
        """Put every wrapped layer's original back; the model is exactly the base again."""
        from mlx_vlm.trainer.common.utils import set_module_by_name

        state = loaded.state.get(_STATE_KEY)
        if state is None or state.attached:  # switched off, the model already holds the originals
            for name, wrapper in sorted(self._find_wrappers(loaded).items(), key=lambda kv: -len(kv[0])):
                set_module_by_name(loaded.model, name, _inner(wrapper))
        config = getattr(loaded.model, "config", None)
        if config is not None and getattr(config, "lora", None) is not None:
            try:
                config.lora = None
            except AttributeError:
                pass
        if hasattr(loaded.model, "_vlm_adapter_config"):
            del loaded.model._vlm_adapter_config
