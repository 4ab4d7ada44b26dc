"""Job rows: create, start, fail, cancel, look up, list and delete critiques; jobs left running by
a process that is gone (a crash, a kill) are marked failed when a store opens, while jobs of a
live process (the GUI while the CLI reads history) are left alone."""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from app.engine import paths
from app.engine.store.connection import StoreBase
from app.engine.store.path_text import db_text
from app.engine.store.rows import JOB_COLUMNS, JobNotFoundError, JobRow, row_to_job
from app.engine.store.schema import MODEL_USED, now_iso

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the app stopped during this critique"
PROCESS_TOKEN = uuid.uuid4().hex  # this run of this process


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _worker_alive(pid: int | None, token: str | None) -> bool:
    """Is the process that owns a job still running? Our own pid with another token is an earlier
    run of the app that crashed and whose pid came round again (pid 1 in a container, say)."""
    if pid == os.getpid():
        return token == PROCESS_TOKEN
    return _pid_alive(pid)



class JobsMixin(StoreBase):
    """The job methods of :class:`app.engine.store.database.Store`."""

    def recover_interrupted(self) -> int:
        """Mark jobs left queued/running by a process that no longer exists as failed; returns how many."""
        rows = self._query("SELECT id, worker_pid, worker_token FROM jobs WHERE status IN ('queued', 'running')")
        dead = [r["id"] for r in rows if not _worker_alive(r["worker_pid"], r["worker_token"])]
        if not dead:
            return 0
        stamp = now_iso()
        with self._tx() as conn:
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
        with self._tx() as conn:
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
        rows = self._query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFoundError(f"no job {job_id!r}")
        return row_to_job(rows[0])

    def resolve_job_id(self, prefix: str) -> str:
        """The full id of the job whose id is or starts with ``prefix`` (``history`` shows 8 characters)."""
        text = (prefix or "").strip()
        if not text:
            raise JobNotFoundError("no job id given")
        if self._query("SELECT 1 FROM jobs WHERE id = ?", (text,)):
            return text
        pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._query("SELECT id FROM jobs WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (pattern,))
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
        return [row_to_job(r) for r in self._query(sql, [*params, max(0, int(limit)), max(0, int(offset))])]

    def jobs_in_pair(self, pair_id: str) -> list[JobRow]:
        """The completed jobs linked as one comparison (``details.pair_id``), oldest first."""
        rows = self._query("SELECT * FROM jobs WHERE status = 'completed' AND json_valid(details_json) "
                           "AND json_extract(details_json, '$.pair_id') = ? ORDER BY created_at, rowid",
                           (pair_id,))
        return [row_to_job(r) for r in rows]

    def count_jobs(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM jobs")[0][0])

    def delete_job(self, job_id: str, *, delete_thumbnail: bool = True) -> bool:
        """Delete a job and its ratings; its thumbnail too when it lives in our thumbnails folder."""
        job = self.find_job(job_id)
        if job is None:
            return False
        with self._tx() as conn:
            conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
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
        rows = self._query("SELECT id, thumbnail_path FROM jobs WHERE photo_path LIKE 'upload:%' "
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
