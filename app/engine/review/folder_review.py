"""A review of a folder: scan, skip what was already reviewed, critique the rest, record everything.

Resumable by content: each frame's file is hashed (SHA-256) and a frame whose content was already
critiqued under the same :func:`~app.engine.review.runner.resume_key` (advisor, mode, model,
adapter, prompt settings) by any earlier review reuses that job instead of running the model. A
re-run of a finished review therefore costs the hashing and a few queries. Reopening the same
folder with the same key continues the same review row. Every frame critiqued is a job linked to
the review (``jobs.review_id``); cancelling stops before the next frame and leaves the review
``cancelled`` with what was done kept.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine.advisors import get_advisor
from app.engine.model.cancel import CancelScope
from app.engine.model.host import CancelledError
from app.engine.photos.errors import ImageLoadError
from app.engine.photos.files import file_sha256
from app.engine.review.bursts import hash_file
from app.engine.review.frame_metadata import read_frames_metadata
from app.engine.review.runner import critique_many, resume_key, resume_settings
from app.engine.review.scan import Frame, pair_frames, scan_folder
from app.engine.store.reviews import FrameRow, ReviewRow

if TYPE_CHECKING:
    from app.engine.service import CritiqueResult, MondrianService
    from app.engine.store.database import Store

log = logging.getLogger(__name__)


class ReviewError(ValueError):
    """The review cannot start (no such folder, advisor or mode); the message says which."""


@dataclass(frozen=True)
class Progress:
    """One step of a review, for a progress bar or the window's grid."""

    review_id: str
    finished: int  # frames with an outcome so far (critiqued, reused or failed)
    total: int
    to_run: int  # frames that need the model in this run
    path: str | None = None  # the frame just finished (None for the start event)
    status: str | None = None  # done / reused / failed
    job_id: str | None = None
    error: str | None = None


ProgressCallback = Callable[[Progress], None]


def _taken_at(path: Path) -> str | None:
    from app.engine.photos.exif import read_shooting_data

    try:
        shooting = read_shooting_data(path)
    except Exception as exc:  # noqa: BLE001 - the capture time only orders bursts
        log.debug("%s: no shooting data (%s)", path, exc)
        return None
    return shooting.taken_at.isoformat() if shooting and shooting.taken_at else None


def _frame_row(review_id: str, frame: Frame, key: str) -> FrameRow:
    try:
        digest: str | None = file_sha256(frame.path)
    except (ImageLoadError, OSError):
        digest = None  # unreadable: the critique reports it
    return FrameRow(review_id=review_id, path=str(frame.path), companions=[str(c) for c in frame.companions],
                    content_hash=digest, resume_key=key, taken_at=_taken_at(frame.path))


def _phash(store: Store, job_id: str | None, path: Path) -> str | None:
    job = store.find_job(job_id) if job_id else None
    for source in ([Path(job.thumbnail_path)] if job and job.thumbnail_path else []) + [path]:
        try:
            return hash_file(source)
        except (ImageLoadError, OSError) as exc:
            log.debug("no perceptual hash from %s: %s", source, exc)
    return None


def _check_advisor_mode(service: MondrianService, advisor_id: str, mode: str) -> str:
    try:
        get_advisor(advisor_id)
    except (KeyError, ValueError) as exc:
        raise ReviewError(str(exc)) from None
    mode = (mode or "auto").strip().lower()
    if mode not in service.modes:
        raise ReviewError(f"unknown mode {mode!r}; choose one of: {', '.join(service.modes)}")
    return mode


def start_review(service: MondrianService, store: Store, folder: str | Path, advisor_id: str, mode: str, *,
                 recursive: bool = False) -> ReviewRow:
    """Check the request, scan the folder and open (or reopen) its review row; nothing is critiqued yet.
    Raises ReviewError naming the folder, advisor or mode that is wrong."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ReviewError(f"{root}: {'not a folder' if root.exists() else 'folder not found'}")
    mode = _check_advisor_mode(service, advisor_id, mode)
    frames = scan_folder(root, recursive=recursive)
    settings = resume_settings(service, advisor_id, mode)
    key = resume_key(settings)
    review = store.open_review(str(root.resolve()), advisor_id, mode, key, recursive=recursive,
                               settings={**settings, "recursive": recursive})
    store.set_frames(review.id, [_frame_row(review.id, f, key) for f in frames])
    read_frames_metadata(store, review.id, [str(f.path) for f in frames])  # the photographer's ratings, labels...
    return store.get_review(review.id)


MAX_FILES = 10_000  # one review of a list (a Lightroom selection): more is a folder's job


@dataclass(frozen=True)
class ListedFile:
    """One file of a list review, with the user's own cull from the tool that sent it (Lightroom's
    pick flag and stars, read from its catalog; None: not given, Mondrian's cull is kept)."""

    path: str
    flag: str | None = None  # pick / reject / none
    stars: int | None = None  # 0-5


def files_key(paths: list[str]) -> str:
    """The ``folder`` column of a list review: ``files:`` and a digest of its sorted paths, so the same
    selection reopens its review and never collides with a folder's review."""
    return "files:" + hashlib.sha256("\n".join(sorted(paths)).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def start_file_review(service: MondrianService, store: Store, files: list[ListedFile], advisor_id: str,
                      mode: str) -> ReviewRow:
    """:func:`start_review` for a list of files (a Lightroom selection) instead of a folder.

    Each path must be absolute; a RAW and its JPEG in the list count as one frame (as in a folder). A
    file that is missing or offline is not refused: it becomes a frame that fails with the reason, so
    the caller gets a per-photo answer. The user's flag and stars, when given, are recorded as the
    frame's cull (what the user decided, never Mondrian's guess)."""
    if not files:
        raise ReviewError("files: give at least one path")
    if len(files) > MAX_FILES:
        raise ReviewError(f"files: at most {MAX_FILES} paths in one review, not {len(files)}")
    for item in files:
        if not Path(item.path).is_absolute():
            raise ReviewError(f"files: {item.path!r} is not an absolute path")
    mode = _check_advisor_mode(service, advisor_id, mode)
    paths = sorted({str(Path(item.path)) for item in files})
    frames = pair_frames([Path(p) for p in paths])
    settings = resume_settings(service, advisor_id, mode)
    key = resume_key(settings)
    review = store.open_review(files_key(paths), advisor_id, mode, key, recursive=False,
                               settings={**settings, "files": len(paths)})
    store.set_frames(review.id, [_frame_row(review.id, f, key) for f in frames])
    framed = {str(f.path): str(f.path) for f in frames} | {str(c): str(f.path) for f in frames for c in f.companions}
    for item in files:
        if item.flag is None and item.stars is None:
            continue
        cull: dict[str, Any] = {}
        if item.flag is not None:
            cull["flag"] = item.flag
        if item.stars is not None:
            cull["stars"] = item.stars
        store.update_frame(review.id, framed[str(Path(item.path))], **cull)
    return store.get_review(review.id)


def run_review(service: MondrianService, store: Store, review_id: str, *,
               on_progress: ProgressCallback | None = None, scope: CancelScope | None = None) -> ReviewRow:
    """Critique the review's pending frames (reusing earlier identical critiques); returns the final row."""
    review = store.get_review(review_id)
    frames = store.list_frames(review_id)
    finished = sum(f.status in ("done", "reused") for f in frames)
    pending = [f for f in frames if f.status not in ("done", "reused")]
    to_run: list[FrameRow] = []
    for frame in pending:  # content already critiqued under this key by any review: no model needed
        job_id = store.reviewed_job(frame.content_hash, frame.resume_key) if frame.content_hash else None
        if job_id is None:
            to_run.append(frame)
            continue
        store.update_frame(review_id, frame.path, status="reused", job_id=job_id, error=None,
                           phash=frame.phash or _phash(store, job_id, Path(frame.path)))
        finished += 1
        if on_progress:
            on_progress(Progress(review_id, finished, len(frames), 0, frame.path, "reused", job_id))
    store.refresh_review_counts(review_id)
    if on_progress:
        on_progress(Progress(review_id, finished, len(frames), len(to_run)))
    counter = [finished]

    def delivered(index: int, path: Path, result: CritiqueResult | None, error: Exception | None) -> None:
        frame = to_run[index]
        counter[0] += 1
        if result is not None and result.job_id:
            try:
                store.link_job(result.job_id, review_id)
            except Exception as exc:  # noqa: BLE001 - the critique stands even if the link fails
                log.warning("could not link job %s to review %s: %s", result.job_id, review_id, exc)
        if result is None or not result.ok:
            text = str(error) if error else "; ".join(result.parse_problems if result else []) or "no report"
            store.update_frame(review_id, frame.path, status="failed", error=text,
                               job_id=result.job_id if result else None)
            status, job_id = "failed", (result.job_id if result else None)
        else:
            store.update_frame(review_id, frame.path, status="done", job_id=result.job_id, error=None,
                               phash=_phash(store, result.job_id, path))
            status, job_id, text = "done", result.job_id, ""
        store.refresh_review_counts(review_id)
        if on_progress:
            on_progress(Progress(review_id, counter[0], len(frames), len(to_run), frame.path, status, job_id,
                                 text or None))

    started = time.perf_counter()
    try:
        critique_many(service, [Path(f.path) for f in to_run], review.advisor_id, review.mode,
                      on_result=delivered, scope=scope)
    except CancelledError:
        return store.set_review_state(review_id, "cancelled", "cancelled")
    except BaseException as exc:
        store.set_review_state(review_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    log.info("review %s: %d frame(s) critiqued in %.1f s", review_id, len(to_run), time.perf_counter() - started)
    return store.set_review_state(review_id, "completed")


def review_folder(service: MondrianService, store: Store, folder: str | Path, advisor_id: str, mode: str = "auto",
                  *, recursive: bool = False, on_progress: ProgressCallback | None = None,
                  scope: CancelScope | None = None) -> ReviewRow:
    """:func:`start_review` then :func:`run_review`."""
    review = start_review(service, store, folder, advisor_id, mode, recursive=recursive)
    return run_review(service, store, review.id, on_progress=on_progress, scope=scope)


def review_payload(store: Store, review_id: str) -> dict[str, Any]:
    """The review row, its frames and the ranked summary as JSON-able data (HTTP, --json)."""
    from app.engine.review.summary import build_summary

    review = store.get_review(review_id)
    return {"review": review.to_dict(), "summary": build_summary(store, review_id).to_dict()}
