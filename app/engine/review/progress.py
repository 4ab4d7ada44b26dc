"""What a running review reports per frame, for a progress bar, the window's grid or the API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.engine.photos.errors import ImageLoadError

TRIAGE, CRITIQUE = "triage", "critique"  # the two stages of a review


@dataclass(frozen=True)
class Progress:
    """One step of a review. In the triage stage ``finished`` counts frames with a score (either
    stage) out of every frame; in the critique stage, frames with a full outcome (critiqued, reused
    or failed) out of those plus the ones the second stage will critique."""

    review_id: str
    finished: int
    total: int
    to_run: int  # frames that need the model in this stage of this run
    path: str | None = None  # the frame just finished (None for a stage's start event)
    status: str | None = None  # triaged / done / reused / failed
    job_id: str | None = None
    error: str | None = None
    stage: str = CRITIQUE


ProgressCallback = Callable[[Progress], None]


def frame_error(error: Exception | None, path: Path) -> str | None:
    """The error for a frame's row: the reason only when it names this file (the row names it)."""
    if isinstance(error, ImageLoadError) and error.path == path:
        return error.reason
    return str(error) if error else None
