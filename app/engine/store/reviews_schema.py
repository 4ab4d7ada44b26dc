"""Migration 3: reviews (one run over a folder), their frames, and the ``review_id`` link on jobs.

A review is a folder, an advisor, the settings it ran with, counts and a state. Each frame of the
folder (a RAW+JPEG pair is one frame) is a row in ``review_frames``: which file was critiqued, its
content hash, the key of the advisor/model/adapter it was reviewed with (``resume_key``: a re-run
with the same key skips the frame), its job, its perceptual hash and burst, and the user's cull
(pick/reject flag, stars). Jobs gain ``review_id`` so the history knows which review ran them.
"""

from __future__ import annotations

import sqlite3

REVIEW_STATES = ("queued", "running", "completed", "cancelled", "failed")
FRAME_STATUSES = ("pending", "done", "reused", "failed", "cancelled")
FLAGS = ("pick", "reject", "none")


def _q(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


REVIEWS_DDL = f"""
CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    folder TEXT NOT NULL,
    recursive INTEGER NOT NULL DEFAULT 0,
    advisor_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    resume_key TEXT NOT NULL,
    settings_json TEXT,
    state TEXT NOT NULL CHECK (state IN ({_q(REVIEW_STATES)})),
    total INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    reused INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    worker_pid INTEGER,
    worker_token TEXT
)"""

FRAMES_DDL = f"""
CREATE TABLE review_frames (
    review_id TEXT NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    companions_json TEXT,
    content_hash TEXT,
    resume_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({_q(FRAME_STATUSES)})),
    job_id TEXT REFERENCES jobs(id) ON DELETE SET NULL,
    error TEXT,
    taken_at TEXT,
    phash TEXT,
    flag TEXT NOT NULL DEFAULT 'none' CHECK (flag IN ({_q(FLAGS)})),
    stars INTEGER CHECK (stars IS NULL OR stars BETWEEN 0 AND 5),
    position INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (review_id, path)
)"""


def migrate_3(conn: sqlite3.Connection) -> None:
    """v2 -> v3: add reviews and review_frames, and jobs.review_id (NULL for every earlier job)."""
    conn.execute(REVIEWS_DDL)
    conn.execute(FRAMES_DDL)
    conn.execute("ALTER TABLE jobs ADD COLUMN review_id TEXT REFERENCES reviews(id) ON DELETE SET NULL")
    conn.execute("CREATE INDEX reviews_folder ON reviews(folder, resume_key)")
    conn.execute("CREATE INDEX frames_resume ON review_frames(content_hash, resume_key, status)")
    conn.execute("CREATE INDEX jobs_review ON jobs(review_id)")
