"""What the question thread asks the worker to do: ask, suggest a crop, locate a photo, export.

Each ``*_task`` returns a function for :meth:`~app.ui.common.bridge.InferenceBridge.run`; it runs on
the worker thread and calls :class:`~app.engine.conversation.session.Conversations` (never Qt).
A photo that is not where it was critiqued comes back as a :class:`Missing` value rather than a
failure, so the thread can offer "Locate photo…" instead of only printing the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.engine.conversation.context import PhotoMissingError
from app.engine.conversation.crop import CropSuggestion
from app.engine.conversation.session import Answer, Conversations

from ..common.bridge import TaskContext, TaskFn


@dataclass(frozen=True)
class Missing:
    """The job's photo is gone from ``path``; ``message`` says so in one sentence."""

    path: str
    message: str


@dataclass(frozen=True)
class Located:
    """A file the user pointed at was checked (same content as the photo critiqued)."""

    path: Path


def ask_task(talk: Conversations, job_id: str, question: str, photo: Path | None) -> TaskFn:
    def run(ctx: TaskContext) -> Answer | Missing:
        try:
            return talk.ask(job_id, question, on_token=ctx.on_token, scope=ctx.scope, photo=photo)
        except PhotoMissingError as exc:
            return Missing(exc.path, str(exc))
    return run


def crop_task(talk: Conversations, job_id: str, aspect: str | None, photo: Path | None) -> TaskFn:
    def run(ctx: TaskContext) -> Answer | Missing:
        try:
            return talk.suggest_crop(job_id, aspect, scope=ctx.scope, photo=photo, on_token=ctx.on_token)
        except PhotoMissingError as exc:
            return Missing(exc.path, str(exc))
    return run


def locate_task(talk: Conversations, job_id: str, photo: Path) -> TaskFn:
    """Check the located file against the job's photo hash (the engine's check) and prepare it."""
    def run(_ctx: TaskContext) -> Located:
        return Located(talk.context(job_id, photo).photo)
    return run


def export_task(talk: Conversations, job_id: str, suggestion: CropSuggestion, photo: Path | None) -> TaskFn:
    """Write the crop beside the original (a new file); returns its path."""
    def run(_ctx: TaskContext) -> Path | Missing:
        try:
            return talk.export_crop(job_id, suggestion, photo=photo)
        except PhotoMissingError as exc:
            return Missing(exc.path, str(exc))
    return run
