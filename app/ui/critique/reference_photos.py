"""Advisor ▸ Add Reference Photos…: give any advisor a folder of reference photos for RAG.

The folder is imported into the advisor's references (linked or copied, the originals only
read) and each new or changed photo is profiled by the base model on the worker, with progress;
the same incremental index as ``mondrian index``, through the facade
(:meth:`MondrianService.index_references`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..common.bridge import TaskContext, TaskFn
from ..common.operations import ensure_model

if TYPE_CHECKING:
    from app.engine.rag.index import IndexSummary
    from app.engine.service import MondrianService


def index_task(service: MondrianService, advisor_id: str, folder: str | Path) -> TaskFn:
    def run(ctx: TaskContext) -> IndexSummary:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: not a folder of photos")
        ensure_model(service, ctx)

        def progress(done: int, total: int, path: str, outcome: str) -> None:
            ctx.progress(f"Reference photos: {Path(path).name} {outcome} ({done} of {total})", done / max(1, total))

        ctx.progress("Importing the reference photos…", -1.0)
        return service.index_references(advisor_id, folder, on_progress=progress, scope=ctx.scope)

    return run


def summary_text(advisor_name: str, summary: IndexSummary) -> str:
    c = summary.counts()
    text = (f"{advisor_name}: {c['added']} reference photo{'s' if c['added'] != 1 else ''} added, {c['updated']} "
            f"updated, {c['unchanged']} unchanged")
    if summary.failed:
        first = summary.failed[0]
        text += f"; {len(summary.failed)} could not be used ({Path(first[0]).name}: {first[1]})"
    return text + "."
