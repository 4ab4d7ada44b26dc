"""What the window asks the worker to do: critique, compare, blind A/B, load the model.

Each ``*_task`` returns a function for :meth:`InferenceBridge.submit`; it runs on the worker
thread, calls the engine (never Qt) and returns a value the UI shows. The service records every
critique as a job in its store (history reads them back).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.engine import adapter_store, paths
from app.engine.advisors import get_advisor
from app.engine.images import open_photo_info
from app.engine.model_host import GenerationStats
from app.engine.model_strategy import ABTestStrategy
from app.engine.report import DIMENSIONS
from app.engine.service import TECHNICAL_MODE, CritiqueResult, MondrianService

from .bridge import TaskContext, TaskFn

log = logging.getLogger(__name__)

BASE_MODE = "baseline"
TUNED_MODE = "lora"


@dataclass
class Comparison:
    """Base and fine-tuned reports of one photo, made one after the other on the one resident model."""

    base: CritiqueResult
    tuned: CritiqueResult

    def deltas(self) -> dict[str, float | None]:
        """Fine-tuned minus base score per dimension (None when either is missing)."""
        out: dict[str, float | None] = {}
        for key in DIMENSIONS:
            a = self.base.report.dimensions.get(key) if self.base.report else None
            b = self.tuned.report.dimensions.get(key) if self.tuned.report else None
            out[key] = (b.score - a.score) if a and b and a.score is not None and b.score is not None else None
        return out


@dataclass
class BlindResult:
    """A blind A/B critique: which arm ran stays hidden in the UI until the user has rated it."""

    result: CritiqueResult
    arm: str  # "base" | "fine_tuned"
    adapter_version: str | None  # the version under test (recorded on the rating for both arms)


def ensure_model(service: MondrianService, ctx: TaskContext) -> None:
    """Load the model first (with a visible stage) so the user sees why the first run waits."""
    if service.host.loaded is None and service.model_available():
        ctx.progress(f"Loading the model {Path(service.settings.model).name}…", -1.0)
        ctx.scope.wait(service.host.load())


def _critique(service: MondrianService, ctx: TaskContext, photo: Path, advisor_id: str, mode: str) -> CritiqueResult:
    ctx.check()
    ctx.progress("Critiquing…", 0.0)
    return service.critique(photo, advisor_id, mode, on_token=ctx.on_token, scope=ctx.scope,
                            request_id=ctx.request_id)


def critique_task(service: MondrianService, photo: str | Path, advisor_id: str,
                  mode: str = "auto") -> TaskFn:
    def run(ctx: TaskContext) -> CritiqueResult:
        open_photo_info(photo)  # fail fast (from the header) with a clear message before loading a model
        ensure_model(service, ctx)
        return _critique(service, ctx, Path(photo), advisor_id, mode)

    return run


def compare_task(service: MondrianService, photo: str | Path, advisor_id: str) -> TaskFn:
    """Base (no adapter) then fine-tuned (the advisor's active adapter) on the same resident model."""

    def run(ctx: TaskContext) -> Comparison:
        if TUNED_MODE not in service.modes:
            raise RuntimeError("this build has no LoRA mode, so there is nothing to compare against")
        open_photo_info(photo)
        if adapter_store.active_version(advisor_id) is None:
            raise RuntimeError(f"advisor {advisor_id!r} has no fine-tuned adapter yet: train one in the "
                               "Training tab (or activate a version) to compare")
        ensure_model(service, ctx)
        ctx.progress("Base model (1 of 2)…", 0.0)
        base = service.critique(photo, advisor_id, BASE_MODE, on_token=ctx.on_token, scope=ctx.scope,
                                request_id=ctx.request_id)
        ctx.token("\n\n")
        ctx.progress("Fine-tuned (2 of 2)…", 0.5)
        tuned = service.critique(photo, advisor_id, TUNED_MODE, on_token=ctx.on_token, scope=ctx.scope,
                                 request_id=ctx.request_id)
        return Comparison(base=base, tuned=tuned)

    return run


def blind_task(service: MondrianService, photo: str | Path, advisor_id: str, split: float,
               seed: int | None = None) -> TaskFn:
    """One blind critique: the engine's A/B model strategy draws the arm for this one request
    (fine-tuned with probability ``split``) and records the job as ab_test_base/ab_test_fine_tuned;
    the UI hides which until the user has rated it."""

    def run(ctx: TaskContext) -> BlindResult:
        active = adapter_store.active_version(advisor_id)
        if active is None or TUNED_MODE not in service.modes:
            raise RuntimeError(f"blind A/B needs a fine-tuned adapter for advisor {advisor_id!r}; "
                               "train or activate one first (or switch A/B off in Settings)")
        open_photo_info(photo)
        ensure_model(service, ctx)
        previous = service.model_strategy
        service.model_strategy = ABTestStrategy(active.path, split, seed)  # this worker is the only caller
        try:
            result = _critique(service, ctx, Path(photo), advisor_id, "auto")
        finally:
            service.model_strategy = previous
        arm = "fine_tuned" if result.model_used == "ab_test_fine_tuned" else "base"
        return BlindResult(result=result, arm=arm, adapter_version=active.version)

    return run


@dataclass
class ModeInfo:
    """How a request would run now: the effective mode and why it differs from the one asked for."""

    advisor_id: str
    requested: str
    effective: str
    reason: str | None
    model_available: bool


def resolve_task(service: MondrianService, advisor_id: str, mode: str) -> TaskFn:
    """Resolve the mode off the UI thread (checking an adapter may need the model's layer shapes)."""

    def run(ctx: TaskContext) -> ModeInfo:
        if not service.model_available():
            return ModeInfo(advisor_id, mode, TECHNICAL_MODE, "no model installed", False)
        res = service.context.resolve(mode, get_advisor(advisor_id))
        return ModeInfo(advisor_id, mode, res.effective, res.fallback_reason, True)

    return run


def load_task(service: MondrianService) -> TaskFn:
    def run(ctx: TaskContext) -> str:
        ensure_model(service, ctx)
        return service.host.model_id

    return run


def result_from_job(job: Any) -> CritiqueResult:
    """Rebuild what the report view shows from a stored job (history reopen)."""
    details = job.details
    stats = None
    if job.total_s is not None or job.generation_tokens is not None:
        stats = GenerationStats(prompt_tokens=job.prompt_tokens or 0, generation_tokens=job.generation_tokens or 0,
                                time_to_first_token_s=job.time_to_first_token_s or 0.0, total_s=job.total_s or 0.0,
                                peak_memory_gb=job.peak_memory_gb or 0.0)
        if stats.total_s > 0 and stats.generation_tokens:
            stats.generation_tps = stats.generation_tokens / max(1e-6, stats.total_s - stats.time_to_first_token_s)
    return CritiqueResult(
        photo=job.photo_path, advisor_id=job.advisor_id, requested_mode=job.requested_mode,
        effective_mode=job.effective_mode or job.requested_mode, report=job.report, raw_text=job.raw_output or "",
        fallback_reason=job.fallback_reason, parse_problems=list(details.get("parse_problems") or []),
        stats=stats, model_id=job.base_model or "", adapter_version=job.adapter_version,
        references=list(details.get("references") or []), technical=details.get("technical"),
        notice=details.get("notice"), job_id=job.id, model_used=job.model_used or "base",
    )


def pasted_photo_path(data: bytes) -> Path:
    """Where a pasted image is kept (so history can reopen it): ``<data>/pasted/<sha>.png``."""
    digest = hashlib.sha256(data).hexdigest()[:24]
    folder = paths.data_dir() / "pasted"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{digest}.png"
