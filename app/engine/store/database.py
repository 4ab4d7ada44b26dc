"""The SQLite store: critique jobs, dimensional profiles (the RAG index) and user ratings.

One file, ``paths.db_path()``, with a schema version in ``PRAGMA user_version`` upgraded by
ordered migrations (:mod:`app.engine.store.schema`). The store is split by what it holds:
:mod:`~app.engine.store.connection` (opening, WAL, the write transaction, the integrity check),
:mod:`~app.engine.store.jobs`, :mod:`~app.engine.store.ratings`, :mod:`~app.engine.store.profiles`
and :mod:`~app.engine.store.rows` (the dataclasses); damage, backups and recovery live in
:mod:`~app.engine.store.health`, :mod:`~app.engine.store.backup` and
:mod:`~app.engine.store.recovery`. A :class:`Store` is safe to share between threads; several
processes may open the same file (SQLite's locking plus a busy timeout).
"""

from __future__ import annotations

import json
import os
from typing import Any

from app.engine import paths
from app.engine.critique.result import CritiqueResult
from app.engine.store.conversations import Conversations, TurnRow
from app.engine.store.health import DatabaseDamagedError
from app.engine.store.jobs import INTERRUPTED, PROCESS_TOKEN, JobsMixin
from app.engine.store.profiles import Profiles
from app.engine.store.ratings import Ratings
from app.engine.store.reviews import Reviews
from app.engine.store.rows import (
    JobNotFoundError,
    JobRow,
    ModelStats,
    ProfileRow,
    RatingRow,
    WinRate,
    profile_vector,
)
from app.engine.store.schema import (
    JOB_STATUSES,
    MIGRATIONS,
    MODEL_USED,
    PROFILE_SOURCES,
    SCHEMA_VERSION,
    WINNERS,
    StoreError,
    migrate,
    now_iso,
)
from app.engine.store.sidecar_writes import SidecarWrites
from app.engine.store.triage_scores import TriageScores

__all__ = [
    "INTERRUPTED", "JOB_STATUSES", "MIGRATIONS", "MODEL_USED", "PROCESS_TOKEN", "PROFILE_SOURCES",
    "SCHEMA_VERSION", "WINNERS", "DatabaseDamagedError", "JobNotFoundError", "JobRow", "ModelStats",
    "ProfileRow", "RatingRow", "Store", "StoreError", "TurnRow", "WinRate", "migrate", "now_iso", "open_default_store",
    "profile_vector",
]


class Store(JobsMixin):
    """Thread-safe access to the database. Use as a context manager or call :meth:`close`.

    ``Store(path, recover=True, check=True, backups_kept=0)``: ``recover`` marks jobs of dead
    processes failed, ``check`` runs the background integrity check, ``backups_kept`` > 0 keeps
    daily rolling backups.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, recover: bool = True, check: bool = True,
                 backups_kept: int = 0):
        super().__init__(path, check=check, backups_kept=backups_kept)
        self.conversations = Conversations(self.db)
        self.profiles = Profiles(self.db)
        self.ratings = Ratings(self.db, self)
        self.reviews = Reviews(self.db)
        self.sidecar_writes = SidecarWrites(self.db)
        self.triage_scores = TriageScores(self.db)
        self.recovered = self.recover_interrupted() + self.reviews.recover_interrupted() if recover else 0

    def delete_job(self, job_id: str, *, delete_thumbnail: bool = True) -> bool:
        """Delete a job (see JobsMixin); the review frames it critiqued become pending again."""
        frames = self.reviews.frames_of_job(job_id)
        deleted = super().delete_job(job_id, delete_thumbnail=delete_thumbnail)
        if deleted:
            self.reviews.job_deleted(frames)
        return deleted

    def complete_job(self, job_id: str, result: CritiqueResult) -> JobRow:
        """Store a finished critique. A result whose report did not parse is recorded as failed,
        with the raw output kept."""
        report = result.report
        stats = result.stats
        details = result.details()
        values: dict[str, Any] = {
            "completed_at": now_iso(), "requested_mode": result.requested_mode,
            "effective_mode": result.effective_mode, "fallback_reason": result.fallback_reason,
            "model_used": result.model_used if result.model_used in MODEL_USED else None,
            "base_model": result.model_id or None, "adapter_version": result.adapter_version,
            "report_json": report.to_json() if report else None, "raw_output": result.raw_text or None,
            "overall_score": report.overall_score if report else None,
            "grade": report.overall_grade if report else None,
            "details_json": json.dumps(details, ensure_ascii=False, default=str),
        }
        if stats is not None:
            values.update(prompt_tokens=stats.prompt_tokens, generation_tokens=stats.generation_tokens,
                          time_to_first_token_s=stats.time_to_first_token_s, total_s=stats.total_s,
                          peak_memory_gb=stats.peak_memory_gb)
        if report is not None:
            values.update(status="completed", error=None)
        else:
            problems = "; ".join(result.parse_problems) or "no report"
            values.update(status="failed", error=f"the model output is not a valid report: {problems}")
        with self._lock:
            job = self.get_job(job_id)
            if job.started_at is None:
                values["started_at"] = job.created_at
            return self._update_job(job_id, **values)


def open_default_store(backups_kept: int | None = None) -> Store:
    """A store on the data folder's database (``paths.db_path()``), with the rolling backups the
    ``backups_kept`` setting asks for (a settings file that cannot be read means the default)."""
    if backups_kept is None:
        from app.engine.settings import Settings, SettingsError, load_settings

        try:
            backups_kept = load_settings().backups_kept
        except SettingsError:
            backups_kept = Settings().backups_kept
    return Store(paths.db_path(), backups_kept=backups_kept)
