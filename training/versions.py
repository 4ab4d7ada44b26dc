"""``mondrian train versions``: list, activate, roll back, delete and fuse adapter versions.

    mondrian train versions list     --advisor ID [--json]
    mondrian train versions activate --advisor ID vN
    mondrian train versions rollback --advisor ID
    mondrian train versions delete   --advisor ID vN
    mondrian train versions fuse     --advisor ID vN [--output DIR] [--model M] [--dequantize] [--force]

``fuse`` merges an adapter into a copy of its base model, for export to tools that cannot load
adapters (the result is an ordinary mlx-vlm model folder). On a quantized base (the default 4-bit
model) a plain fuse would add the small LoRA update to dequantized weights and quantize the sum
again: the update is mostly below the quantization step, so the adapter would be silently lost.
Fuse therefore refuses a quantized base unless ``--dequantize`` is given, which writes the fused
model in full precision (faithful, and several times larger).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.engine import atomic, paths
from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import AdapterStoreError, AdapterVersion
from app.engine.advisors import AdvisorError

from . import diskspace
from .common import EXIT_OK, EXIT_REFUSED, CommandError, run_main, setup

WEIGHT_SUFFIXES = (".safetensors",)
WEIGHT_INDEX = "model.safetensors.index.json"


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except (AdapterStoreError, AdvisorError) as exc:
        raise CommandError(str(exc)) from None


def pointer_problem(advisor_id: str) -> str | None:
    """Why the ``active`` file names no version (None when it is fine or absent)."""
    try:
        _call(adapter_versions.read_active, advisor_id)
    except CommandError as exc:
        return str(exc)
    return None


def describe(advisor_id: str) -> list[dict[str, Any]]:
    """The advisor's versions, oldest first, with their manifest and evaluation summary."""
    active = _call(adapter_versions.active_version, advisor_id)
    out = []
    for v in _call(adapter_versions.list_versions, advisor_id):
        entry: dict[str, Any] = {"version": v.version, "path": str(v.path),
                                 "active": active is not None and active.version == v.version}
        try:
            manifest = v.manifest()
        except AdapterStoreError as exc:
            entry["problem"] = str(exc)
            manifest = None
        if manifest is not None:
            entry.update(created=manifest.created, base_model=manifest.base_model,
                         dataset_hash=manifest.dataset_hash, source=manifest.source,
                         hyperparameters=manifest.hyperparameters, metrics=manifest.metrics)
        else:
            entry.setdefault("source", "no manifest (made elsewhere)")
        out.append(entry)
    return out


def _print_list(advisor_id: str, entries: list[dict[str, Any]]) -> None:
    if not entries:
        print(f"advisor {advisor_id!r} has no adapter versions")
        return
    print(f"{'':2}{'version':<8} {'created':<17} {'val loss':>9} {'MSE base->ft':>14}  base model")
    for e in entries:
        metrics = e.get("metrics") or {}
        ev = metrics.get("eval") or {}
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["created"])) if e.get("created") else "-"
        val = metrics.get("best_val_loss")
        mse = (f"{ev['mse_base']:.2f}->{ev['mse_fine_tuned']:.2f}"
               if ev.get("mse_base") is not None and ev.get("mse_fine_tuned") is not None else "-")
        if mse == "-" and metrics.get("agreement_held_out") is not None:  # taught from culls: agreement
            before = metrics.get("agreement_before_held_out")
            mse = (f"agr {before:.2f}->" if isinstance(before, float) else "agr ") + f"{metrics['agreement_held_out']:.2f}"
        print(f"{'*' if e['active'] else ' ':2}{e['version']:<8} {created:<17} "
              f"{(f'{val:.4f}' if isinstance(val, float) else '-'):>9} {mse:>14}  {e.get('base_model', '-')}")
    if not any(e["active"] for e in entries):
        print("(no active version: the advisor runs on the base model)")
    problem = pointer_problem(advisor_id)
    if problem:
        print(f"warning: {problem}")


# ---------------------------------------------------------------------------- fuse

def _is_quantized(model: Any) -> bool:
    import mlx.nn as nn

    return any(isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)) for _, m in model.named_modules())


def fuse_lora_layers(model: Any, *, dequantize: bool) -> int:
    """Replace every LoRA layer by its merged Linear (mlx-vlm's ``LoRALinear.fuse``); returns how many."""
    from mlx.utils import tree_unflatten
    from mlx_vlm.trainer import LoRALinear

    fused = [(name, module.fuse(dequantize=dequantize)) for name, module in model.named_modules()
             if isinstance(module, LoRALinear)]
    if fused:
        model.update_modules(tree_unflatten(fused))
    return len(fused)


def fuse(advisor_id: str, version: AdapterVersion, *, output: Path | None, model_ref: str | None,
         dequantize: bool = False, force: bool = False) -> Path:
    """Write base + adapter merged into a new model folder (atomically); returns the folder."""
    import mlx_vlm
    from mlx_vlm.trainer import apply_lora_layers
    from mlx_vlm.trainer.peft.utils import dequantize as dequantize_model

    from app.engine.model.source import ModelNotAvailableError, resolve_model
    from app.engine.settings import load_settings

    manifest = _call(version.manifest)
    base_ref = model_ref or (manifest.base_model if manifest else None) or load_settings().model
    try:
        base_path = resolve_model(base_ref)
    except ModelNotAvailableError as exc:
        raise CommandError(str(exc)) from None
    target = output or paths.data_dir() / "exports" / f"{advisor_id}-{version.version}-fused"
    if target.exists() and not force:
        raise CommandError(f"{target} already exists (pass --force to replace it)")
    need = fused_bytes(base_path, dequantize)
    diskspace.check_writable(target.parent, need, "the fused model")
    model, _processor = mlx_vlm.load(str(base_path))
    quantized = _is_quantized(model)
    if quantized and not dequantize:
        raise CommandError(
            f"the base model {base_ref!r} is quantized: fusing would quantize the merged weights again, and "
            "the adapter's small update would be rounded away (the fused model would silently behave like the "
            "base). Pass --dequantize for a full-precision fused copy, or keep using the adapter on the "
            "quantized base.", EXIT_REFUSED)
    apply_lora_layers(model, str(version.path))
    count = fuse_lora_layers(model, dequantize=dequantize)
    if count == 0:
        raise CommandError(f"{version.path} holds no LoRA layers to fuse (DoRA/full adapters are not supported)")
    if dequantize:
        dequantize_model(model)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with diskspace.writing(target.parent, need, "the fused model"):
            _write_fused(base_path, staging, model, dequantize=dequantize, info={
                "advisor_id": advisor_id, "version": version.version, "adapter_path": str(version.path),
                "base_model": base_ref, "dequantized": dequantize, "fused_layers": count, "created": time.time(),
                "manifest": manifest.to_dict() if manifest else None})
        if target.exists():
            trash = target.with_name(f".old-{target.name}-{int(time.time() * 1000)}")
            os.rename(target, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def fused_bytes(base_path: Path, dequantize: bool) -> int:
    """About what a fused copy takes: the base's files, its weights 4x larger when dequantized (4-bit ->
    16-bit; an 8-bit base needs less)."""
    weights = sum(f.stat().st_size for f in base_path.glob("*.safetensors"))
    others = sum(f.stat().st_size for f in base_path.iterdir() if f.is_file() and not f.name.endswith(".safetensors"))
    return weights * (4 if dequantize else 1) + others + (1 << 20)


def _write_fused(base_path: Path, staging: Path, model: Any, *, dequantize: bool, info: dict[str, Any]) -> None:
    from mlx_vlm.utils import save_weights

    for item in base_path.iterdir():
        if item.is_file() and not item.name.endswith(WEIGHT_SUFFIXES) and item.name != WEIGHT_INDEX:
            shutil.copy2(item, staging / item.name)
    config = json.loads((base_path / "config.json").read_text(encoding="utf-8"))
    config.pop("lora", None)
    if dequantize:
        for key in ("quantization", "quantization_config"):
            config.pop(key, None)
            if isinstance(config.get("text_config"), dict):
                config["text_config"].pop(key, None)
    atomic.write_json(staging / "config.json", config)
    save_weights(staging, model)
    atomic.write_json(staging / "fused_from.json", info)


# ---------------------------------------------------------------------------- the command

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mondrian train versions", description="Manage an advisor's adapters.")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, helptext, needs_version in (("list", "list versions", False),
                                          ("activate", "make a version the active one", True),
                                          ("rollback", "activate the version before the active one", False),
                                          ("delete", "delete a version", True),
                                          ("fuse", "merge a version into a copy of the base model", True)):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("--advisor", required=True)
        if needs_version:
            q.add_argument("version", help="version name, e.g. v2")
        if name == "list":
            q.add_argument("--json", action="store_true")
        if name == "fuse":
            q.add_argument("--output", type=Path, help="folder to write (default <data>/exports/ID-vN-fused)")
            q.add_argument("--model", help="base model (default: the adapter's manifest)")
            q.add_argument("--dequantize", action="store_true", help="fuse a quantized base in full precision")
            q.add_argument("--force", action="store_true", help="replace an existing output folder")
        q.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args.verbose)
    # A full or read-only disk under the advisor's adapters: one line naming the folder (fuse checks its own).
    what = {"activate": "the active pointer", "rollback": "the active pointer",
            "delete": "the deletion of a version"}.get(args.action, "the adapter versions")
    with diskspace.writing(paths.data_dir() / "adapters" / args.advisor, diskspace.PROBE_BYTES, what):
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    advisor = args.advisor
    if args.action == "list":
        entries = describe(advisor)
        if args.json:
            print(json.dumps(entries, ensure_ascii=False, indent=2))
            problem = pointer_problem(advisor)
            if problem:
                print(f"warning: {problem}", file=sys.stderr)
        else:
            _print_list(advisor, entries)
    elif args.action == "activate":
        _call(adapter_versions.set_active, advisor, args.version)
        print(f"{advisor}: {args.version} is active")
    elif args.action == "rollback":
        before = _call(adapter_versions.rollback, advisor)
        print(f"{advisor}: {before.version} is active" if before else
              f"{advisor}: no earlier version; the advisor now runs on the base model")
    elif args.action == "delete":
        _call(adapter_versions.delete_version, advisor, args.version)
        active = _call(adapter_versions.active_version, advisor)
        print(f"{advisor}: deleted {args.version}; active: {active.version if active else 'none (base model)'}")
    elif args.action == "fuse":
        version = _call(adapter_versions.get_version, advisor, args.version)
        target = fuse(advisor, version, output=args.output, model_ref=args.model, dequantize=args.dequantize,
                      force=args.force)
        print(f"fused {advisor} {args.version} into {target}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(main))
