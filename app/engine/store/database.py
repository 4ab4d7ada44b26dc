"""The SQLite store: critique jobs, dimensional profiles (the RAG index) and user ratings.

One file, ``paths.db_path()``, in WAL mode (readers never block the writer, so the CLI can read
history while the GUI or the HTTP service writes), foreign keys on, and a schema version in
``PRAGMA user_version`` upgraded by ordered migrations, each in one transaction. Migration 1 is
the older schema of the seed's Flask service (jobs without ``model_used`` and without timings,
profiles without content hashes); migration 2 turns it into the current one, keeping the data.

The schema and its migrations live in :mod:`app.engine.store.schema`. A :class:`Store` is safe
to share between threads: it holds one connection and a lock (the statements are short; the
model, not the database, is the bottleneck). Several processes may open the same file: SQLite's
locking plus a busy timeout handle that.

Jobs left ``running``/``queued`` by a process that is gone (a crash, a kill) are marked failed
when a store opens; jobs of a live process (the GUI while the CLI reads history) are left alone.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine import paths
from app.engine.critique.report import DIMENSIONS, DimensionScore, Report, ReportParseError
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

if TYPE_CHECKING:  # service imports the store; the store only needs the result's shape
    from app.engine.service import CritiqueResult

__all__ = [
    "INTERRUPTED", "JOB_STATUSES", "MIGRATIONS", "MODEL_USED", "PROFILE_SOURCES", "SCHEMA_VERSION", "WINNERS",
    "JobNotFoundError", "JobRow", "ModelStats", "ProfileRow", "RatingRow", "Store", "StoreError", "WinRate",
    "migrate", "now_iso", "open_default_store", "profile_vector",
]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
INTERRUPTED = "interrupted: the app stopped during this critique"
PROCESS_TOKEN = uuid.uuid4().hex  # this run of this process
MISSING_SCORE = 5.0  # mid-scale, used by profile_vector for a dimension without a score


class JobNotFoundError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


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


# --------------------------------------------------------------------------------------- rows


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

    @property
    def report(self) -> Report | None:
        if not self.report_json:
            return None
        try:
            return Report.from_dict(json.loads(self.report_json))
        except (ValueError, ReportParseError):
            return None

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
        out = {k: getattr(self, k) for k in _JOB_COLUMNS}
        out.pop("details_json")
        out.pop("worker_pid")
        out.pop("worker_token")
        out["report"] = json.loads(self.report_json) if self.report_json else None
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
    overall_grade: str | None
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
        return Report(dimensions=dims, overall_grade=self.overall_grade or "", summary=self.summary or "")

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


_JOB_COLUMNS: tuple[str, ...] = tuple(JobRow.__dataclass_fields__)

# --------------------------------------------------------------------------------------- store


def _row_to_job(row: sqlite3.Row) -> JobRow:
    return JobRow(**{k: row[k] for k in _JOB_COLUMNS})


def _row_to_profile(row: sqlite3.Row) -> ProfileRow:
    return ProfileRow(
        id=row["id"], advisor_id=row["advisor_id"], image_path=row["image_path"],
        scores={d: row[f"{d}_score"] for d in DIMENSIONS},
        comments={d: row[f"{d}_comment"] or "" for d in DIMENSIONS},
        recommendations={d: row[f"{d}_recommendation"] or "" for d in DIMENSIONS},
        content_hash=row["content_hash"], overall_grade=row["overall_grade"], summary=row["summary"],
        source=row["source"], edited=bool(row["edited"]), created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _row_to_rating(row: sqlite3.Row) -> RatingRow:
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


def _report_of(report: Report | Mapping[str, Any]) -> Report:
    if isinstance(report, Report):
        return report
    if isinstance(report, Mapping):
        return Report.from_dict(dict(report))
    raise TypeError(f"expected a Report or report dict, not {type(report).__name__}")


class Store:
    """Thread-safe access to the database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, recover: bool = True):
        self.path = Path(path) if path is not None else paths.db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                         check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("%s: WAL mode unavailable (journal_mode=%s)", self.path, mode)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self.schema_version = migrate(self._conn)
        except BaseException as exc:
            conn = getattr(self, "_conn", None)
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(f"{self.path}: cannot open the database ({exc})") from exc
            raise
        self.recovered = self.recover_interrupted() if recover else 0

    # ---- plumbing ------------------------------------------------------------------------------
    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]

    @property
    def closed(self) -> bool:
        return self._conn is None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock."""
        with self._lock:
            if self._conn is None:
                raise StoreError(f"{self.path}: the store is closed")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"{self.path}: the store is closed")
            return self._conn.execute(sql, tuple(params)).fetchall()

    def _update_job(self, job_id: str, **values: Any) -> JobRow:
        unknown = set(values) - set(_JOB_COLUMNS)
        if unknown:
            raise ValueError(f"unknown job column(s): {', '.join(sorted(unknown))}")
        with self._tx() as conn:
            sets = ", ".join(f"{k} = ?" for k in values)
            cur = conn.execute(f"UPDATE jobs SET {sets} WHERE id = ?", [*values.values(), job_id])
            if cur.rowcount == 0:
                raise JobNotFoundError(f"no job {job_id!r}")
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _row_to_job(row)

    # ---- jobs ----------------------------------------------------------------------------------
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
        values = {k: getattr(job, k) for k in _JOB_COLUMNS}
        with self._tx() as conn:
            conn.execute(f"INSERT INTO jobs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                         list(values.values()))
        return job

    def start_job(self, job_id: str) -> JobRow:
        return self._update_job(job_id, status="running", started_at=now_iso(), worker_pid=os.getpid(),
                                worker_token=PROCESS_TOKEN)

    def complete_job(self, job_id: str, result: CritiqueResult) -> JobRow:
        """Store a finished critique. A result whose report did not parse is recorded as failed,
        with the raw output kept."""
        report = result.report
        stats = result.stats
        details = {"references": result.references, "technical": result.technical,
                   "parse_problems": result.parse_problems, "notice": result.notice}
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
        return _row_to_job(rows[0])

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
        return [_row_to_job(r) for r in self._query(sql, [*params, max(0, int(limit)), max(0, int(offset))])]

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

    # ---- ratings -------------------------------------------------------------------------------
    def add_rating(self, job_id: str, rating: int | None = None, *, winner: str | None = None,
                   adapter_version: str | None = None, comment: str | None = None,
                   other_job_id: str | None = None) -> RatingRow:
        """Record a rating (1-5) and/or a blind A/B preference (winner base / fine_tuned / tie).

        ``adapter_version`` defaults to the job's. A plain rating sets the job's ``user_rating``.
        """
        if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5):
            raise ValueError(f"rating must be a whole number from 1 to 5, not {rating!r}")
        if winner is not None and winner not in WINNERS:
            raise ValueError(f"winner must be one of {', '.join(WINNERS)}, not {winner!r}")
        if rating is None and winner in (None, "rated"):
            raise ValueError("a rating needs a score from 1 to 5 or an A/B winner")
        with self._lock:
            job = self.get_job(job_id)
            if other_job_id is not None:
                self.get_job(other_job_id)
            row = RatingRow(id=str(uuid.uuid4()), job_id=job_id, rating=rating,
                            winner=winner if winner is not None else "rated",
                            adapter_version=adapter_version if adapter_version is not None else job.adapter_version,
                            created_at=now_iso(), comment=comment, other_job_id=other_job_id)
            with self._tx() as conn:
                conn.execute(
                    "INSERT INTO ratings (id, job_id, other_job_id, rating, winner, adapter_version, created_at, "
                    "comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (row.id, row.job_id, row.other_job_id, row.rating, row.winner, row.adapter_version,
                     row.created_at, row.comment),
                )
                if rating is not None:
                    conn.execute("UPDATE jobs SET user_rating = ? WHERE id = ?", (rating, job_id))
        return row

    def rate_job(self, job_id: str, rating: int, comment: str | None = None) -> JobRow:
        """The user's 1-5 rating of one critique (also kept in ``ratings``)."""
        self.add_rating(job_id, rating, comment=comment)
        return self.get_job(job_id)

    def list_ratings(self, job_id: str | None = None) -> list[RatingRow]:
        if job_id is None:
            rows = self._query("SELECT * FROM ratings ORDER BY created_at, rowid")
        else:
            rows = self._query("SELECT * FROM ratings WHERE job_id = ? ORDER BY created_at, rowid", (job_id,))
        return [_row_to_rating(r) for r in rows]

    # ---- statistics ----------------------------------------------------------------------------
    def stats(self, advisor_id: str | None = None) -> list[ModelStats]:
        """Per ``model_used``: jobs, mean overall score, mean duration and mean user rating
        (scores, durations and ratings over completed jobs)."""
        where = "WHERE advisor_id = ?" if advisor_id else ""
        params = (advisor_id,) if advisor_id else ()
        rows = self._query(
            f"""
            SELECT COALESCE(model_used, 'unknown') AS model_used,
                   COUNT(*) AS count,
                   SUM(status = 'completed') AS completed,
                   SUM(status = 'failed') AS failed,
                   AVG(CASE WHEN status = 'completed' THEN overall_score END) AS mean_score,
                   AVG(CASE WHEN status = 'completed' THEN
                       COALESCE((julianday(completed_at) - julianday(started_at)) * 86400.0, total_s) END)
                       AS mean_duration,
                   AVG(user_rating) AS mean_rating,
                   COUNT(user_rating) AS rated
            FROM jobs {where}
            GROUP BY COALESCE(model_used, 'unknown')
            ORDER BY count DESC, model_used
            """,
            params,
        )

        def rnd(value: Any, digits: int) -> float | None:
            return round(float(value), digits) if value is not None else None

        return [ModelStats(model_used=r["model_used"], count=int(r["count"]), completed=int(r["completed"] or 0),
                           failed=int(r["failed"] or 0), mean_overall_score=rnd(r["mean_score"], 2),
                           mean_duration_s=rnd(r["mean_duration"], 3), mean_user_rating=rnd(r["mean_rating"], 2),
                           rated=int(r["rated"] or 0))
                for r in rows]

    def ab_win_rates(self) -> list[WinRate]:
        """Blind A/B results per adapter version: pairwise wins and mean blind ratings of each arm."""
        by_version: dict[str | None, WinRate] = {}

        def entry(version: str | None) -> WinRate:
            return by_version.setdefault(version, WinRate(adapter_version=version))

        for r in self._query(
            "SELECT adapter_version, winner, COUNT(*) AS n FROM ratings "
            "WHERE winner IN ('base', 'fine_tuned', 'tie') GROUP BY adapter_version, winner"
        ):
            w = entry(r["adapter_version"])
            n = int(r["n"])
            w.comparisons += n
            if r["winner"] == "fine_tuned":
                w.fine_tuned_wins += n
            elif r["winner"] == "base":
                w.base_wins += n
            else:
                w.ties += n
        for r in self._query(
            "SELECT r.adapter_version AS version, j.model_used AS arm, COUNT(*) AS n, AVG(r.rating) AS mean "
            "FROM ratings r JOIN jobs j ON j.id = r.job_id "
            "WHERE r.rating IS NOT NULL AND j.model_used IN ('ab_test_base', 'ab_test_fine_tuned') "
            "GROUP BY r.adapter_version, j.model_used"
        ):
            w = entry(r["version"])
            mean = round(float(r["mean"]), 2) if r["mean"] is not None else None
            if r["arm"] == "ab_test_base":
                w.rated_base, w.mean_rating_base = int(r["n"]), mean
            else:
                w.rated_fine_tuned, w.mean_rating_fine_tuned = int(r["n"]), mean
        return sorted(by_version.values(), key=lambda w: (w.adapter_version is None, w.adapter_version or ""))

    # ---- dimensional profiles ------------------------------------------------------------------
    def upsert_profile(self, advisor_id: str, image_path: str | os.PathLike[str], content_hash: str | None,
                       report: Report | Mapping[str, Any], source: str = "model",
                       edited: bool = False) -> ProfileRow:
        """Insert or replace the profile of ``image_path`` for ``advisor_id`` (keeps id and created_at)."""
        if source not in PROFILE_SOURCES:
            raise ValueError(f"profile source must be one of {', '.join(PROFILE_SOURCES)}, not {source!r}")
        rep = _report_of(report)
        stamp = now_iso()
        values: dict[str, Any] = {}
        for d in DIMENSIONS:
            dim = rep.dimensions.get(d)
            values[f"{d}_score"] = dim.score if dim else None
            values[f"{d}_comment"] = dim.comment if dim else None
            values[f"{d}_recommendation"] = dim.recommendation if dim else None
        values.update(content_hash=content_hash, overall_grade=rep.overall_grade or None,
                      summary=rep.summary or None, source=source, edited=int(bool(edited)), updated_at=stamp)
        image = str(image_path)
        with self._tx() as conn:
            existing = conn.execute("SELECT id FROM dimensional_profiles WHERE advisor_id = ? AND image_path = ?",
                                    (advisor_id, image)).fetchone()
            if existing:
                sets = ", ".join(f"{k} = ?" for k in values)
                conn.execute(f"UPDATE dimensional_profiles SET {sets} WHERE id = ?", [*values.values(), existing[0]])
                profile_id = existing[0]
            else:
                profile_id = str(uuid.uuid4())
                full = {"id": profile_id, "advisor_id": advisor_id, "image_path": image, "created_at": stamp,
                        **values}
                conn.execute(f"INSERT INTO dimensional_profiles ({', '.join(full)}) "
                             f"VALUES ({', '.join('?' * len(full))})", list(full.values()))
            row = conn.execute("SELECT * FROM dimensional_profiles WHERE id = ?", (profile_id,)).fetchone()
        return _row_to_profile(row)

    def get_profile(self, advisor_id: str, image_path: str | os.PathLike[str]) -> ProfileRow | None:
        rows = self._query("SELECT * FROM dimensional_profiles WHERE advisor_id = ? AND image_path = ?",
                           (advisor_id, str(image_path)))
        return _row_to_profile(rows[0]) if rows else None

    def list_profiles(self, advisor_id: str) -> list[ProfileRow]:
        rows = self._query("SELECT * FROM dimensional_profiles WHERE advisor_id = ? ORDER BY image_path",
                           (advisor_id,))
        return [_row_to_profile(r) for r in rows]

    def count_profiles(self, advisor_id: str) -> int:
        return int(self._query("SELECT COUNT(*) FROM dimensional_profiles WHERE advisor_id = ?",
                               (advisor_id,))[0][0])

    def delete_profiles(self, advisor_id: str, image_paths: Iterable[str | os.PathLike[str]]) -> int:
        """Delete the given photos' profiles; returns how many rows went."""
        targets = [(advisor_id, str(p)) for p in image_paths]
        if not targets:
            return 0
        with self._tx() as conn:
            before = conn.total_changes
            conn.executemany("DELETE FROM dimensional_profiles WHERE advisor_id = ? AND image_path = ?", targets)
            return conn.total_changes - before

    @staticmethod
    def profile_vector(row: ProfileRow | Report | Mapping[str, float | None],
                       missing: float = MISSING_SCORE) -> list[float]:
        return profile_vector(row, missing)


def open_default_store() -> Store:
    """A store on the data folder's database (``paths.db_path()``)."""
    return Store(paths.db_path())
