"""Migration 4: ``conversation_turns``, the follow-up exchanges of a job, deleted with the job."""

from __future__ import annotations

import sqlite3

TURN_KINDS = ("question", "crop")
TURN_STATUSES = ("running", "done", "cancelled", "failed")


def _q(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


TURNS_DDL = f"""
CREATE TABLE conversation_turns (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ({_q(TURN_KINDS)})),
    question TEXT NOT NULL,
    answer TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ({_q(TURN_STATUSES)})),
    error TEXT,
    details_json TEXT,
    created_at TEXT NOT NULL,
    completed_at TEXT,
    UNIQUE (job_id, position)
)"""


def migrate_4(conn: sqlite3.Connection) -> None:
    """v3 -> v4: conversation turns per job."""
    conn.execute(TURNS_DDL)
    conn.execute("CREATE INDEX turns_job ON conversation_turns(job_id, position)")
