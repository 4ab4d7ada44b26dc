"""Row types of the store: jobs, dimensional profiles, ratings, statistics (plain dataclasses),
and the conversions from SQLite rows. No database access here."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.engine.critique.report import DIMENSIONS, DimensionScore, Report, ReportParseError, grade_for_score
from app.engine.store.path_text import os_text
from app.engine.technical.technical_report import TECHNICAL_ONLY_NOTE

MISSING_SCORE = 5.0  # mid-scale, used by profile_vector for a dimension without a score


class JobNotFoundError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])



@dataclass
class JobRow:
    """One critique job. Timestamps are ISO-8601 UTC strings; ``report`` parses ``report_json``."""

    id: str
    created_at: str
    status: str
    photo_path: str
    advisor_id: str
    requested_mode: str
    started_at: str | None = None
    completed_at: str | None = None
    photo_hash: str | None = None
    thumbnail_path: str | None = None
    effective_mode: str | None = None
    fallback_reason: str | None = None
    model_used: str | None = None
    base_model: str | None = None
    adapter_version: str | None = None
    report_json: str | None = None
    raw_output: str | None = None
    overall_score: float | None = None
    grade: str | None = None
    prompt_tokens: int | None = None
    generation_tokens: int | None = None
    time_to_first_token_s: float | None = None
    total_s: float | None = None
    peak_memory_gb: float | None = None
    error: str | None = None
    user_rating: int | None = None
    details_json: str | None = None
    worker_pid: int | None = None
    worker_token: str | None = None  # which run of the process (a restarted app may get the same pid)
    review_id: str | None = None  # the folder review that ran this critique, if any

    @property
    def report(self) -> Report | None:
        if not self.report_json:
            return None
        try:
            # a measurement-only critique stores its unmeasurable dimensions as null; a model's has every score
            report = Report.from_dict(json.loads(self.report_json), unscored=self.effective_mode == "technical")
        except (ValueError, ReportParseError):
            return None
        if self.effective_mode == "technical" and TECHNICAL_ONLY_NOTE not in report.notes:
            report.notes.append(TECHNICAL_ONLY_NOTE)  # measured, not a model's opinion
        return report

    @property
    def details(self) -> dict[str, Any]:
        """References, technical facts, parse problems, notice (JSON kept beside the report)."""
        try:
            value = json.loads(self.details_json) if self.details_json else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def duration_s(self) -> float | None:
        """Wall time from start to completion (falls back to the generation time)."""
        if self.started_at and self.completed_at:
            try:
                start = datetime.fromisoformat(self.started_at)
                end = datetime.fromisoformat(self.completed_at)
                if (start.tzinfo is None) == (end.tzinfo is None):
                    return max(0.0, (end - start).total_seconds())
            except ValueError:
                pass
        return self.total_s

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in JOB_COLUMNS}
        out.pop("details_json")
        out.pop("worker_pid")
        out.pop("worker_token")
        report = self.report  # with the derived grade (a stored one that disagrees is kept as stated_grade)
        out["report"] = report.to_dict() if report else json.loads(self.report_json) if self.report_json else None
        out.pop("report_json")
        out["details"] = self.details
        out["duration_s"] = self.duration_s
        return out


@dataclass
class ProfileRow:
    """A photo's dimensional profile for an advisor: eight scores and comments (the RAG index,
    and training targets when ``source`` is ``user``/``targets``)."""

    id: str
    advisor_id: str
    image_path: str
    scores: dict[str, float | None]
    comments: dict[str, str]
    recommendations: dict[str, str]
    content_hash: str | None
    stated_grade: str | None  # the grade column as stored (the shown grade is derived: overall_grade)
    summary: str | None
    source: str
    edited: bool
    created_at: str
    updated_at: str

    def to_report(self) -> Report:
        """The profile as a :class:`Report` (dimensions without a score are left out)."""
        dims = {k: DimensionScore(score=self.scores[k], comment=self.comments.get(k, ""),
                                  recommendation=self.recommendations.get(k, ""))
                for k in DIMENSIONS if self.scores.get(k) is not None}
        return Report(dimensions=dims, summary=self.summary or "", stated_grade=self.stated_grade or "")

    @property
    def overall_grade(self) -> str:
        """The grade derived from the scores (the stored column may predate that)."""
        return self.to_report().overall_grade

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "advisor_id": self.advisor_id, "image_path": self.image_path,
            "scores": dict(self.scores), "comments": dict(self.comments),
            "recommendations": dict(self.recommendations), "content_hash": self.content_hash,
            "overall_grade": self.overall_grade, "summary": self.summary, "source": self.source,
            "edited": self.edited, "created_at": self.created_at, "updated_at": self.updated_at,
        }


@dataclass
class RatingRow:
    id: str
    job_id: str
    rating: int | None
    winner: str | None
    adapter_version: str | None
    created_at: str
    comment: str | None = None
    other_job_id: str | None = None


@dataclass
class ModelStats:
    """The seed's comparison, one row per ``model_used``."""

    model_used: str
    count: int
    completed: int
    failed: int
    mean_overall_score: float | None
    mean_duration_s: float | None
    mean_user_rating: float | None
    rated: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class WinRate:
    """Blind A/B results for one adapter version (``None``: jobs that recorded no version)."""

    adapter_version: str | None
    comparisons: int = 0  # pairwise choices (winner base / fine_tuned / tie)
    fine_tuned_wins: int = 0
    base_wins: int = 0
    ties: int = 0
    rated_base: int = 0  # single blind ratings of ab_test_base jobs
    rated_fine_tuned: int = 0
    mean_rating_base: float | None = None
    mean_rating_fine_tuned: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fine_tuned_win_rate(self) -> float | None:
        """Share of decided pairwise comparisons the fine-tuned model won (ties count half)."""
        if not self.comparisons:
            return None
        return round((self.fine_tuned_wins + 0.5 * self.ties) / self.comparisons, 4)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out["fine_tuned_win_rate"] = self.fine_tuned_win_rate
        return out


JOB_COLUMNS: tuple[str, ...] = tuple(JobRow.__dataclass_fields__)


def row_to_job(row: sqlite3.Row) -> JobRow:
    """The job as stored, except its grade: derived from the stored mean score (a grade column
    written by an older version, or by the model, may disagree; the report says so)."""
    job = JobRow(**{k: row[k] for k in JOB_COLUMNS})
    if job.overall_score is not None:
        job.grade = grade_for_score(job.overall_score)
    job.photo_path = os_text(job.photo_path)  # a non-UTF-8 name, stored escaped (path_text.py)
    return job


def row_to_profile(row: sqlite3.Row) -> ProfileRow:
    return ProfileRow(
        id=row["id"], advisor_id=row["advisor_id"], image_path=os_text(row["image_path"]),
        scores={d: row[f"{d}_score"] for d in DIMENSIONS},
        comments={d: row[f"{d}_comment"] or "" for d in DIMENSIONS},
        recommendations={d: row[f"{d}_recommendation"] or "" for d in DIMENSIONS},
        content_hash=row["content_hash"], stated_grade=row["overall_grade"], summary=row["summary"],
        source=row["source"], edited=bool(row["edited"]), created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def row_to_rating(row: sqlite3.Row) -> RatingRow:
    return RatingRow(id=row["id"], job_id=row["job_id"], rating=row["rating"], winner=row["winner"],
                     adapter_version=row["adapter_version"], created_at=row["created_at"],
                     comment=row["comment"], other_job_id=row["other_job_id"])


def profile_vector(row: ProfileRow | Report | Mapping[str, float | None],
                   missing: float = MISSING_SCORE) -> list[float]:
    """The eight scores in :data:`DIMENSIONS` order (a dimension without a score counts as ``missing``)."""
    if isinstance(row, ProfileRow):
        scores: Mapping[str, float | None] = row.scores
    elif isinstance(row, Report):
        scores = row.scores
    else:
        scores = row
    out = []
    for d in DIMENSIONS:
        value = scores.get(d)
        out.append(float(value) if value is not None else float(missing))
    return out


def report_of(report: Report | Mapping[str, Any]) -> Report:
    if isinstance(report, Report):
        return report
    if isinstance(report, Mapping):
        return Report.from_dict(dict(report))
    raise TypeError(f"expected a Report or report dict, not {type(report).__name__}")

