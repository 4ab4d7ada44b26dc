"""Publishing a finished run: the best checkpoint becomes ``adapters/<advisor>/vN`` atomically."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.engine import atomic
from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import ADAPTER_CONFIG, ADAPTER_WEIGHTS, AdapterManifest, AdapterVersion

from .common import CommandError
from .dataset import TRAIN, VALIDATION
from .run_state import LOG_FILE, RunState, epoch_name


def run_metrics(state: RunState, data: Any) -> dict[str, Any]:
    """The manifest's ``metrics``: losses per epoch, speed, memory, rows, resumes, processes."""
    history = state.history
    steps = sum(h["steps"] for h in history)
    return {
        "best_epoch": state.best_epoch, "best_val_loss": state.best_val_loss,
        "final_train_loss": history[-1]["train_loss"] if history else None,
        "epochs_completed": state.completed_epochs, "early_stopped": state.early_stopped, "steps": steps,
        "train_seconds": sum(h["seconds"] for h in history),
        "mean_step_time_s": sum(h["mean_step_time_s"] * h["steps"] for h in history) / max(steps, 1),
        "tokens_per_s": sum(h["tokens_per_s"] * h["steps"] for h in history) / max(steps, 1),
        "peak_memory_gb": max((h["peak_memory_gb"] for h in history), default=0.0),
        "train_loss_by_epoch": [h["train_loss"] for h in history],
        "val_loss_by_epoch": [h["val_loss"] for h in history],
        "train_rows": len(data.split(TRAIN)), "val_rows": len(data.splits.get(VALIDATION, [])),
        "resumes": state.resumes, "world_size": state.world_size,
    }


def publish_run(state: RunState, data: Any, *, folder: Path, activate: bool,
                trainer_args: dict[str, Any] | None) -> tuple[AdapterVersion, dict[str, Any]]:
    """Stage the best checkpoint with its args, log and manifest; rename it into ``vN``."""
    import mlx.core
    import mlx_vlm

    checkpoints = folder / "checkpoints"
    best = checkpoints / epoch_name(state.best_epoch or state.completed_epochs)
    if not (best / ADAPTER_WEIGHTS).is_file():
        raise CommandError(f"the best checkpoint {best} is missing; start a new run without --resume", 1)
    metrics = run_metrics(state, data)
    hyper = asdict(state.hyper) | {"optimizer": "adam", "train_on_completions": True,
                                   "lora_scale": (state.hyper.alpha or 0) / state.hyper.rank}
    staged = adapter_versions.staging_dir(state.advisor_id)
    try:
        for name in (ADAPTER_WEIGHTS, ADAPTER_CONFIG):
            shutil.copyfile(best / name, staged / name)
        atomic.write_json(staged / "training_args.json", {
            "advisor_id": state.advisor_id, "model": state.model, "dataset": str(data.path),
            "dataset_hash": data.hash, "dataset_meta": {k: data.meta.get(k) for k in (
                "seed", "val_fraction", "augment", "augment_options", "grounding", "max_image_edge", "counts",
                "sources")},
            "hyperparameters": hyper, "mlx_vlm_training_args": trainer_args, "world_size": state.world_size,
            "published_epoch": best.name, "mlx_vlm_version": mlx_vlm.__version__,
            "mlx_version": getattr(mlx.core, "__version__", ""), "started": state.started,
            "finished": time.time()})
        log = folder / LOG_FILE
        if log.is_file():
            shutil.copyfile(log, staged / LOG_FILE)
        else:
            (staged / LOG_FILE).touch()
        manifest = AdapterManifest(advisor_id=state.advisor_id, version="", base_model=state.model,
                                   dataset_hash=data.hash, hyperparameters=hyper, metrics=metrics)
        version = adapter_versions.publish(state.advisor_id, staged, manifest, activate=activate)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return version, metrics
