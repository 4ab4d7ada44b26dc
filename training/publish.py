"""Publishing a finished run: the best checkpoint becomes ``adapters/<advisor>/vN`` atomically.

A publish is three steps (rename the staged folder into ``vN``, point ``active`` at it, remove the
run's folder), and a kill can fall between them. So it is journalled: ``publish.json`` in the run's
folder says which run is publishing and whether to activate, and the version's manifest carries
the run's id. The next run of the advisor (``--resume`` or a new one) finds the journal and
*finishes* that publish (activation, clean-up) instead of publishing the same adapter again as
``vN+1``; a journal whose version never appeared was killed before the rename, and is dropped.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.engine import atomic
from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import ADAPTER_CONFIG, ADAPTER_WEIGHTS, AdapterManifest, AdapterVersion

from .common import CommandError
from .dataset import TRAIN, VALIDATION
from .run_state import LOG_FILE, RunState, epoch_name

JOURNAL = "publish.json"


@dataclass(frozen=True)
class Finished:
    """An interrupted publish completed by :func:`finish_interrupted`."""

    version: AdapterVersion
    activated: bool  # the pointer was moved now (False: it already pointed there, or was not to be moved)
    note: str


def _journal(folder: Path, state: RunState, activate: bool) -> None:
    previous = adapter_versions.active_version(state.advisor_id)
    atomic.write_json(folder / JOURNAL, {"run_id": state.run_id, "activate": activate,
                                         "previous_active": previous.version if previous else None,
                                         "started": time.time()})


def finish_interrupted(folder: Path, advisor_id: str) -> Finished | None:
    """Finish the publish a kill interrupted (see the module docstring); None when there was none."""
    file = folder / JOURNAL
    if not file.is_file():
        return None
    try:
        journal = json.loads(file.read_text(encoding="utf-8"))
        run_id, activate = str(journal["run_id"]), bool(journal.get("activate", True))
        previous = journal.get("previous_active")
    except (OSError, ValueError, KeyError, TypeError):
        file.unlink(missing_ok=True)  # half-written: the rename cannot have happened after it
        return None
    version = adapter_versions.find_run(advisor_id, run_id)
    if version is None:  # killed before the rename: the staged copy is gone (clean_stale_staging)
        file.unlink(missing_ok=True)
        return None
    current = adapter_versions.active_version(advisor_id)
    now = current.version if current else None
    moved = False
    if activate and now != version.version and now == previous:  # nobody chose another version since
        adapter_versions.set_active(advisor_id, version.version)
        moved = True
    if moved or now == version.version:
        how = "it is active"
    elif not activate:
        how = "not activated: the run had --no-activate"
    else:
        how = f"not activated: {now or 'the base model'} was chosen since"
    return Finished(version, moved, f"finished the interrupted publish of {version.version} ({how}); "
                                    "it was not published again")


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
    _journal(folder, state, activate)
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
                                   dataset_hash=data.hash, hyperparameters=hyper, metrics=metrics,
                                   run_id=state.run_id)
        version = adapter_versions.publish(state.advisor_id, staged, manifest, activate=activate)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        if adapter_versions.find_run(state.advisor_id, state.run_id) is None:
            (folder / JOURNAL).unlink(missing_ok=True)
        raise
    return version, metrics


def publish_bytes(weights_bytes: int, log_bytes: int) -> int:
    """What a publish writes into the adapters folder: the weights, the log, args and manifest."""
    return weights_bytes + log_bytes + (64 << 10)
