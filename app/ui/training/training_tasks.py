"""What the Training tab asks the worker to do: scan a portfolio, draft profiles, estimate memory.

Each ``*_task`` returns a function for :meth:`InferenceBridge.submit` (see :mod:`app.ui.common.operations`
for the critique tasks); it runs on the worker thread, calls the engine or training (never Qt) and
returns a value the tab shows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine import paths
from app.engine.advisors import get_advisor
from app.engine.photos.decode import ImageLoadError, file_sha256, find_photos
from app.engine.photos.thumbnails import save_thumbnail
from app.engine.service import MondrianService
from app.engine.store.database import Store

from ..common.bridge import TaskContext, TaskFn
from ..common.operations import ensure_model


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
    """Draft a profile per photo with the engine's one ``draft_profile`` (base model, as pass 1 of
    RAG does); saved to the store for review. The user's edits (source ``user``) are never overwritten."""

    def run(ctx: TaskContext) -> DraftSummary:
        get_advisor(advisor_id)  # an unknown advisor fails before the model loads
        summary = DraftSummary()
        ensure_model(service, ctx)
        for i, path in enumerate(photos):
            ctx.check()
            existing = store.profiles.get_profile(advisor_id, str(path.resolve()))
            if existing is not None and (existing.edited or existing.source == "user" or not redo):
                summary.kept += 1
                continue
            ctx.progress(f"Drafting {path.name} ({i + 1} of {len(photos)})…", i / max(1, len(photos)))
            try:
                outcome = service.draft_profile(path, scope=ctx.scope, request_id=f"{ctx.request_id}-{i}")
            except (ImageLoadError, OSError) as exc:
                summary.skipped.append((path.name, str(exc)))
                continue
            if outcome.report is None:
                summary.skipped.append((path.name, "; ".join(outcome.problems)))
                continue
            store.profiles.upsert_profile(advisor_id, str(path.resolve()), file_sha256(path), outcome.report,
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


def memory_task(service: MondrianService, hyper: Any, *, advisor_id: str | None = None, world_size: int = 1) -> TaskFn:
    """Training's own memory estimate (``training.memory.estimate_before_dataset``) for the resident
    model and these hyperparameters, on the model thread: the prompt is measured with the model's
    tokenizer, the answer is the longest report the settings allow."""

    def run(ctx: TaskContext) -> MemoryInfo:
        from app.engine.critique.prompts import critique_prompt
        from training.memory import estimate_before_dataset

        ensure_model(service, ctx)
        settings = service.settings
        prompt = critique_prompt(get_advisor(advisor_id or settings.default_advisor))

        def compute(loaded: Any) -> MemoryInfo:
            tokenizer = getattr(loaded.processor, "tokenizer", loaded.processor)
            text_tokens = len(tokenizer.encode(prompt.system + "\n" + prompt.user)) + settings.max_tokens
            est = estimate_before_dataset(loaded.model, loaded.processor, hyper, max_image_edge=settings.max_image_edge,
                                          text_tokens=text_tokens, world_size=world_size)
            detail = (f"weights {est.weights_gb:.2f} GB, activations {est.activations_gb:.2f} GB, "
                      f"adapter+optimizer {est.adapter_gb:.3f} GB, {est.sequence_tokens} tokens per example")
            if not est.fits:
                detail += "; " + est.advice()
            return MemoryInfo(est.total_gb, est.budget_gb, est.fits, detail)

        return ctx.scope.wait(service.run_on_model(compute))

    return run
