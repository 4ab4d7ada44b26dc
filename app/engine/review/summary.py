"""The ranked summary of a review: every frame with its grade, stars, problems and burst; the best
and weakest frames, per-dimension averages, the technically flawed frames, the bursts; and what the
photographer already decided in the frame's files (rating, label, flag, caption, read when the
folder was opened by :func:`app.engine.sidecars.read_user_metadata`).

A frame's stars: the ones given in Mondrian's grid, else the file's own rating, else the score's
mapping. Its flag: the grid's pick/reject, else the file's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS, grade_for_score
from app.engine.review.bursts import BurstInput, group_bursts
from app.engine.review.grading import Problem, stars_for_score, technical_problems
from app.engine.review.triage import content_key, triage_key
from app.engine.sidecars.metadata import UserMetadata

if TYPE_CHECKING:
    from app.engine.store.database import Store
    from app.engine.store.reviews import FrameRow

TOP_N = 3  # best / weakest frames listed
LIGHTROOM_FLAGS_NOTE = ("Lightroom keeps pick flags in its catalog only: a Lightroom reject shows here only where "
                        "it was saved to the file as Rating -1; Bridge's xmpDM:pick flags are read.")


@dataclass
class FrameSummary:
    path: str
    companions: list[str]
    status: str
    job_id: str | None
    error: str | None
    grade: str | None = None
    overall: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    summary: str = ""
    problems: list[Problem] = field(default_factory=list)
    thumbnail: str | None = None
    flag: str = "none"  # the user's pick / reject
    user_stars: int | None = None
    burst: int | None = None  # burst number, None when not in one
    best_in_burst: bool = False
    taken_at: str | None = None
    file_meta: UserMetadata | None = None  # what the photographer set in the files
    duplicate_of: str | None = None  # an earlier frame with the very same bytes
    stage: str | None = None  # which score ``overall``/``scores`` show: "full", "triage" or None (none yet)
    triage: dict[str, Any] | None = None  # the triage pass's result (scores, expected, ...), when there is one

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def mapped_stars(self) -> int:
        return stars_for_score(self.overall)

    @property
    def stars(self) -> int:
        """The stars given in Mondrian, else the file's rating, else the score's mapping (0: no report)."""
        if self.user_stars is not None:
            return self.user_stars
        if self.file_meta is not None and self.file_meta.rating is not None:
            return self.file_meta.rating
        return self.mapped_stars

    @property
    def reviewed(self) -> bool:
        return self.overall is not None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "name": self.name, "companions": self.companions, "status": self.status,
                "job_id": self.job_id, "error": self.error, "grade": self.grade, "overall": self.overall,
                "scores": self.scores, "summary": self.summary,
                "problems": [{"kind": p.kind, "detail": p.detail} for p in self.problems],
                "thumbnail": self.thumbnail, "flag": self.flag, "stars": self.stars,
                "mapped_stars": self.mapped_stars, "user_stars": self.user_stars, "burst": self.burst,
                "best_in_burst": self.best_in_burst, "taken_at": self.taken_at,
                "file_metadata": self.file_meta.to_dict() if self.file_meta else None,
                "duplicate_of": self.duplicate_of, "stage": self.stage,
                "triage": {k: v for k, v in self.triage.items() if k not in ("technical", "thumbnail")}
                if self.triage else None}


@dataclass
class ReviewSummary:
    frames: list[FrameSummary]
    averages: dict[str, float]  # per dimension, over the fully critiqued frames (triage ones when none is)
    bursts: list[dict[str, Any]]

    def ranked(self, key: str = "overall") -> list[FrameSummary]:
        """Reviewed frames, best first by ``key`` ("overall" or a dimension), then by name."""
        def value(f: FrameSummary) -> float:
            v = f.overall if key == "overall" else f.scores.get(key)
            return v if v is not None else float("-inf")
        return sorted((f for f in self.frames if f.reviewed), key=lambda f: (-value(f), f.name))

    @property
    def best(self) -> list[FrameSummary]:
        return self.ranked()[:TOP_N]

    @property
    def weakest(self) -> list[FrameSummary]:
        ranked = self.ranked()
        return list(reversed(ranked[-TOP_N:])) if ranked else []

    @property
    def with_problems(self) -> list[FrameSummary]:
        return [f for f in self.frames if f.problems]

    def to_dict(self) -> dict[str, Any]:
        return {"frames": [f.to_dict() for f in self.frames], "best": [f.path for f in self.best],
                "weakest": [f.path for f in self.weakest], "averages": self.averages, "bursts": self.bursts,
                "problems": {f.path: [p.kind for p in f.problems] for f in self.with_problems}}

    def to_text(self) -> str:
        """The summary as the CLI prints it."""
        lines = []
        reviewed = [f for f in self.frames if f.reviewed]
        triaged = sum(f.stage == "triage" for f in reviewed)
        lines.append(f"{len(reviewed)} of {len(self.frames)} frame(s) reviewed"
                     + (f" ({len(reviewed) - triaged} fully critiqued, {triaged} by triage scores only)"
                        if triaged else ""))
        for title, group in (("Best", self.best), ("Weakest", self.weakest)):
            if group:
                lines.append(f"{title}:")
                lines += [f"  {f.grade or '?':<3} {f.overall:4.1f}  {'★' * f.stars:<5}  {f.name}"
                          + ("  (triage)" if f.stage == "triage" else "") for f in group]
        if self.averages:
            lines.append("Averages:")
            lines += [f"  {DIMENSION_LABELS[d]:<20} {v:4.1f}" for d, v in self.averages.items()]
        if self.with_problems:
            lines.append("Technical problems:")
            lines += [f"  {f.name}: " + "; ".join(p.detail for p in f.problems) for f in self.with_problems]
        for burst in self.bursts:
            names = ", ".join(Path(m).name + (" (best)" if m == burst["best"] else "") for m in burst["members"])
            lines.append(f"Burst {burst['number']}: {names}")
        decided = [f for f in self.frames if f.file_meta is not None and not f.file_meta.empty]
        if decided:
            lines.append("Already in your files (rating, label, flag, caption):")
            lines += [f"  {f.name}: {describe_metadata(f.file_meta)}" for f in decided if f.file_meta]
            lines.append("  " + LIGHTROOM_FLAGS_NOTE)
        problems = [(f.name, p) for f in self.frames if f.file_meta for p in f.file_meta.problems]
        if problems:
            lines.append("Metadata that could not be read:")
            lines += [f"  {p}" for _name, p in problems]
        copies = [f for f in self.frames if f.duplicate_of]
        if copies:
            lines.append("Exact duplicates:")
            lines += [f"  {f.name} = {Path(f.duplicate_of or '').name}" for f in copies]
        failed = [f for f in self.frames if f.status == "failed"]
        if failed:
            lines.append("Not reviewed:")
            lines += [f"  {f.name}: {f.error}" for f in failed]
        return "\n".join(lines)


def describe_metadata(meta: UserMetadata) -> str:
    """"5★ · Purple · pick · “Grandma's 90th birthday”" (the parts that are set)."""
    parts = []
    if meta.rating is not None:
        parts.append(f"{meta.rating}★")
    if meta.label:
        parts.append(meta.label)
    if meta.flag:
        parts.append(meta.flag)
    if meta.caption:
        caption = meta.caption if len(meta.caption) <= 60 else meta.caption[:59] + "…"
        parts.append(f"“{caption}”")
    return " · ".join(parts) or "nothing set"


def parse_time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def frame_triage(store: Store, rows: list[FrameRow]) -> dict[str, dict[str, Any]]:
    """The stored triage results of ``rows`` (one review's frames), path -> result."""
    review = store.reviews.find_review(rows[0].review_id) if rows else None
    if review is None:  # no rows, or frames not stored as a review: nothing was triaged
        return {}
    key = triage_key(review)
    found = store.triage_scores.triage_results([content_key(r) for r in rows], key)
    return {r.path: found[content_key(r)] for r in rows if content_key(r) in found}


def _with_triage(item: FrameSummary, triage: dict[str, Any]) -> None:
    item.triage = triage
    if item.overall is not None:
        return
    try:
        overall = float(triage["expected_overall"])  # unrounded: it ranks the shoot
        scores = {k: float(v) for k, v in triage["scores"].items() if k in DIMENSIONS}
    except (KeyError, TypeError, ValueError, AttributeError):
        return
    item.stage, item.overall, item.scores, item.grade = "triage", overall, scores, grade_for_score(overall)
    if not item.problems:
        item.problems = technical_problems(triage.get("technical"))
    item.thumbnail = item.thumbnail or triage.get("thumbnail")


def summarize_frame(store: Store, row: FrameRow, metadata: dict[str, Any] | None = None,
                    triage: dict[str, Any] | None = None) -> FrameSummary:
    """One frame with its job's grade, scores and problems (no burst: that needs the whole review), and
    the metadata found in its files (``metadata``: that frame's stored reading; read from the store if None).
    With no full critique yet, the frame shows its triage scores (``stage`` "triage"; ``triage``: its
    stored triage result, read from the store if None)."""
    job = store.jobs.find_job(row.job_id) if row.job_id else None
    if metadata is None:
        metadata = store.sidecar_writes.frame_metadata(row.review_id, row.path).get(row.path)
    meta = UserMetadata.from_dict(metadata) if metadata else None
    flag = row.flag if row.flag != "none" or meta is None or not meta.flag else meta.flag
    item = FrameSummary(path=row.path, companions=row.companions, status=row.status, job_id=row.job_id,
                        error=row.error, flag=flag, user_stars=row.stars, taken_at=row.taken_at, file_meta=meta)
    if job is not None:
        report = job.report
        if report is not None and job.status == "completed":
            item.grade, item.overall, item.summary = report.overall_grade, report.overall_score, report.summary
            item.scores = dict(report.scores)
        item.problems = technical_problems(job.details.get("technical"))
        item.thumbnail = job.thumbnail_path
    if item.overall is not None:
        item.stage = "full"
    if triage is None and item.stage != "full":  # a full critique needs no triage lookup
        triage = frame_triage(store, [row]).get(row.path)
    if triage:
        _with_triage(item, triage)
    return item


def build_summary(store: Store, review_id: str) -> ReviewSummary:
    rows = store.reviews.list_frames(review_id)
    found = store.sidecar_writes.frame_metadata(review_id)
    triaged = frame_triage(store, rows)
    frames = [summarize_frame(store, row, found.get(row.path, {}), triaged.get(row.path, {})) for row in rows]
    reviewed = [f for f in frames if f.stage == "full"] or [f for f in frames if f.reviewed]
    averages = {}
    for d in DIMENSIONS:
        values = [f.scores[d] for f in reviewed if d in f.scores]
        if values:
            averages[d] = round(sum(values) / len(values), 2)
    by_path = {f.path: f for f in frames}
    first_of: dict[str, str] = {}
    for row in rows:  # byte-identical copies (same content hash): the first in the folder is the original
        if row.content_hash:
            original = first_of.setdefault(row.content_hash, row.path)
            if original != row.path:
                by_path[row.path].duplicate_of = original
    phashes = {r.path: r.phash for r in rows}
    bursts = group_bursts([BurstInput(f.path, phashes.get(f.path), parse_time(f.taken_at), f.overall)
                           for f in frames])
    for burst in bursts:
        for member in burst.members:
            by_path[member].burst = burst.number
            by_path[member].best_in_burst = member == burst.best
    return ReviewSummary(frames=frames, averages=averages,
                         bursts=[{"number": b.number, "members": b.members, "best": b.best} for b in bursts])
