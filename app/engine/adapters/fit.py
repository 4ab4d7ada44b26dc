"""Does an adapter fit the loaded base model? Layer kinds, shapes, quantization and base identity.

``base_signature`` describes the layers LoRA can wrap on the loaded model (computed on the model
thread, cached by the manager); ``check_base_model`` and ``check_fits`` compare an adapter's
manifest and safetensors shapes with it before the model is touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.engine.adapters.files import AdapterError, AdapterInfo
from app.engine.adapters.versions import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from app.engine.model.host import LoadedModel


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


def wrapper_types() -> tuple[type, ...]:
    from mlx_vlm.trainer.peft import DoRAEmbedding, DoRALinear, LoRAEmbedding, LoRALinear, LoRASwitchLinear

    return (LoRALinear, DoRALinear, LoRAEmbedding, DoRAEmbedding, LoRASwitchLinear)


def inner_layer(wrapper: Any) -> Any:
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
    wrappers = wrapper_types()
    layers: dict[str, BaseLayer] = {}
    inside: list[str] = []
    for name, module in loaded.model.named_modules():
        if any(name.startswith(prefix) for prefix in inside):
            continue
        if isinstance(module, wrappers):
            inside.append(name + ".")
            module = inner_layer(module)
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
