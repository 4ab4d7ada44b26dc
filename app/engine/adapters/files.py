"""Adapter folders on disk: what an adapter is, read without touching the model.

``read_adapter`` reads ``adapter_config.json``, the safetensors header (names, shapes, dtypes:
never the weights) and the manifest, and raises :class:`AdapterError` naming the folder for
anything missing, unreadable or corrupt. A folder is read once per content (its files' sizes,
mtimes and inodes): later calls, e.g. one per request, only stat it. Safe from any thread.
"""

from __future__ import annotations

import json
import math
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.engine.adapters.versions import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    MANIFEST,
    AdapterManifest,
    AdapterVersion,
    adapter_ref,
)
from app.engine.model.caches import BASE, Weights
from app.engine.model.weights_ref import AdapterRef

# What names an adapter folder on the way in; inside the engine it is an AdapterRef.
AdapterSource = str | os.PathLike[str] | AdapterVersion | AdapterRef
_READ_CACHE: OrderedDict[tuple[Any, ...], AdapterInfo] = OrderedDict()
_READ_CACHE_SIZE = 32
_read_lock = threading.Lock()
SUPPORTED_TYPES = ("lora", "dora")
_MAX_HEADER = 100 * 1024 * 1024  # a safetensors header larger than this is not an adapter

# Safetensors dtypes -> bytes per element.
_DTYPE_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
               "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


class AdapterError(ValueError):
    """An adapter that cannot be used; ``kind`` says why (for callers that branch on it).

    Kinds: ``missing``, ``bad_config``, ``unsupported``, ``corrupt``, ``wrong_base``,
    ``shape_mismatch``, ``apply_failed``, ``bad_pointer`` (the advisor's ``active`` file names no version).
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


def _adapter_folder(adapter: AdapterSource) -> AdapterRef:
    if isinstance(adapter, AdapterRef | AdapterVersion | str | os.PathLike):
        return adapter_ref(adapter)  # a path to the weights file itself is its folder, as in mlx-vlm
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


def _content_key(ref: AdapterRef) -> tuple[Any, ...] | None:
    """What identifies the folder's content (None: a file is gone; the full read says which)."""
    try:
        manifest = folder_stat(ref.path / MANIFEST)
        return (_fingerprint(ref.path), manifest, ref.advisor_id, ref.version)
    except OSError:
        return None


def folder_stat(file: Path) -> tuple[int, int, int] | None:
    if not file.exists():
        return None
    st = file.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def read_adapter(adapter: AdapterSource) -> AdapterInfo:
    """Validate an adapter folder on its own (files, config, safetensors, manifest); no model
    needed. Read once per content (see the module docstring); a changed file is read again."""
    ref = _adapter_folder(adapter)
    key = _content_key(ref)
    if key is not None:
        with _read_lock:
            cached = _READ_CACHE.get(key)
            if cached is not None:
                _READ_CACHE.move_to_end(key)
                return cached
    info = _read_adapter(ref)
    if key is not None:
        with _read_lock:
            _READ_CACHE[key] = info
            while len(_READ_CACHE) > _READ_CACHE_SIZE:
                _READ_CACHE.popitem(last=False)
    return info


def _read_adapter(ref: AdapterRef) -> AdapterInfo:
    folder = ref.path
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
        path=folder, label=ref.label or str(folder), fine_tune_type=config.get(
            "fine_tune_type", "lora"), rank=int(params["rank"]), scale=float(params["scale"]),
        tensors=tensors, config=config, fingerprint=_fingerprint(folder),
        advisor_id=ref.advisor_id or (manifest.advisor_id if manifest else None),
        version=ref.version,
        base_model=manifest.base_model if manifest else None,
    )


# ---- the base model's layers, to check adapters against -----------------------------------------
