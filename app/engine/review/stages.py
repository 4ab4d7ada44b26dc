"""The two stages of a review (issue 21): triage every frame, then full critiques where they matter.

1. **Triage**: one constrained pass per frame for the eight scores alone, from a smaller photo
   (:func:`app.engine.review.triage.triage_many`), batched, the next batch prepared while the
   model scores this one. Each result is kept by the frame's content and a triage key (the review's
   key and the triage edge), so a re-run, or another review of the same photos, reads it back.
2. **Full critiques** for the frames the second-stage policy selects (``review_critique``, or the
   review's own ``critique`` option: ``all``, ``top:N``, ``picks``, ``bursts``, ``none``, joined
   with ``+``), best triage score first, from a :class:`~app.engine.review.selection.CritiqueQueue`
   that a frame the user opens jumps (:func:`jump_frame`), batched, the next batch prepared ahead.

A mode with no model (``technical``, or no model on this machine) has no triage: every pending
frame goes to the second stage in folder order, as before. One path for the CLI, the HTTP API and
the window: they all call :func:`app.engine.review.folder_review.run_review`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine import paths
from app.engine.critique.triage import TOKENS_PER_EDGE, TriageScores
from app.engine.jobs import THUMBNAIL_EDGE, thumbnail_from_image
from app.engine.model.memory import CRITIQUE_CAP, TRIAGE_CAP, batch_size_for
from app.engine.photos.prepare import PreparedPhoto, prepare_photo
from app.engine.review.bursts import BurstInput, group_bursts, perceptual_hash
from app.engine.review.prefetch import Prefetch
from app.engine.review.progress import CRITIQUE, TRIAGE, Progress, ProgressCallback, frame_error
from app.engine.review.runner import critique_many
from app.engine.review.selection import CritiqueQueue, describe_policies, parse_policies, select_frames
from app.engine.review.summary import parse_time
from app.engine.review.triage import content_key, triage_key, triage_many
from app.engine.vocabulary import Mode, parse_mode

if TYPE_CHECKING:
    from app.engine.service import CritiqueResult, MondrianService
    from app.engine.store.database import Store
    from app.engine.store.reviews import FrameRow, ReviewRow

log = logging.getLogger(__name__)

TRIAGED = "triaged"  # Progress.status of a frame scored by triage
TEXT_TOKENS = 1200  # a prompt's text on the default model (role, format, persona, facts), for the estimate
ANSWER_TOKENS = {TRIAGE: 64, CRITIQUE: 900}

_queues_lock = threading.Lock()
_queues: dict[str, CritiqueQueue] = {}  # review id -> its critique queue, while the review runs (both stages)


def critique_policy(review: ReviewRow, default: str) -> str:
    """The review's own second-stage policy (its ``critique`` option) or the setting's."""
    value = review.settings.get("critique")
    return value if isinstance(value, str) and value else default


def uses_triage(service: MondrianService, mode: str) -> bool:
    """Triage needs a model: not for ``technical`` nor when no model is on this machine."""
    return parse_mode(mode) is not Mode.TECHNICAL and service.model_available()


def jump_frame(review_id: str, path: str) -> bool:
    """Put ``path`` first in the running review's second stage (the user opened it; during triage it
    goes first once the critiques start). False when the review is not running here (then nothing is
    queued: the caller may critique it alone)."""
    with _queues_lock:
        queue = _queues.get(review_id)
    if queue is None:
        return False
    queue.jump(path)
    return True


def critique_alone(service: MondrianService, store: Store, review: ReviewRow, path: str, scope: Any,
                   on_progress: ProgressCallback | None, phash: Callable[[str | None, Path], str | None]) -> None:
    """The second stage for one frame while the review is not running (the user opened it): the same
    recording as any critique of the stage (job linked, frame done or failed, counts refreshed)."""
    frames = store.reviews.list_frames(review.id)
    run = _Run(service, store, review, frames, on_progress, phash)
    finished = sum(f.status in ("done", "reused", "failed") for f in frames)
    run.critique([path], finished, scope, CritiqueQueue())


def queued(review_id: str) -> int | None:
    """Frames still waiting for a full critique in the running review (None: not running)."""
    with _queues_lock:
        queue = _queues.get(review_id)
    return len(queue) if queue is not None else None


@dataclass
class _Prepared:
    """A frame prepared for the model, with what the review keeps from it before any critique."""

    photo: PreparedPhoto
    phash: str | None
    thumbnail: str | None


def _prepare_for_triage(service: MondrianService, path: Path, key: str) -> _Prepared:
    photo = prepare_photo(path, service.settings)
    phash = thumb = None
    try:
        phash = perceptual_hash(photo.image)
        dest = paths.thumbnails_dir() / f"triage-{hashlib.sha256(key.encode()).hexdigest()[:24]}.jpg"
        if not dest.exists():
            thumbnail_from_image(photo.image, dest, THUMBNAIL_EDGE)
        thumb = str(dest)
    except (OSError, ValueError) as exc:  # a thumbnail or hash problem never costs the frame its score
        log.warning("%s: no thumbnail for its triage (%s)", path, exc)
    return _Prepared(photo, phash, thumb)


def review_batch_size(service: MondrianService, stage: str) -> int:
    """The review's batch size for ``stage``: the setting, else the memory estimate for the loaded model."""
    setting = service.settings.review_batch_size
    loaded = service.host.loaded
    if setting > 0 or loaded is None:
        return setting if setting > 0 else (TRIAGE_CAP if stage == TRIAGE else CRITIQUE_CAP)
    config = loaded.model.config
    vision = getattr(config, "vision_config", None)
    step = int(getattr(vision, "patch_size", 0) or 0) * int(getattr(vision, "spatial_merge_size", 0) or 0) or 32
    along = TOKENS_PER_EDGE if stage == TRIAGE else max(1, service.settings.max_image_edge // step)
    image = along * along  # the worst case, a square photo (the triage edge is TOKENS_PER_EDGE tokens long)
    return batch_size_for(config, TEXT_TOKENS + image + ANSWER_TOKENS[stage],
                          cap=TRIAGE_CAP if stage == TRIAGE else CRITIQUE_CAP)


class _Run:
    """One run of a review's two stages (what both stages share: the frames, counts, callbacks)."""

    def __init__(self, service: MondrianService, store: Store, review: ReviewRow, frames: list[FrameRow],
                 on_progress: ProgressCallback | None, phash: Callable[[str | None, Path], str | None]):
        self.service, self.store, self.review, self.frames = service, store, review, frames
        self.on_progress, self.phash = on_progress, phash
        self.by_path = {f.path: f for f in frames}

    def emit(self, progress: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)

    # ---- stage 1 -------------------------------------------------------------------------------
    def triage(self, to_run: list[FrameRow], scope: Any) -> dict[str, TriageScores]:
        """Scores for ``to_run`` (stored ones read back, the rest computed and stored); path -> scores."""
        review, store = self.review, self.store
        key = triage_key(review)
        stored = store.triage_scores.triage_results([content_key(f) for f in to_run], key)
        scores: dict[str, TriageScores] = {}
        for frame in to_run:
            data = stored.get(content_key(frame))
            if data is not None:
                try:
                    scores[frame.path] = TriageScores.from_dict(data)
                except (TypeError, ValueError) as exc:
                    log.warning("%s: stored triage unreadable (%s): scored again", frame.path, exc)
        need = [f for f in to_run if f.path not in scores]
        done = len(self.frames) - len(need)
        self.emit(Progress(review.id, done, len(self.frames), len(need), stage=TRIAGE))
        if not need:
            return scores
        extras: dict[Path, _Prepared] = {}

        def prepare(path: Path) -> PreparedPhoto:
            prepared = _prepare_for_triage(self.service, path, content_key(self.by_path[str(path)]))
            extras[path] = prepared
            return prepared.photo

        counter = [done]

        def delivered(index: int, path: Path, result: TriageScores | None, error: Exception | None) -> None:
            frame = need[index]
            extra = extras.pop(path, None)
            counter[0] += 1
            if result is not None:
                record = result.to_dict() | {"technical": extra.photo.analysis.to_dict() if extra else None,
                                             "thumbnail": extra.thumbnail if extra else None}
                store.triage_scores.save_triage(content_key(frame), key, record)
                if extra is not None and extra.phash and not frame.phash:
                    store.reviews.update_frame(review.id, frame.path, phash=extra.phash)
                scores[frame.path] = result
                self.emit(Progress(review.id, counter[0], len(self.frames), len(need), frame.path, TRIAGED,
                                   stage=TRIAGE))
                return
            text = frame_error(error, path) or "no triage"
            if extra is None:  # the photo itself could not be read: the frame fails, no critique either
                store.reviews.update_frame(review.id, frame.path, status="failed", error=text)
                store.reviews.refresh_review_counts(review.id)
                self.emit(Progress(review.id, counter[0], len(self.frames), len(need), frame.path, "failed",
                                   error=text, stage=TRIAGE))
            else:  # the model's answer was unusable: ranked last, still critiqued if the policy says so
                log.warning("%s: triage failed (%s)", frame.path, text)

        triage_many(self.service, [Path(f.path) for f in need], review.advisor_id, review.mode,
                    on_result=delivered, scope=scope, batch_size=review_batch_size(self.service, TRIAGE), prepare=prepare)
        return scores

    # ---- stage 2 -------------------------------------------------------------------------------
    def select(self, candidates: list[FrameRow], scores: dict[str, TriageScores]) -> list[str]:
        """The frames the policy picks among ``candidates``, best triage score first."""
        policies = parse_policies(critique_policy(self.review, self.service.settings.review_critique))
        metadata = self.store.sidecar_writes.frame_metadata(self.review.id)
        picks = {f.path for f in candidates if f.flag == "pick" or (f.stars or 0) > 0
                 or (metadata.get(f.path) or {}).get("flag") == "pick"
                 or ((metadata.get(f.path) or {}).get("rating") or 0) > 0}
        bursts = group_bursts([BurstInput(f.path, f.phash,
                                          parse_time(f.taken_at),
                                          scores[f.path].expected_overall if f.path in scores else None)
                               for f in candidates])
        return select_frames(policies, [f.path for f in candidates], scores, picks=picks, bursts=bursts)

    def critique(self, selected: list[str], finished: int, scope: Any, queue: CritiqueQueue) -> None:
        """Full critiques from the queue (jumps honoured between batches), the next batch prepared ahead.
        Frames the user opened during triage are already in ``queue``, first."""
        review, store = self.review, self.store
        for path in selected:
            queue.push(path)
        planned = set(selected) | {p for p in queue.peek(len(queue)) if self._waiting(p)}
        counter = [finished]

        def total() -> int:
            return finished + len(planned)

        def delivered(path: Path, result: CritiqueResult | None, error: Exception | None) -> None:
            counter[0] += 1
            if result is not None and result.job_id:
                try:
                    store.reviews.link_job(result.job_id, review.id)
                except Exception as exc:  # noqa: BLE001 - the critique stands even if the link fails
                    log.warning("could not link job %s to review %s: %s", result.job_id, review.id, exc)
            if result is None or not result.ok:
                text = frame_error(error, path) or "; ".join(result.parse_problems if result else []) or "no report"
                store.reviews.update_frame(review.id, str(path), status="failed", error=text,
                                   job_id=result.job_id if result else None)
                status, job_id = "failed", (result.job_id if result else None)
            else:
                frame = store.reviews.get_frame(review.id, str(path))
                store.reviews.update_frame(review.id, str(path), status="done", job_id=result.job_id, error=None,
                                   phash=frame.phash or self.phash(result.job_id, path))
                status, job_id, text = "done", result.job_id, ""
            store.reviews.refresh_review_counts(review.id)
            self.emit(Progress(review.id, counter[0], total(), len(planned), str(path), status, job_id, text or None))

        self.emit(Progress(review.id, finished, total(), len(planned)))
        rows = review_batch_size(self.service, CRITIQUE)
        with Prefetch(lambda p: prepare_photo(p, self.service.settings)) as prefetch:
            while True:
                batch = [p for p in queue.take(rows) if self._waiting(p)]
                if not batch:
                    if len(queue) == 0:
                        break
                    continue
                planned.update(batch)  # a jumped frame joins the plan
                prefetch.ahead(Path(p) for p in batch)
                prefetch.ahead(Path(p) for p in queue.peek(rows))  # prepared while the model writes
                critique_many(self.service, [Path(p) for p in batch], review.advisor_id, review.mode,
                              on_result=lambda _i, path, result, error: delivered(path, result, error),
                              scope=scope, batch_size=rows, prepare=prefetch.take)

    def _waiting(self, path: str) -> bool:
        """Still to critique: a frame of this review not done, reused or failed meanwhile."""
        if path not in self.by_path:
            return False
        return self.store.reviews.get_frame(self.review.id, path).status not in ("done", "reused", "failed")


def run_stages(service: MondrianService, store: Store, review: ReviewRow, to_run: list[FrameRow],
               on_progress: ProgressCallback | None, scope: Any,
               phash: Callable[[str | None, Path], str | None]) -> None:
    """Triage ``to_run`` (when the mode has a model), then critique what the policy selects.
    Raises CancelledError when ``scope`` is cancelled (everything finished so far is kept)."""
    queue = CritiqueQueue()  # open for jumps from the start: a frame opened during triage goes first
    with _queues_lock:
        _queues[review.id] = queue
    try:
        _run_stages(service, store, review, to_run, on_progress, scope, phash, queue)
    finally:
        with _queues_lock:
            _queues.pop(review.id, None)


def _run_stages(service: MondrianService, store: Store, review: ReviewRow, to_run: list[FrameRow],
                on_progress: ProgressCallback | None, scope: Any, phash: Callable[[str | None, Path], str | None],
                queue: CritiqueQueue) -> None:
    frames = store.reviews.list_frames(review.id)
    run = _Run(service, store, review, frames, on_progress, phash)
    scores = run.triage(to_run, scope) if uses_triage(service, review.mode) else None
    rows = store.reviews.list_frames(review.id)
    finished = sum(f.status in ("done", "reused", "failed") for f in rows)
    if scores is None:  # no model, no triage: every pending frame, in folder order
        selected = [f.path for f in to_run]
    else:  # the policy counts the whole shoot (top:N includes frames critiqued by an earlier run)
        key = triage_key(review)
        earlier = store.triage_scores.triage_results([content_key(f) for f in rows if f.path not in scores], key)
        for f in rows:
            if f.path not in scores and content_key(f) in earlier:
                try:
                    scores[f.path] = TriageScores.from_dict(earlier[content_key(f)])
                except (TypeError, ValueError):
                    continue
        chosen = run.select([f for f in rows if f.status != "failed"], scores)
        pending = {f.path for f in rows if f.status not in ("done", "reused", "failed")}
        selected = [p for p in chosen if p in pending]
    policy = describe_policies(parse_policies(critique_policy(review, service.settings.review_critique)))
    log.info("review %s: %d frame(s) to critique (%s)", review.id, len(selected), policy if scores is not None else "all")
    run.critique(selected, finished, scope, queue)
