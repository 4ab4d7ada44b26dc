"""Job rows: create, start, fail, cancel, look up, list and delete critiques; jobs left running by
a process that is gone (a crash, a kill) are marked failed when a store opens, while jobs of a
live process (the GUI while the CLI reads history) are left alone."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from app.engine import paths
from app.engine.critique.result import CritiqueResult
from app.engine.store.connection import Connection
from app.engine.store.path_text import db_text, display_text
from app.engine.store.reviews import Reviews
from app.engine.store.rows import JOB_COLUMNS, JobNotFoundError, JobRow, row_to_job
from app.engine.store.schema import MODEL_USED, now_iso
from app.engine.store.workers import PROCESS_TOKEN, worker_alive

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the app stopped during this critique"


class Jobs:
    """``store.jobs``: the critique jobs. Handed the reviews part: deleting a job puts the review
    frames it critiqued back to pending."""

    def __init__(self, db: Connection, reviews: Reviews):
        self._db = db
        self._reviews = reviews

    def recover_interrupted(self) -> int:
        """Mark jobs left queued/running by a process that no longer exists as failed; returns how many."""
        rows = self._db.query("SELECT id, worker_pid, worker_token FROM jobs WHERE status IN ('queued', 'running')")
        dead = [r["id"] for r in rows if not worker_alive(r["worker_pid"], r["worker_token"])]
        if not dead:
            return 0
        stamp = now_iso()
        with self._db.tx() as conn:
            conn.executemany(
                "UPDATE jobs SET status = 'failed', error = ?, completed_at = COALESCE(completed_at, ?) "
                "WHERE id = ? AND status IN ('queued', 'running')",
                [(INTERRUPTED, stamp, job_id) for job_id in dead],
            )
        log.warning("marked %d interrupted job(s) as failed", len(dead))
        return len(dead)

    def create_job(self, photo_path: str | os.PathLike[str], advisor_id: str, requested_mode: str, *,
                   photo_hash: str | None = None, thumbnail_path: str | os.PathLike[str] | None = None,
                   model_used: str | None = None, base_model: str | None = None,
                   adapter_version: str | None = None, job_id: str | None = None) -> JobRow:
        """Record a queued job (owned by this process until it ends)."""
        if model_used is not None and model_used not in MODEL_USED:
            raise ValueError(f"model_used must be one of {', '.join(MODEL_USED)}, not {model_used!r}")
        job = JobRow(id=job_id or str(uuid.uuid4()), created_at=now_iso(), status="queued",
                     photo_path=str(photo_path), advisor_id=advisor_id, requested_mode=requested_mode,
                     photo_hash=photo_hash, thumbnail_path=str(thumbnail_path) if thumbnail_path else None,
                     model_used=model_used, base_model=base_model, adapter_version=adapter_version,
                     worker_pid=os.getpid(), worker_token=PROCESS_TOKEN)
        values = {k: getattr(job, k) for k in JOB_COLUMNS}
        values["photo_path"] = db_text(job.photo_path)  # any name the filesystem allows (path_text.py)
        with self._db.tx() as conn:
            conn.execute(f"INSERT INTO jobs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                         list(values.values()))
        return job

    def start_job(self, job_id: str) -> JobRow:
        return self._update_job(job_id, status="running", started_at=now_iso(), worker_pid=os.getpid(),
                                worker_token=PROCESS_TOKEN)

    def set_thumbnail(self, job_id: str, thumbnail_path: str | os.PathLike[str] | None) -> JobRow:
        return self._update_job(job_id, thumbnail_path=str(thumbnail_path) if thumbnail_path else None)

    def fail_job(self, job_id: str, error: str | BaseException) -> JobRow:
        text = str(error) if not isinstance(error, BaseException) else (str(error) or type(error).__name__)
        return self._update_job(job_id, status="failed", error=text, completed_at=now_iso())

    def cancel_job(self, job_id: str) -> JobRow:
        return self._update_job(job_id, status="cancelled", error="cancelled", completed_at=now_iso())

    def get_job(self, job_id: str) -> JobRow:
        rows = self._db.query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFoundError(f"no job {job_id!r}")
        return row_to_job(rows[0])

    def resolve_job_id(self, prefix: str) -> str:
        """The full id of the job whose id is or starts with ``prefix`` (``history`` shows 8 characters)."""
        text = (prefix or "").strip()
        if not text:
            raise JobNotFoundError("no job id given")
        if self._db.query("SELECT 1 FROM jobs WHERE id = ?", (text,)):
            return text
        pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._db.query("SELECT id FROM jobs WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (pattern,))
        if not rows:
            raise JobNotFoundError(f"no job {prefix!r}")
        if len(rows) > 1:
            raise JobNotFoundError(f"job id {prefix!r} is ambiguous; give more characters")
        return rows[0]["id"]

    def find_job(self, job_id: str) -> JobRow | None:
        try:
            return self.get_job(job_id)
        except JobNotFoundError:
            return None

    def list_jobs(self, advisor_id: str | None = None, limit: int = 50, *, status: str | None = None,
                  model_used: str | None = None, offset: int = 0) -> list[JobRow]:
        """Newest first."""
        where, params = [], []
        for column, value in (("advisor_id", advisor_id), ("status", status), ("model_used", model_used)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT * FROM jobs" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"
        return [row_to_job(r) for r in self._db.query(sql, [*params, max(0, int(limit)), max(0, int(offset))])]

    def jobs_in_pair(self, pair_id: str) -> list[JobRow]:
        """The completed jobs linked as one comparison (``details.pair_id``), oldest first."""
        rows = self._db.query("SELECT * FROM jobs WHERE status = 'completed' AND json_valid(details_json) "
                           "AND json_extract(details_json, '$.pair_id') = ? ORDER BY created_at, rowid",
                           (pair_id,))
        return [row_to_job(r) for r in rows]

    def count_jobs(self) -> int:
        return int(self._db.query("SELECT COUNT(*) FROM jobs")[0][0])

    def delete_job(self, job_id: str, *, delete_thumbnail: bool = True) -> bool:
        """Delete a job and its ratings; its thumbnail too when it lives in our thumbnails folder.
        The review frames it critiqued become pending again (:meth:`Reviews.job_deleted`)."""
        job = self.find_job(job_id)
        if job is None:
            return False
        frames = self._reviews.frames_of_job(job_id)
        with self._db.tx() as conn:
            conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        self._reviews.job_deleted(frames)
        if delete_thumbnail and job.thumbnail_path:
            thumb = Path(job.thumbnail_path)
            try:
                if thumb.resolve().parent == paths.thumbnails_dir().resolve() and thumb.is_file():
                    thumb.unlink()
            except OSError as exc:
                log.warning("could not delete thumbnail %s: %s", thumb, exc)
        return True

    def prune_upload_thumbnails(self, older_than: str) -> int:
        """Drop the thumbnails of uploaded photos (``upload:`` jobs) created before ``older_than``
        (ISO-8601 UTC); the jobs stay. Returns how many were removed."""
        rows = self._db.query("SELECT id, thumbnail_path FROM jobs WHERE photo_path LIKE 'upload:%' "
                           "AND thumbnail_path IS NOT NULL AND created_at < ?", (older_than,))
        thumbs = paths.thumbnails_dir().resolve()
        for row in rows:
            thumb = Path(row["thumbnail_path"])
            try:
                if thumb.resolve().parent == thumbs:
                    thumb.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not delete thumbnail %s: %s", thumb, exc)
                continue
            self._update_job(row["id"], thumbnail_path=None)
        return len(rows)

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
        with self._db.lock:
            job = self.get_job(job_id)
            if job.started_at is None:
                values["started_at"] = job.created_at
            return self._update_job(job_id, **values)

    def _update_job(self, job_id: str, **values: Any) -> JobRow:
        unknown = set(values) - set(JOB_COLUMNS)
        if unknown:
            raise ValueError(f"unknown job column(s): {', '.join(sorted(unknown))}")
        for key in ("error", "raw_output"):  # text naming a non-UTF-8 file: readable and storable
            if isinstance(values.get(key), str):
                values[key] = display_text(values[key])
        with self._db.tx() as conn:
            sets = ", ".join(f"{k} = ?" for k in values)
            cur = conn.execute(f"UPDATE jobs SET {sets} WHERE id = ?", [*values.values(), job_id])
            if cur.rowcount == 0:
                raise JobNotFoundError(f"no job {job_id!r}")
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row_to_job(row)
