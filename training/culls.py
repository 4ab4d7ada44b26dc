"""The photographer's culls as training examples: decisions read, mapped to target scores, paired.

**Where decisions come from** (:func:`review_decisions`). For each frame of a review: the flag and
stars set in Mondrian's window (stored on the review's frames); for a frame with neither, the
rating the photographer gave elsewhere (Lightroom, Capture One, darktable: XMP sidecar or embedded,
read by :func:`file_decision`, the one adapter to point at the metadata issue's reader); a report
whose scores the user edited (an edited profile of the review's advisor) gives its scores exactly.
Frames with no decision are left out: nothing is invented.

**The mapping** (:func:`target_scores`, one documented rule). The user's level becomes a mean
0-10 score with :func:`training.targets.stars_anchor` (1 star 2.5 ... 5 stars 9.5, a reject 1.5;
a pick without stars counts as 4 stars, 7.75). The target keeps the advisor's own profile across
the eight dimensions (what it saw as strong or weak) and moves its mean to that anchor, rounded
and clamped to 0-10; with no earlier answer every dimension gets the anchor. The overall grade
is derived from the scores elsewhere, so no grade is trained.

**Answers** are the scores-only triage format (``{"composition": 7, ...}``, the eight dimensions in
order): a long comment would dilute the score tokens in a length-normalised preference loss.

**Pairs** (:func:`build_examples`). mlx-vlm's preference rows hold one image with a chosen and a
rejected answer to the same prompt. The chosen answer is the target; the rejected one is the
advisor's earlier answer when it disagrees (its mean is ``DISAGREE`` points or more off the
target); otherwise the target's mirror about the scale's middle in the wrong direction (a kept
frame scored low, a rejected one high). In a burst the pick and each rejected sibling get answers
that point in opposite directions, the strongest signal a cull gives.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.engine.critique.report import DIMENSIONS, SCORE_MAX, SCORE_MIN

from .targets import stars_anchor

if TYPE_CHECKING:
    from app.engine.sidecars.metadata import Written
    from app.engine.store.database import Store

log = logging.getLogger(__name__)

PICK_STARS = 4  # a pick without stars counts as this many
KEEP_STARS = 3  # stars at or above this count as kept (with picks) for pick precision
DISAGREE = 1.0  # the earlier answer is the rejected one when its mean is this far from the target


@dataclass
class Decision:
    """What the user decided about one frame, and what the advisor answered before."""

    path: str
    shoot: str  # the review id
    group: str  # the burst ("<review>/burst-N") or the frame's own path
    stars: int | None = None  # 1-5
    flag: str | None = None  # "pick" | "reject"
    label: str | None = None  # kept for the record; a colour has no agreed order, so it ranks nothing
    edited: dict[str, int] | None = None  # scores the user set in a report
    earlier: dict[str, int] | None = None  # the advisor's own earlier scores
    source: str = "window"  # where the decision was read

    @property
    def decided(self) -> bool:
        return self.stars is not None or self.flag is not None or self.edited is not None


def user_level(d: Decision) -> float:
    """The user's order on frames: reject 0, stars 1-5 (a pick without stars: PICK_STARS), +0.5 for a
    pick, so a pick beats its same-starred sibling; edited scores give their mean / 2."""
    if d.flag == "reject":
        return 0.0
    if d.stars is not None:
        return d.stars + (0.5 if d.flag == "pick" else 0.0)
    if d.flag == "pick":
        return PICK_STARS + 0.5
    if d.edited:
        return sum(d.edited.values()) / len(d.edited) / 2
    return float("nan")


def kept(d: Decision) -> bool:
    return d.flag == "pick" or (d.flag != "reject" and d.stars is not None and d.stars >= KEEP_STARS)


def anchor(d: Decision) -> float:
    """The mean 0-10 score the decision stands for (module docstring)."""
    if d.flag == "reject":
        return float(stars_anchor(-1) or 1.5)
    stars = d.stars if d.stars is not None else PICK_STARS
    return float(stars_anchor(stars) or 0.0)


def _clamp(value: float) -> int:
    return int(min(SCORE_MAX, max(SCORE_MIN, round(value))))


def target_scores(d: Decision) -> dict[str, int]:
    """The eight scores the advisor should have given (module docstring: the mapping)."""
    if d.edited:
        return {k: _clamp(d.edited.get(k, sum(d.edited.values()) / len(d.edited))) for k in DIMENSIONS}
    goal = anchor(d)
    if not d.earlier:
        return {k: _clamp(goal) for k in DIMENSIONS}
    mean = sum(d.earlier.values()) / len(d.earlier)
    return {k: _clamp(d.earlier.get(k, mean) - mean + goal) for k in DIMENSIONS}


def scores_answer(scores: Mapping[str, int]) -> str:
    """The scores-only triage answer: ``{"composition": 7, ...}`` in the dimensions' order."""
    return json.dumps({k: int(scores[k]) for k in DIMENSIONS})


def _mean(scores: Mapping[str, int]) -> float:
    return sum(scores.values()) / len(scores)


def rejected_scores(d: Decision, target: Mapping[str, int]) -> dict[str, int]:
    """The answer the user disagrees with (module docstring: pairs)."""
    if d.earlier and abs(_mean(d.earlier) - _mean(target)) >= DISAGREE:
        return {k: _clamp(d.earlier.get(k, _mean(d.earlier))) for k in DIMENSIONS}
    middle = (SCORE_MIN + SCORE_MAX) / 2
    goal = _mean(target)
    mirrored = 2 * middle - goal
    if abs(mirrored - goal) < 2 * DISAGREE:  # a target near the middle: push it the wrong way
        mirrored = goal - 3 if kept(d) or user_level(d) >= KEEP_STARS else goal + 3
    return {k: _clamp(target[k] - goal + mirrored) for k in DIMENSIONS}


# ---- the prompt ----------------------------------------------------------------------------------
def triage_messages(advisor: Any, facts: Sequence[str] = ()) -> list[dict[str, str]]:
    """The triage pass's prompt (``app.engine.critique.triage.triage_prompt``, with the photo's
    measured facts as the review gives them) as chat turns, so an adapter trained here answers the
    very prompt the triage ranks a shoot with."""
    from app.engine.critique.triage import triage_prompt

    prompt = triage_prompt(advisor, facts=facts)
    return [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]


# ---- examples ------------------------------------------------------------------------------------
@dataclass
class Examples:
    """SFT rows (``messages`` + ``images``) and preference rows (``prompt``/``chosen``/``rejected`` +
    ``images``), one per decided frame, with the decisions they came from."""

    decisions: list[Decision]
    sft: list[dict[str, Any]] = field(default_factory=list)
    preference: list[dict[str, Any]] = field(default_factory=list)


ImageLoader = Callable[[str], Any]  # path -> PIL image at the training edge
FactsOf = Callable[[str], Sequence[str]]  # path -> the measured facts the triage prompt carries


def build_examples(decisions: Sequence[Decision], advisor: Any, load_image: ImageLoader,
                   facts_of: FactsOf | None = None) -> Examples:
    """Rows for the decided frames only; images loaded once per frame at the training edge."""
    out = Examples(decisions=[d for d in decisions if d.decided])
    for d in out.decisions:
        prompt = triage_messages(advisor, facts_of(d.path) if facts_of is not None else ())
        image = load_image(d.path)
        target = target_scores(d)
        chosen = scores_answer(target)
        out.sft.append({"messages": [*prompt, {"role": "assistant", "content": chosen}], "images": [image]})
        out.preference.append({"prompt": prompt, "chosen": chosen,
                               "rejected": scores_answer(rejected_scores(d, target)), "images": [image]})
    return out


# ---- reading decisions ---------------------------------------------------------------------------
def file_decision(path: str, written: Written | None = None,
                  stored: Mapping[str, Any] | None = None) -> tuple[int | None, str | None, str | None, str]:
    """(stars, flag, label, source) the photographer set in another tool (Lightroom, Capture One,
    darktable, Bridge), read by the engine's one reader (``read_user_metadata``: sidecar or embedded
    XMP, then IPTC/EXIF) with ``written`` (the store's ``mondrian_values``) so a value Mondrian
    wrote itself is never taken for the user's. When the file cannot be read now, ``stored`` (the
    reading the review kept when the folder was opened, made the same way) stands in."""
    from app.engine.sidecars.metadata import UserMetadata, read_user_metadata

    meta: UserMetadata | None = None
    if os.path.exists(path):
        try:
            meta = read_user_metadata(path, written)
        except Exception as exc:  # noqa: BLE001 - one unreadable file loses that frame's decision only
            log.warning("%s: metadata not read (%s)", path, exc)
    if (meta is None or meta.empty) and stored:
        meta = UserMetadata.from_dict(stored)
    if meta is None:
        return None, None, None, ""
    for problem in meta.problems:
        log.warning("%s", problem)
    stars = meta.rating if meta.rating is not None and 1 <= meta.rating <= 5 else None
    flag = meta.flag if meta.flag in ("pick", "reject") else None
    where = sorted({meta.sources[k] for k in ("rating", "flag") if k in meta.sources and
                    (stars if k == "rating" else flag) is not None})
    return stars, flag, meta.label, ", ".join(where)


def _when(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _scores_of(report: Any) -> dict[str, int] | None:
    if report is None:
        return None
    scores = {k: d.score for k, d in report.dimensions.items() if k in DIMENSIONS and d.score is not None}
    return {k: int(round(v)) for k, v in scores.items()} if len(scores) == len(DIMENSIONS) else None


def _triaged_scores(store: Store, review: Any, frames: list[Any]) -> dict[str, dict[str, int]]:
    """Frame path -> the scores the review's triage stage gave it (frames it triaged only)."""
    from app.engine.review.triage import content_key, triage_key

    found = store.triage_scores.triage_results([content_key(f) for f in frames], triage_key(review))
    out = {}
    for f in frames:
        scores = (found.get(content_key(f)) or {}).get("scores")
        if isinstance(scores, dict) and set(scores) >= set(DIMENSIONS):
            out[f.path] = {k: int(scores[k]) for k in DIMENSIONS}
    return out


def review_decisions(store: Store, review_id: str, *, read_files: bool = True) -> list[Decision]:
    """Every frame of the review with the user's decision (decided or not), grouped into bursts.

    Per frame, the cull made in Mondrian's window (flag and stars on the frame row, the colour
    label from the cull journal) comes first; a frame not culled there takes what the photographer
    set in another tool (:func:`file_decision`). The advisor's earlier answer is the frame's
    critique report, else its triage scores; a report whose scores the user edited gives ``edited``."""
    from app.engine.review.bursts import BurstInput, group_bursts
    from app.engine.review.culling import CullJournal

    review = store.reviews.get_review(review_id)
    frames = store.reviews.list_frames(review_id)
    labels = CullJournal(store, review_id).labels
    stored = store.sidecar_writes.frame_metadata(review_id)
    triaged = _triaged_scores(store, review, frames)
    bursts = group_bursts([BurstInput(f.path, f.phash, _when(f.taken_at), None) for f in frames])
    group = {m: f"{review_id}/burst-{b.number}" for b in bursts for m in b.members}
    out = []
    for f in frames:
        d = Decision(path=f.path, shoot=review_id, group=group.get(f.path, f"{review_id}/{f.path}"))
        if f.flag in ("pick", "reject"):
            d.flag = f.flag
        if f.stars is not None and 1 <= int(f.stars) <= 5:
            d.stars = int(f.stars)
        d.label = labels.get(f.path)
        if d.flag is None and d.stars is None and read_files:
            stars, flag, label, source = file_decision(f.path, store.sidecar_writes.mondrian_values, stored.get(f.path))
            if stars is not None or flag is not None:
                d.stars, d.flag, d.source = stars, flag, source
                d.label = d.label or label
        if f.job_id:
            job = store.jobs.find_job(f.job_id)
            d.earlier = _scores_of(job.report if job is not None else None)
        if d.earlier is None:  # no full critique: the advisor's triage answer (the same scores-only format)
            d.earlier = triaged.get(f.path)
        profile = store.profiles.get_profile(review.advisor_id, f.path)
        if profile is not None and profile.edited:
            d.edited = _scores_of(profile.to_report())
        out.append(d)
    return out
