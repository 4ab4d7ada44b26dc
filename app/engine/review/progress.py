"""What a running review reports per frame, for a progress bar, the window's grid or the API."""

from __future__ import annotations

import threading
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

# The share of a review's bar the triage stage fills when full critiques follow it: triage is one
# short constrained pass per frame (a few hundred prompt tokens, ~9 sampled), a critique a long report.
TRIAGE_SHARE = 0.25

_live_lock = threading.Lock()
_live: dict[str, tuple[Progress, float]] = {}  # review id -> its last event and triage share, while it runs here


def record_live(progress: Progress, share: float) -> None:
    """Keep ``progress`` as the running review's latest step (what GET /reviews/{id} reports);
    ``share``: the part of the bar its triage fills (:func:`triage_share`)."""
    with _live_lock:
        _live[progress.review_id] = (progress, share)


def forget_live(review_id: str) -> None:
    with _live_lock:
        _live.pop(review_id, None)


def live_progress(review_id: str) -> tuple[Progress, float] | None:
    """The running review's latest step in this process and its triage share, else None."""
    with _live_lock:
        return _live.get(review_id)


def triage_share(uses_triage: bool, policy: str | None) -> float:
    """How much of the bar triage fills: all of it for triage only, none without triage."""
    if not uses_triage:
        return 0.0
    return 1.0 if policy == "none" else TRIAGE_SHARE


def overall_fraction(stage: str, finished: int, total: int, share: float) -> float:
    """0-1 across both stages: triage fills the first ``share`` of the bar, full critiques the rest."""
    part = min(1.0, finished / total) if total > 0 else 1.0
    value = share * part if stage == TRIAGE else share + (1.0 - share) * part
    return round(value, 4)


def frame_error(error: Exception | None, path: Path) -> str | None:
    """The error for a frame's row: the reason only when it names this file (the row names it)."""
    if isinstance(error, ImageLoadError) and error.path == path:
        return error.reason
    return str(error) if error else None


@dataclass
class RunOutcome:
    """What one run of a review did, apart from what earlier runs had done: reopening a finished
    review runs nothing, and its summary must say so rather than repeat the cumulative counts."""

    total: int  # frames in the review
    before: int  # frames with a full critique (run or reused) before this run
    triaged: int = 0  # frames the model scored by triage in this run (stored scores read back are not counted)
    critiqued: int = 0  # full critiques the model wrote in this run
    reused: int = 0  # frames whose critique was found from an earlier review (same content) in this run
    failed: int = 0  # frames that failed in this run

    def count(self, progress: Progress, seen: set[tuple[str, str]]) -> None:
        """Count a frame's step once (``seen``: the (status, path) pairs counted so far)."""
        if progress.path is None or progress.status is None or (progress.status, progress.path) in seen:
            return
        seen.add((progress.status, progress.path))
        field = {"triaged": "triaged", "done": "critiqued", "reused": "reused", "failed": "failed"}.get(progress.status)
        if field is not None:
            setattr(self, field, getattr(self, field) + 1)

    def describe(self, state: str) -> str:
        """``completed, this run: 6 critiqued, 1 failed (of 7 frames)``; reopened:
        ``completed, this run: nothing critiqued; 6 done before this run (of 7 frames)``."""
        ran = [f"{n} {what}" for n, what in ((self.triaged, "triaged"), (self.critiqued, "critiqued"),
                                             (self.reused, "reused from earlier reviews"), (self.failed, "failed"))
               if n]
        if not (self.triaged or self.critiqued or self.reused):
            ran.insert(0, "nothing critiqued")
        text = f"{state}, this run: {', '.join(ran)}"
        if self.before:
            text += f"; {self.before} done before this run"
        return text + f" (of {self.total} frames)"

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


_runs: dict[str, RunOutcome] = {}  # review id -> what its latest run in this process did


def keep_run(review_id: str, outcome: RunOutcome) -> None:
    with _live_lock:
        _runs[review_id] = outcome


def last_run(review_id: str) -> RunOutcome | None:
    """What the review's latest run in this process did (None: it has not run here)."""
    with _live_lock:
        return _runs.get(review_id)
