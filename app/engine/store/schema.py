"""The store's schema: DDL and the ordered migrations behind ``PRAGMA user_version``.

Migration 1 creates the older schema of the seed's Flask service (jobs without ``model_used``,
timings or fallback reasons; profiles without content hashes), so a database it left behind and a
new one take the same path. Migration 2 rebuilds that into the current schema, keeping the data;
migration 3 adds reviews (:mod:`app.engine.store.reviews_schema`), migration 4 conversation
turns (:mod:`app.engine.store.conversations_schema`), migration 5 the record of sidecar writes
(:mod:`app.engine.store.sidecar_writes_schema`).
Each migration runs in one transaction; a failure leaves the database at the previous version.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.engine.critique.report import DIMENSIONS, ReportParseError, parse_report
from app.engine.store.conversations_schema import migrate_4
from app.engine.store.reviews_schema import migrate_3
from app.engine.store.sidecar_writes_schema import migrate_5
from app.engine.vocabulary import ModelUsed

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5

MODEL_USED = tuple(m.value for m in ModelUsed)  # the CHECK constraint: keep in this order
JOB_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
PROFILE_SOURCES = ("model", "user", "targets")
WINNERS = ("base", "fine_tuned", "tie", "rated")


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, corrupt file); the message says which file and why."""


def now_iso() -> str:
    """UTC timestamp as stored: ISO-8601 with milliseconds (SQLite's julianday() reads it)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_V1_SCHEMA = """
-- The seed's service (Flask + sqlite_helper.py): one row per upload, outputs as a JSON blob.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    filename TEXT,
    advisor TEXT,
    mode TEXT,
    status TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    started_at TEXT,
    completed_at TEXT,
    llm_outputs TEXT,
    error TEXT
);
CREATE TABLE dimensional_profiles (
    id TEXT PRIMARY KEY,
    advisor_id TEXT NOT NULL,
    image_path TEXT NOT NULL,
    composition_score REAL, lighting_score REAL, focus_sharpness_score REAL, color_harmony_score REAL,
    subject_isolation_score REAL, depth_perspective_score REAL, visual_balance_score REAL,
    emotional_impact_score REAL,
    composition_comment TEXT, lighting_comment TEXT, focus_sharpness_comment TEXT, color_harmony_comment TEXT,
    subject_isolation_comment TEXT, depth_perspective_comment TEXT, visual_balance_comment TEXT,
    emotional_impact_comment TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);
"""


def _jobs_v2_ddl(name: str = "jobs") -> str:
    models = ", ".join(f"'{m}'" for m in MODEL_USED)
    statuses = ", ".join(f"'{s}'" for s in JOB_STATUSES)
    return f"""
CREATE TABLE {name} (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    started_at TEXT,
    completed_at TEXT,
    photo_path TEXT NOT NULL,
    photo_hash TEXT,
    thumbnail_path TEXT,
    advisor_id TEXT NOT NULL,
    requested_mode TEXT NOT NULL,
    effective_mode TEXT,
    fallback_reason TEXT,
    model_used TEXT CHECK (model_used IS NULL OR model_used IN ({models})),
    base_model TEXT,
    adapter_version TEXT,
    report_json TEXT,
    raw_output TEXT,
    overall_score REAL,
    grade TEXT,
    prompt_tokens INTEGER,
    generation_tokens INTEGER,
    time_to_first_token_s REAL,
    total_s REAL,
    peak_memory_gb REAL,
    status TEXT NOT NULL CHECK (status IN ({statuses})),
    error TEXT,
    user_rating INTEGER CHECK (user_rating IS NULL OR user_rating BETWEEN 1 AND 5),
    details_json TEXT,
    worker_pid INTEGER,
    worker_token TEXT
)"""


def _profiles_v2_ddl(name: str = "dimensional_profiles") -> str:
    cols = []
    for d in DIMENSIONS:
        cols += [f"{d}_score REAL", f"{d}_comment TEXT", f"{d}_recommendation TEXT"]
    sources = ", ".join(f"'{s}'" for s in PROFILE_SOURCES)
    return f"""
CREATE TABLE {name} (
    id TEXT PRIMARY KEY,
    advisor_id TEXT NOT NULL,
    image_path TEXT NOT NULL,
    {", ".join(cols)},
    content_hash TEXT,
    overall_grade TEXT,
    summary TEXT,
    source TEXT NOT NULL DEFAULT 'model' CHECK (source IN ({sources})),
    edited INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (advisor_id, image_path)
)"""


_RATINGS_DDL = f"""
CREATE TABLE ratings (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    other_job_id TEXT REFERENCES jobs(id) ON DELETE SET NULL,
    rating INTEGER CHECK (rating IS NULL OR rating BETWEEN 1 AND 5),
    winner TEXT CHECK (winner IS NULL OR winner IN ({", ".join(f"'{w}'" for w in WINNERS)})),
    adapter_version TEXT,
    created_at TEXT NOT NULL,
    comment TEXT,
    CHECK (rating IS NOT NULL OR winner IN ('base', 'fine_tuned', 'tie'))
)"""

_V1_STATUS = {
    "pending": "queued", "queued": "queued", "waiting": "queued",
    "processing": "running", "running": "running", "analyzing": "running", "started": "running",
    "done": "completed", "complete": "completed", "completed": "completed", "success": "completed",
    "error": "failed", "failed": "failed", "cancelled": "cancelled", "canceled": "cancelled",
}


def _migrate_1(conn: sqlite3.Connection) -> None:
    # Statement by statement: executescript() would commit the migration's transaction.
    for statement in _V1_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1_job_to_v2(row: sqlite3.Row, cols: set[str]) -> dict[str, Any]:
    """Map a seed-era job row onto the current columns, parsing its output blob when possible."""

    def get(name: str) -> Any:
        return row[name] if name in cols else None

    raw = get("llm_outputs")
    status_in = str(get("status") or "").strip().lower()
    status = _V1_STATUS.get(status_in, "failed")
    error = get("error")
    if status_in and status_in not in _V1_STATUS:
        error = error or f"unknown status {status_in!r} in the old database"
    report_json = overall = grade = None
    details: dict[str, Any] = {"migrated_from": 1}
    if isinstance(raw, str) and raw.strip():
        try:
            report = parse_report(raw)
            report_json, overall, grade = report.to_json(), report.overall_score, report.overall_grade
        except ReportParseError as exc:
            details["parse_problems"] = exc.problems
            try:  # the seed stored an overall_score in its blob; keep it if there is one
                blob = json.loads(raw)
                if isinstance(blob, dict) and isinstance(blob.get("overall_score"), (int, float)):
                    overall = float(blob["overall_score"])
            except ValueError:
                pass
    model_used = get("model_used")
    if model_used not in MODEL_USED:
        model_used = "base"  # the seed's default before it tracked the model
    mode = get("mode") or "baseline"
    return {
        "id": str(get("id") or uuid.uuid4()), "created_at": get("created_at") or now_iso(),
        "started_at": get("started_at"), "completed_at": get("completed_at"),
        "photo_path": get("filename") or get("image_path") or "", "advisor_id": get("advisor") or "",
        "requested_mode": mode, "effective_mode": mode, "model_used": model_used,
        "report_json": report_json, "raw_output": raw, "overall_score": overall, "grade": grade,
        "status": status, "error": error, "details_json": json.dumps(details),
    }


def _migrate_2(conn: sqlite3.Connection) -> None:
    """v1 -> v2: rebuild jobs with the full record, extend profiles, add ratings."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(jobs)")}
    conn.execute(_jobs_v2_ddl("jobs_v2"))
    names = ("id", "created_at", "started_at", "completed_at", "photo_path", "advisor_id", "requested_mode",
             "effective_mode", "model_used", "report_json", "raw_output", "overall_score", "grade", "status",
             "error", "details_json")
    sql = f"INSERT OR REPLACE INTO jobs_v2 ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    for row in conn.execute("SELECT * FROM jobs").fetchall():
        values = _v1_job_to_v2(row, cols)
        conn.execute(sql, [values[n] for n in names])
    conn.execute("DROP TABLE jobs")
    conn.execute("ALTER TABLE jobs_v2 RENAME TO jobs")

    pcols = {r[1] for r in conn.execute("PRAGMA table_info(dimensional_profiles)")}
    conn.execute(_profiles_v2_ddl("profiles_v2"))
    keep = ["id", "advisor_id", "image_path"]
    for d in DIMENSIONS:
        keep += [c for c in (f"{d}_score", f"{d}_comment") if c in pcols]
    stamp = now_iso()
    created = "COALESCE(created_at, ?)" if "created_at" in pcols else "?"
    # Newest row wins when the old table held duplicates of (advisor_id, image_path).
    order = "ORDER BY created_at, rowid" if "created_at" in pcols else "ORDER BY rowid"
    conn.execute(
        f"INSERT OR REPLACE INTO profiles_v2 ({', '.join(keep)}, source, edited, created_at, updated_at) "
        f"SELECT {', '.join(keep)}, 'model', 0, {created}, {created} FROM dimensional_profiles {order}",
        (stamp, stamp),
    )
    conn.execute("DROP TABLE dimensional_profiles")
    conn.execute("ALTER TABLE profiles_v2 RENAME TO dimensional_profiles")
    conn.execute(_RATINGS_DDL)
    conn.execute("CREATE INDEX jobs_created ON jobs(created_at)")
    conn.execute("CREATE INDEX jobs_advisor ON jobs(advisor_id, created_at)")
    conn.execute("CREATE INDEX jobs_status ON jobs(status)")
    conn.execute("CREATE INDEX ratings_job ON ratings(job_id)")
    conn.execute("CREATE INDEX profiles_advisor ON dimensional_profiles(advisor_id)")


MIGRATIONS: tuple[tuple[int, Callable[[sqlite3.Connection], None]], ...] = (
    (1, _migrate_1),
    (2, _migrate_2),
    (3, migrate_3),  # reviews of a folder (app/engine/store/reviews_schema.py)
    (4, migrate_4),  # conversation turns per job (app/engine/store/conversations_schema.py)
    (5, migrate_5),  # sidecar writes and frames' metadata (app/engine/store/sidecar_writes_schema.py)
)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database up to ``target``, one migration per transaction; returns the new version.

    Foreign keys are off while tables are rebuilt (SQLite's recommended procedure) and checked
    before each commit.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"the database was written by a newer Mondrian (schema {version}, this one "
                         f"knows up to {SCHEMA_VERSION}); update the app")
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        for number, step in MIGRATIONS:
            if number <= version or number > target:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while we waited for the write lock.
                current = conn.execute("PRAGMA user_version").fetchone()[0]
                if current >= number:
                    conn.execute("COMMIT")
                    version = current
                    continue
                step(conn)
                problems = conn.execute("PRAGMA foreign_key_check").fetchall()
                if problems:
                    raise StoreError(f"migration {number} broke {len(problems)} foreign key(s)")
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            log.info("database migrated to schema %d", number)
            version = number
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
    return version
