"""What the window asks the worker to do: critique, compare, blind A/B, load the model.

Each ``*_task`` returns a function for :meth:`InferenceBridge.submit`; it runs on the worker
thread, calls the engine (never Qt) and returns a value the UI shows. The service records every
critique as a job in its store (history reads them back).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine import paths
from app.engine.adapters import versions as adapter_versions
from app.engine.advisors import get_advisor
from app.engine.critique.report import DIMENSIONS
from app.engine.model.host import GenerationStats
from app.engine.model_strategy import ABTestStrategy
from app.engine.photos.decode import ImageLoadError, file_sha256, find_photos, open_photo_info, save_thumbnail
from app.engine.service import TECHNICAL_MODE, CritiqueResult, MondrianService

from .bridge import TaskContext, TaskFn

if TYPE_CHECKING:
    from app.engine.store.database import JobRow, Store

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
        if adapter_versions.active_version(advisor_id) is None:
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
        active = adapter_versions.active_version(advisor_id)
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


def choose_task(service: MondrianService, photo: str | Path, advisor_id: str, mode: str, *, compare: bool,
                seed: int | None = None) -> tuple[str, TaskFn, int]:
    """What a drop runs: a comparison, a blind A/B draw (when on and there is an adapter) or a
    critique; with the number of report passes (for the progress bar)."""
    if compare:
        return "compare", compare_task(service, photo, advisor_id), 2
    if service.settings.ab_test_enabled and adapter_versions.active_version(advisor_id) is not None:
        return "blind", blind_task(service, photo, advisor_id, service.settings.ab_test_split, seed), 1
    return "critique", critique_task(service, photo, advisor_id, mode), 1


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


def job_notice(job: JobRow) -> str | None:
    """What to tell someone reopening a job that has no report: it was cancelled, or why it failed."""
    when = _local_time(job.completed_at or job.created_at)
    name = Path(job.photo_path).name
    if job.status == "cancelled":
        return f"Cancelled: the critique of {name} was stopped on {when} before it finished, so there is no report."
    if job.status == "failed":
        return f"The critique of {name} failed on {when}: {job.error or 'no reason was recorded'}."
    if job.status in ("running", "queued"):
        return f"The critique of {name} is still running."
    return None


def _local_time(stamp: str | None) -> str:
    try:
        return datetime.fromisoformat(stamp or "").astimezone().strftime("%d %b %Y at %H:%M")
    except ValueError:
        return stamp or "an unknown date"


def result_from_job(job: JobRow) -> CritiqueResult:
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
        notice=job_notice(job) or details.get("notice"), job_id=job.id, model_used=job.model_used or "base",
    )


def pasted_photo_path(when: datetime | None = None) -> Path:
    """Where a pasted image is kept (so history can reopen it), named as people say it:
    ``<data>/pasted/Pasted image, 12 May 2025 at 14.03.07.png`` (no colons: Finder shows them as
    slashes); a second paste in the same second gets " (2)"."""
    when = when or datetime.now()
    folder = paths.data_dir() / "pasted"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"Pasted image, {when.strftime('%d %b %Y at %H.%M.%S')}"
    target, n = folder / f"{stem}.png", 1
    while target.exists():
        n += 1
        target = folder / f"{stem} ({n}).png"
    return target


# ---- training tab -------------------------------------------------------------------------------


@dataclass
class PortfolioPhoto:
    path: Path
    thumbnail: Path | None = None
    problem: str | None = None


def _thumb_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:24]


def scan_task(folder: str | Path, edge: int = 160) -> TaskFn:
    """List the portfolio's photos and make their thumbnails (cached; the photos are only read)."""

    def run(ctx: TaskContext) -> list[PortfolioPhoto]:
        photos = find_photos(folder)
        out: list[PortfolioPhoto] = []
        for i, path in enumerate(photos):
            ctx.check()
            ctx.progress(f"Reading {path.name} ({i + 1} of {len(photos)})…", i / max(1, len(photos)))
            item = PortfolioPhoto(path)
            try:
                thumb = paths.thumbnails_dir() / f"portfolio-{_thumb_key(path)}.jpg"
                item.thumbnail = thumb if thumb.is_file() else save_thumbnail(path, thumb, edge)
            except (ImageLoadError, OSError) as exc:
                item.problem = str(exc)
            out.append(item)
            ctx.progress(f"Read {i + 1} of {len(photos)} photos", (i + 1) / len(photos))  # ends at 100 %
        return out

    return run


@dataclass
class DraftSummary:
    drafted: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    kept: int = 0  # photos that already had a profile


def draft_task(service: MondrianService, store: Store, advisor_id: str, photos: list[Path], *,
               redo: bool = False) -> TaskFn:
    """Draft a profile per photo with the resident base model (no adapter), as pass 1 of RAG does:
    the neutral profile prompt with the photo's measured facts; saved to the store for review.
    The user's edits (source ``user``) are never overwritten."""

    def run(ctx: TaskContext) -> DraftSummary:
        from app.engine.critique.prompts import profile_prompt
        from app.engine.photos.prepare import prepare_photo as prepare_for_model
        from app.engine.strategies.base import AnalysisInput
        from app.engine.strategies.baseline import run_report_generation

        advisor = get_advisor(advisor_id)
        summary = DraftSummary()
        ensure_model(service, ctx)
        for i, path in enumerate(photos):
            ctx.check()
            existing = store.get_profile(advisor_id, str(path.resolve()))
            if existing is not None and (existing.edited or existing.source == "user" or not redo):
                summary.kept += 1
                continue
            ctx.progress(f"Drafting {path.name} ({i + 1} of {len(photos)})…", i / max(1, len(photos)))
            try:
                prepared = prepare_for_model(path, service.settings)
                inp = AnalysisInput(image=prepared.image, advisor=advisor, facts=prepared.facts, scope=ctx.scope,
                                    request_id=f"{ctx.request_id}-{i}")
                outcome = run_report_generation(service.host, service.settings, inp,
                                                profile_prompt(facts=prepared.facts), "draft")
            except (ImageLoadError, OSError) as exc:
                summary.skipped.append((path.name, str(exc)))
                continue
            if outcome.report is None:
                summary.skipped.append((path.name, "; ".join(outcome.parse_problems)))
                continue
            store.upsert_profile(advisor_id, str(path.resolve()), file_sha256(path), outcome.report,
                                 source="model", edited=False)
            summary.drafted.append(path.name)
            ctx.progress(f"Drafted {path.name}", (i + 1) / max(1, len(photos)))
        return summary

    return run


@dataclass
class MemoryInfo:
    total_gb: float
    budget_gb: float | None
    fits: bool
    detail: str


def memory_task(service: MondrianService, *, rank: int, batch_size: int, grad_checkpoint: bool,
                sequence_tokens: int = 1500) -> TaskFn:
    """Training's memory estimate (``training.memory``) for the resident model, on the model thread."""

    def run(ctx: TaskContext) -> MemoryInfo:
        from app.engine.adapters.manager import base_signature
        from training.memory import available_memory_bytes, estimate

        ensure_model(service, ctx)

        def compute(loaded: Any) -> MemoryInfo:
            layers = base_signature(loaded).layers.values()
            lora = sum(rank * (layer.in_dims + layer.out_dims) for layer in layers if layer.kind == "linear")
            proc = getattr(loaded.processor, "image_processor", None)
            max_pixels = getattr(proc, "max_pixels", None) or service.settings.max_image_edge ** 2
            image_tokens = int(min(max_pixels, service.settings.max_image_edge ** 2) / (28 * 28))
            est = estimate(loaded.model, sequence_tokens=sequence_tokens + image_tokens, image_tokens=image_tokens,
                           batch_size=batch_size, grad_checkpoint=grad_checkpoint, lora_parameters=lora,
                           budget_bytes=available_memory_bytes())
            detail = (f"weights {est.weights_gb:.2f} GB, activations {est.activations_gb:.2f} GB, "
                      f"adapter+optimizer {est.adapter_gb:.3f} GB")
            if not est.fits:
                detail += "; " + est.advice()
            return MemoryInfo(est.total_gb, est.budget_gb, est.fits, detail)

        return ctx.scope.wait(service.host.call(compute))

    return run
