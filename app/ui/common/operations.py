"""What the window asks the worker to do: critique, compare, blind A/B, load the model.

The comparisons themselves are the engine's (``app/engine/compare.py``); this file only adds the
window's words to their errors.

Each ``*_task`` returns a function for :meth:`InferenceBridge.submit`; it runs on the worker
thread, calls the engine (never Qt) and returns a value the UI shows. The service records every
critique as a job in its store (history reads them back).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from app.engine import paths
from app.engine.compare import BlindResult, Comparison, ComparisonError, Comparisons
from app.engine.critique.result import CritiqueResult
from app.engine.photos.decode import open_photo_info
from app.engine.service import ModeInfo, MondrianService

from .bridge import TaskContext, TaskFn
from .pixmaps import preview_image

if TYPE_CHECKING:
    from app.engine.photos.prepare import PreparedPhoto
    from app.engine.store.database import JobRow

log = logging.getLogger(__name__)

Item = CritiqueResult | Comparison | BlindResult  # what the report page shows and Export writes


def ensure_model(service: MondrianService, ctx: TaskContext) -> None:
    """Load the model first (with a visible stage) so the user sees why the first run waits."""
    handle = service.ensure_loaded()
    if handle is not None:
        ctx.progress(f"Loading the model {Path(service.settings.model).name}…", -1.0)
        ctx.scope.wait(handle)


def prepare_shown(service: MondrianService, photo: str | Path, ctx: TaskContext) -> PreparedPhoto:
    """Decode the photo once, before the model loads: the engine critiques this prepared photo and
    the window shows its preview (``ctx.preview``), so a RAW or HEIC is not decoded a second time."""
    open_photo_info(photo)  # fail fast (from the header) with a clear message
    prepared = service.prepare(photo)
    ctx.preview(preview_image(prepared.image))
    ctx.check()
    return prepared


def critique_task(service: MondrianService, photo: str | Path, advisor_id: str,
                  mode: str = "auto") -> TaskFn:
    def run(ctx: TaskContext) -> CritiqueResult:
        prepared = prepare_shown(service, photo, ctx)  # before loading a model
        ensure_model(service, ctx)
        ctx.check()
        ctx.progress("Critiquing…", 0.0)
        return service.critique(photo, advisor_id, mode, on_token=ctx.on_token, scope=ctx.scope,
                                request_id=ctx.request_id, prepared=prepared)

    return run


def _window_words(exc: ComparisonError) -> RuntimeError:
    """The engine's reason, with what to do in the window."""
    if exc.kind == "no_adapter":
        return RuntimeError(f"{exc} (in the Training tab)")
    return RuntimeError(str(exc))


def compare_task(service: MondrianService, photo: str | Path, advisor_id: str, mode: str = "auto") -> TaskFn:
    """The engine's base-vs-fine-tuned comparison (:meth:`MondrianService.compare`) in the chosen
    mode; the two jobs are linked (one ``pair_id``), so history reopens them side by side."""

    def run(ctx: TaskContext) -> Comparison:
        open_photo_info(photo)
        try:
            service.comparisons.adapter_under_test(advisor_id)  # before the model loads
        except ComparisonError as exc:
            raise _window_words(exc) from exc
        prepared = prepare_shown(service, photo, ctx)
        ensure_model(service, ctx)
        try:
            return service.compare(photo, advisor_id, mode, on_token=ctx.on_token, scope=ctx.scope,
                                   request_id=ctx.request_id, on_stage=ctx.progress, prepared=prepared)
        except ComparisonError as exc:
            raise _window_words(exc) from exc

    return run


def blind_task(service: MondrianService, photo: str | Path, advisor_id: str, split: float,
               seed: int | None = None, mode: str = "auto") -> TaskFn:
    """One blind critique in the chosen mode (:meth:`MondrianService.blind`): the pipeline is
    resolved once, then the weights drawn (fine-tuned with probability ``split``); the job is
    recorded as ab_test_base/ab_test_fine_tuned and the UI hides which until the user has rated it."""

    def run(ctx: TaskContext) -> BlindResult:
        prepared = prepare_shown(service, photo, ctx)
        ensure_model(service, ctx)
        ctx.check()
        ctx.progress("Critiquing…", 0.0)
        try:
            return service.blind(photo, advisor_id, mode, split=split, seed=seed, on_token=ctx.on_token,
                                 scope=ctx.scope, request_id=ctx.request_id, prepared=prepared)
        except ComparisonError as exc:
            raise RuntimeError(f"{exc} (or switch blind A/B off in Settings)") from exc

    return run


def choose_task(service: MondrianService, photo: str | Path, advisor_id: str, mode: str, *, compare: bool,
                seed: int | None = None) -> tuple[str, TaskFn, int]:
    """What a drop runs: a comparison, a blind A/B draw (when on and the engine can run one) or a
    critique; with the number of report passes (for the progress bar)."""
    if compare:
        return "compare", compare_task(service, photo, advisor_id, mode), 2
    if service.settings.ab_test_enabled and service.comparisons.available(advisor_id):
        return "blind", blind_task(service, photo, advisor_id, service.settings.ab_test_split, seed, mode), 1
    return "critique", critique_task(service, photo, advisor_id, mode), 1


def resolve_task(service: MondrianService, advisor_id: str, mode: str) -> TaskFn:
    """Resolve the mode off the UI thread (checking an adapter may need the model's layer shapes)."""

    def run(ctx: TaskContext) -> ModeInfo:
        return service.resolve_mode(advisor_id, mode)

    return run


def load_task(service: MondrianService) -> TaskFn:
    def run(ctx: TaskContext) -> str:
        ensure_model(service, ctx)
        return service.model_id

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


def item_from_jobs(jobs: list[JobRow]) -> CritiqueResult | Comparison:
    """What a history entry reopens: the comparison when its job is one of a linked pair
    (``MondrianService.paired_jobs``: base and fine-tuned), else the critique alone."""
    pair = Comparisons.from_jobs(jobs)
    if pair is not None:
        return pair
    return result_from_job(jobs[0])


def result_from_job(job: JobRow) -> CritiqueResult:
    """Rebuild what the report view shows from a stored job (history reopen), saying why a job
    without a report has none."""
    result = CritiqueResult.from_job(job)
    result.notice = job_notice(job) or result.notice
    return result


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
