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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine.advisors import get_advisor
from app.engine.model.cancel import CancelScope
from app.engine.model.host import CancelledError
from app.engine.photos.errors import ImageLoadError
from app.engine.photos.files import HashCancelled, Skipped, check_readable_folder, file_sha256
from app.engine.review.bursts import hash_file
from app.engine.review.folder_lock import FolderBusyError, FolderLock
from app.engine.review.frame_metadata import read_frames_metadata
from app.engine.review.progress import (
    CRITIQUE,
    TRIAGE,
    Progress,
    ProgressCallback,
    RunOutcome,
    forget_live,
    keep_run,
    live_progress,
    overall_fraction,
    record_live,
    triage_share,
)
from app.engine.review.runner import resume_key, resume_settings
from app.engine.review.scan import Frame, pair_frames, scan_folder
from app.engine.review.selection import describe_policies, parse_policies
from app.engine.review.stages import (
    critique_alone,
    critique_policy,
    jump_frame,
    queued,
    run_stages,
    uses_triage,
)
from app.engine.store.reviews import FrameRow, ReviewRow

if TYPE_CHECKING:
    from app.engine.service import MondrianService
    from app.engine.store.database import Store

log = logging.getLogger(__name__)


class ReviewError(ValueError):
    """The review cannot start (no such folder, advisor or mode); the message says which."""


class ReviewBusyError(ReviewError):
    """Another review of the same folder is running (this process or another): the message says so."""




def _taken_at(path: Path) -> str | None:
    from app.engine.photos.exif import read_shooting_data

    try:
        shooting = read_shooting_data(path)
    except Exception as exc:  # noqa: BLE001 - the capture time only orders bursts
        log.debug("%s: no shooting data (%s)", path, exc)
        return None
    return shooting.taken_at.isoformat() if shooting and shooting.taken_at else None


MAX_HASH_BYTES = 2 << 30  # no photo is this big: a larger file is critiqued unhashed (not resumable)


@dataclass
class ScanProgress:
    """A review's scan, while it lists the folder and hashes each file (the API shows it)."""

    phase: str = "listing"  # listing -> hashing
    found: int = 0  # photo files found so far
    hashed: int = 0  # frames hashed
    frames: int = 0  # frames to hash
    hashed_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_registry_lock = threading.Lock()
_scans: dict[str, ScanProgress] = {}
_locks: dict[str, FolderLock] = {}


def scan_progress(review_id: str) -> ScanProgress | None:
    """The review's scan while it runs in this process, else None."""
    with _registry_lock:
        return _scans.get(review_id)


def release_folder(review_id: str) -> None:
    """Drop this process's lock on the review's folder (after the run, or when it could not start)."""
    with _registry_lock:
        lock = _locks.pop(review_id, None)
    if lock is not None:
        lock.release()


def _frame_row(review_id: str, frame: Frame, key: str, progress: ScanProgress,
               check: Callable[[int], None]) -> FrameRow:
    before = progress.hashed_bytes

    def bounded(done: int) -> None:  # each chunk: cancel, the size bound (a file growing), progress
        check(done)
        if done > MAX_HASH_BYTES:
            raise HashCancelled(f"over {MAX_HASH_BYTES >> 30} GB")
        progress.hashed_bytes = before + done

    digest: str | None = None
    try:
        if frame.path.stat().st_size <= MAX_HASH_BYTES:
            digest = file_sha256(frame.path, check=bounded)
    except (ImageLoadError, OSError, HashCancelled):
        digest = None  # unreadable or too big: the critique reports it
    taken_at = _taken_at(frame.path)
    progress.hashed += 1
    return FrameRow(review_id=review_id, path=str(frame.path), companions=[str(c) for c in frame.companions],
                    content_hash=digest, resume_key=key, taken_at=taken_at)


def _phash(store: Store, job_id: str | None, path: Path) -> str | None:
    job = store.jobs.find_job(job_id) if job_id else None
    for source in ([Path(job.thumbnail_path)] if job and job.thumbnail_path else []) + [path]:
        try:
            return hash_file(source)
        except (ImageLoadError, OSError) as exc:
            log.debug("no perceptual hash from %s: %s", source, exc)
    return None


def _check_advisor_mode(service: MondrianService, advisor_id: str, mode: str) -> str:
    """The mode, normalised; ReviewError naming the advisor or mode that is wrong."""
    try:
        get_advisor(advisor_id)
    except (KeyError, ValueError) as exc:
        raise ReviewError(str(exc)) from None
    mode = (mode or "auto").strip().lower()
    if mode not in service.modes:
        raise ReviewError(f"unknown mode {mode!r}; choose one of: {', '.join(service.modes)}")
    return mode


def _stage_settings(service: MondrianService, mode: str, critique: str | None) -> dict[str, Any]:
    """The review's second-stage policy (checked; None: the ``review_critique`` setting's) and its triage edge, kept in its settings. ReviewError naming a policy that is wrong."""
    try:
        policy = describe_policies(parse_policies(critique or service.settings.review_critique))
    except ValueError as exc:
        raise ReviewError(str(exc)) from None
    if policy == "none" and not uses_triage(service, mode):
        raise ReviewError(f"triage only needs a model: mode '{mode}' runs none here (choose another mode, "
                          "or critique every frame)")
    return {"triage_image_edge": service.settings.triage_image_edge, "critique": policy}


def open_folder_review(service: MondrianService, store: Store, folder: str | Path, advisor_id: str, mode: str, *,
                       recursive: bool = False, critique: str | None = None) -> ReviewRow:
    """Check the request, lock the folder and open (or reopen) its review row, state ``queued``;
    nothing is scanned yet (:func:`scan_review`). Quick: it lists nothing beyond the folder's first
    entry. Raises ReviewError naming the folder, advisor or mode that is wrong, and ReviewBusyError
    (a ReviewError) when another review of the folder is running. ``critique``: which frames get a
    full critique after triage (``all``, ``none`` for triage only, ``top:N``, ``picks``, ``bursts``,
    joined with ``+``; None: the ``review_critique`` setting)."""
    root = Path(folder).expanduser()
    try:
        check_readable_folder(root)
    except ImageLoadError as exc:
        raise ReviewError(str(exc)) from None
    mode = _check_advisor_mode(service, advisor_id, mode)
    stages = _stage_settings(service, mode, critique)
    settings = resume_settings(service, advisor_id, mode)
    key = resume_key(settings)
    lock = FolderLock(root, store.path.parent / "locks")
    try:
        lock.acquire()
    except FolderBusyError as exc:
        raise ReviewBusyError(str(exc)) from None
    try:
        review = store.reviews.open_review(str(root.resolve()), advisor_id, mode, key, recursive=recursive,
                                   settings={**settings, **stages, "recursive": recursive}, state="queued")
    except BaseException:
        lock.release()
        raise
    with _registry_lock:
        _locks[review.id] = lock
    return review


MAX_FILES = 10_000  # one review of a list (a Lightroom selection): more is a folder's job


@dataclass(frozen=True)
class ListedFile:
    """One file of a list review, with the user's own cull from the tool that sent it (Lightroom's
    pick flag and stars, read from its catalog; None: not given, Mondrian's cull is kept)."""

    path: str
    flag: str | None = None  # pick / reject / none
    stars: int | None = None  # 0-5


_listed: dict[str, list[ListedFile]] = {}  # review id -> its list, until scan_review reads it


def files_key(paths: list[str]) -> str:
    """The ``folder`` column of a list review: ``files:`` and a digest of its sorted paths, so the same
    selection reopens its review and never collides with a folder's review."""
    return "files:" + hashlib.sha256("\n".join(sorted(paths)).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def open_file_review(service: MondrianService, store: Store, files: list[ListedFile], advisor_id: str,
                     mode: str, *, critique: str | None = None) -> ReviewRow:
    """:func:`open_folder_review` for a list of files (a Lightroom selection) instead of a folder:
    checks the list and opens the row (``queued``); :func:`scan_review` hashes the files.

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
    stages = _stage_settings(service, mode, critique)
    paths = sorted({str(Path(item.path)) for item in files})
    settings = resume_settings(service, advisor_id, mode)
    key = resume_key(settings)
    review = store.reviews.open_review(files_key(paths), advisor_id, mode, key, recursive=False,
                               settings={**settings, **stages, "files": len(paths)}, state="queued")
    with _registry_lock:
        _listed[review.id] = list(files)
    return review


def _listed_frames(files: list[ListedFile]) -> list[Frame]:
    return pair_frames([Path(p) for p in sorted({str(Path(item.path)) for item in files})])


def _record_listed_culls(store: Store, review_id: str, files: list[ListedFile], frames: list[Frame]) -> None:
    framed = {str(f.path): str(f.path) for f in frames} | {str(c): str(f.path) for f in frames for c in f.companions}
    for item in files:
        if item.flag is None and item.stars is None:
            continue
        cull: dict[str, Any] = {}
        if item.flag is not None:
            cull["flag"] = item.flag
        if item.stars is not None:
            cull["stars"] = item.stars
        store.reviews.update_frame(review_id, framed[str(Path(item.path))], **cull)


def start_file_review(service: MondrianService, store: Store, files: list[ListedFile], advisor_id: str,
                      mode: str, *, scope: CancelScope | None = None, critique: str | None = None) -> ReviewRow:
    """:func:`open_file_review` then :func:`scan_review`: the list review with its frames."""
    review = open_file_review(service, store, files, advisor_id, mode, critique=critique)
    return scan_review(store, review.id, scope=scope)


def scan_review(store: Store, review_id: str, *, scope: CancelScope | None = None) -> ReviewRow:
    """List the review's folder (or take its file list), hash each frame (bounded, cancellable), record
    the frames and read the photographer's own ratings, labels and flags; the review becomes
    ``running``. Unreadable subfolders are recorded as skipped, with why. Raises ReviewError when the
    folder itself cannot be read and CancelledError when ``scope`` is cancelled (the review is left
    ``cancelled`` or ``failed`` and the folder unlocked)."""
    review = store.reviews.get_review(review_id)
    progress = ScanProgress()
    with _registry_lock:
        _scans[review_id] = progress
        listed = _listed.pop(review_id, None)

    def check(found: int) -> None:
        if scope is not None:
            scope.check()

    def listing(found: int) -> None:
        progress.found = found
        check(found)

    try:
        skipped: list[Skipped] = []
        if review.folder.startswith("files:"):
            if listed is None:
                raise ReviewError("this review's file list is gone (the server restarted): send the files again")
            frames = _listed_frames(listed)
        else:
            frames = scan_folder(Path(review.folder), recursive=review.recursive, skipped=skipped, check=listing)
        progress.phase, progress.frames, progress.found = "hashing", len(frames), len(frames)
        rows = []
        for frame in frames:
            check(0)
            rows.append(_frame_row(review_id, frame, review.resume_key, progress, check))
            time.sleep(0)  # hand the GIL over between files: a server's event loop answers meanwhile
        store.reviews.set_frames(review_id, rows)
        store.reviews.set_review_skipped(review_id, [s.to_dict() for s in skipped])
        if listed is not None:
            _record_listed_culls(store, review_id, listed, frames)
        read_frames_metadata(store, review_id, [str(f.path) for f in frames])  # the photographer's ratings...
        return store.reviews.set_review_state(review_id, "running")
    except CancelledError:
        store.reviews.set_review_state(review_id, "cancelled", "cancelled while scanning the folder")
        release_folder(review_id)
        raise
    except ReviewError as exc:
        store.reviews.set_review_state(review_id, "failed", str(exc))
        release_folder(review_id)
        raise
    except ImageLoadError as exc:
        store.reviews.set_review_state(review_id, "failed", str(exc))
        release_folder(review_id)
        raise ReviewError(str(exc)) from None
    except BaseException as exc:
        store.reviews.set_review_state(review_id, "failed", f"{type(exc).__name__}: {exc}")
        release_folder(review_id)
        raise
    finally:
        with _registry_lock:
            _scans.pop(review_id, None)


def start_review(service: MondrianService, store: Store, folder: str | Path, advisor_id: str, mode: str, *,
                 recursive: bool = False, scope: CancelScope | None = None, critique: str | None = None) -> ReviewRow:
    """:func:`open_folder_review` then :func:`scan_review`: the review row with its frames, nothing
    critiqued yet. Raises ReviewError naming the folder, advisor, mode or critique policy that is wrong."""
    review = open_folder_review(service, store, folder, advisor_id, mode, recursive=recursive, critique=critique)
    return scan_review(store, review.id, scope=scope)


def run_review(service: MondrianService, store: Store, review_id: str, *,
               on_progress: ProgressCallback | None = None, scope: CancelScope | None = None) -> ReviewRow:
    """Critique the review's pending frames (reusing earlier identical critiques); returns the final row.
    Releases this process's lock on the folder when it ends, however it ends."""
    review = store.reviews.get_review(review_id)
    triaged = uses_triage(service, review.mode)
    share = triage_share(triaged, critique_policy(review, service.settings.review_critique))
    outcome, seen = RunOutcome(total=review.total, before=review.done + review.reused), set[tuple[str, str]]()

    def report(progress: Progress) -> None:  # every step is kept for GET /reviews/{id} (Lightroom polls it)
        record_live(progress, share)
        outcome.count(progress, seen)
        if on_progress is not None:
            on_progress(progress)

    try:
        final = _run_review(service, store, review_id, on_progress=report, scope=scope,
                            first_stage=TRIAGE if triaged else CRITIQUE)
        outcome.total = final.total
        return final
    finally:
        keep_run(review_id, outcome)  # what this run did (last_run): the summary's wording
        forget_live(review_id)
        release_folder(review_id)


def _run_review(service: MondrianService, store: Store, review_id: str, *,
                on_progress: ProgressCallback | None, scope: CancelScope | None, first_stage: str) -> ReviewRow:
    review = store.reviews.get_review(review_id)
    frames = store.reviews.list_frames(review_id)
    finished = sum(f.status in ("done", "reused") for f in frames)
    pending = [f for f in frames if f.status not in ("done", "reused")]
    to_run: list[FrameRow] = []
    try:
        for frame in pending:  # content already critiqued under this key by any review: no model needed
            if scope is not None:
                scope.check()
            job_id = store.reviews.reviewed_job(frame.content_hash, frame.resume_key) if frame.content_hash else None
            if job_id is None:
                to_run.append(frame)
                continue
            store.reviews.update_frame(review_id, frame.path, status="reused", job_id=job_id, error=None,
                               phash=frame.phash or _phash(store, job_id, Path(frame.path)))
            finished += 1
            if on_progress:
                on_progress(Progress(review_id, finished, len(frames), 0, frame.path, "reused", job_id,
                                     stage=first_stage))
    except CancelledError:
        store.reviews.refresh_review_counts(review_id)
        return store.reviews.set_review_state(review_id, "cancelled", "cancelled")
    store.reviews.refresh_review_counts(review_id)
    if on_progress:
        on_progress(Progress(review_id, finished, len(frames), len(to_run), stage=first_stage))
    started = time.perf_counter()
    try:
        run_stages(service, store, review, to_run, on_progress, scope or CancelScope(),
                   lambda job_id, path: _phash(store, job_id, path))
    except CancelledError:
        return store.reviews.set_review_state(review_id, "cancelled", "cancelled")
    except BaseException as exc:
        store.reviews.set_review_state(review_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    log.info("review %s: %d frame(s) to run, done in %.1f s", review_id, len(to_run), time.perf_counter() - started)
    return store.reviews.set_review_state(review_id, "completed")


QUEUED, DONE, FAILED = "queued", "done", "failed"  # what critique_on_demand did


def critique_on_demand(service: MondrianService, store: Store, review_id: str, path: str, *,
                       scope: CancelScope | None = None, on_progress: ProgressCallback | None = None) -> str:
    """The full critique of one frame the user opened (the window's grid, ``POST /reviews/{id}/jump``):
    ``queued`` when the review runs here (the frame goes first in its second stage); otherwise that
    frame is critiqued now, alone, and recorded as the frame's critique like any other (its job linked
    to the review, the frame ``done`` or ``failed``, the counts refreshed): ``done``, or ``failed``
    (the frame's row says why). A frame with an outcome already is left as it is. Raises
    ReviewNotFoundError when the review has no such frame, ReviewBusyError when another process runs
    the folder's review, CancelledError when ``scope`` is cancelled."""
    if jump_frame(review_id, path):
        return QUEUED
    review = store.reviews.get_review(review_id)
    frame = store.reviews.get_frame(review_id, path)
    if frame.status not in ("done", "reused", "failed"):
        lock = None if review.folder.startswith("files:") else FolderLock(Path(review.folder), store.path.parent / "locks")
        try:
            if lock is not None:
                lock.acquire()  # not while another process runs this folder's review
        except FolderBusyError as exc:
            raise ReviewBusyError(str(exc)) from None
        try:
            critique_alone(service, store, review, path, scope or CancelScope(), on_progress,
                           lambda job_id, p: _phash(store, job_id, p))
        finally:
            if lock is not None:
                lock.release()
        frame = store.reviews.get_frame(review_id, path)
    return FAILED if frame.status == "failed" else DONE


def review_folder(service: MondrianService, store: Store, folder: str | Path, advisor_id: str, mode: str = "auto",
                  *, recursive: bool = False, on_progress: ProgressCallback | None = None,
                  scope: CancelScope | None = None, critique: str | None = None) -> ReviewRow:
    """:func:`start_review` then :func:`run_review`."""
    review = start_review(service, store, folder, advisor_id, mode, recursive=recursive, critique=critique)
    return run_review(service, store, review.id, on_progress=on_progress, scope=scope)


def review_payload(store: Store, review_id: str) -> dict[str, Any]:
    """The review row, its frames and the ranked summary as JSON-able data (HTTP, --json)."""
    from app.engine.review.summary import build_summary

    review = store.reviews.get_review(review_id)
    summary = build_summary(store, review_id)
    out = review.to_dict()
    policy = review.settings.get("critique")
    triaged = sum(f.triage is not None for f in summary.frames)
    out["stages"] = {"triage": {"scored": triaged, "total": review.total},
                     "critique": {"policy": policy if isinstance(policy, str) else None,
                                  "critiqued": review.done + review.reused, "queued": queued(review_id)}}
    out.update(review_progress(review, triaged))
    return {"review": out, "summary": summary.to_dict()}


def listed_review(review: ReviewRow) -> dict[str, Any]:
    """A review as ``GET /reviews`` lists it: its row, with the progress across both stages and the
    stage running while it runs in this process (the list reads no frames; ``GET /reviews/{id}``
    adds the stored counts of each stage)."""
    out = review.to_dict()
    if review.state == "completed" or live_progress(review.id) is not None:
        out.update(review_progress(review, 0))
    return out


def review_progress(review: ReviewRow, triaged: int) -> dict[str, Any]:
    """``progress`` (0-1) across both stages and ``stage`` (the one running, None when not running):
    while the review runs here, from its latest step, triage filling the first
    :data:`~app.engine.review.progress.TRIAGE_SHARE` of the bar when full critiques follow (all of
    it for triage only); otherwise from the stored counts (``triaged``: frames with a triage score)."""
    if review.state == "completed":
        return {"progress": 1.0, "stage": None}  # both stages ran (a frame left to triage alone is finished)
    live = live_progress(review.id)
    if live is not None:
        step, share = live
        return {"progress": overall_fraction(step.stage, step.finished, step.total, share), "stage": step.stage}
    if not review.total:
        return {"progress": 0.0, "stage": None}
    if not triaged:  # no triage (technical, or no model): the critiques are the whole bar
        return {"progress": overall_fraction(CRITIQUE, review.finished, review.total, 0.0), "stage": None}
    share = triage_share(True, review.settings.get("critique") if isinstance(review.settings.get("critique"), str)
                         else None)
    scored = max(triaged, review.finished)
    if scored < review.total:
        return {"progress": overall_fraction(TRIAGE, scored, review.total, share), "stage": None}
    return {"progress": overall_fraction(CRITIQUE, review.done + review.reused, review.total, share), "stage": None}
