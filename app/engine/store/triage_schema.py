"""Migration 6: triage scores (issue 21's first stage), kept by content so any review reuses them.

``frame_triage``: one row per photo content (SHA-256, or ``path:<path>`` for a file that could not
be hashed) and triage key (advisor, mode, model, adapter, prompt settings and the triage edge):
the eight scores, their expected values, the pass's stats and the photo's measurements (for the
technical problems a tile shows before any full critique). Purely additive: a new table only.
"""

from __future__ import annotations

import sqlite3

TRIAGE_DDL = """
CREATE TABLE frame_triage (
    content_key TEXT NOT NULL,
    triage_key TEXT NOT NULL,
    result_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (content_key, triage_key)
)"""


def migrate_6(conn: sqlite3.Connection) -> None:
    """v5 -> v6: add frame_triage."""
    conn.execute(TRIAGE_DDL)
