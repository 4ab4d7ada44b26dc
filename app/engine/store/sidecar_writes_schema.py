"""Migration 5: what Mondrian wrote into sidecars (to tell its values from the user's, and to undo),
and the metadata a review found in each frame's files when the folder was opened.

* ``sidecar_batches``: one "Write sidecars" action: when, for which review, with which policy;
  ``undone_at`` once "Undo last sidecar write" ran.
* ``sidecar_files``: each sidecar a batch changed: the backup of its bytes before (NULL when the
  batch created it), its mode before, and its SHA-256 and mtime right after the write (undo refuses
  a file that no longer has them).
* ``sidecar_values``: every field value written (JSON), with the file's hash after the write. A
  standard field holds Mondrian's value only while the file still holds exactly this value.
* ``frame_metadata``: the user's rating, label, flag and caption read from a frame's files.

Purely additive: new tables only, nothing existing changes.
"""

from __future__ import annotations

import sqlite3

UNDO_STATES = ("kept", "restored", "refused")

BATCHES_DDL = """
CREATE TABLE sidecar_batches (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    review_id TEXT REFERENCES reviews(id) ON DELETE SET NULL,
    policy_json TEXT NOT NULL,
    undone_at TEXT
)"""

FILES_DDL = f"""
CREATE TABLE sidecar_files (
    batch_id TEXT NOT NULL REFERENCES sidecar_batches(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    photo TEXT NOT NULL,
    created INTEGER NOT NULL,
    backup TEXT,
    hash_before TEXT,
    mode_before INTEGER,
    hash_after TEXT NOT NULL,
    mtime_after_ns INTEGER NOT NULL,
    undo TEXT NOT NULL DEFAULT 'kept' CHECK (undo IN ({", ".join(f"'{s}'" for s in UNDO_STATES)})),
    written_at TEXT NOT NULL,
    PRIMARY KEY (batch_id, path)
)"""

VALUES_DDL = """
CREATE TABLE sidecar_values (
    batch_id TEXT NOT NULL REFERENCES sidecar_batches(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    field TEXT NOT NULL,
    value_json TEXT NOT NULL,
    hash_after TEXT NOT NULL,
    written_at TEXT NOT NULL,
    PRIMARY KEY (batch_id, path, field)
)"""

FRAME_METADATA_DDL = """
CREATE TABLE frame_metadata (
    review_id TEXT NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    metadata_json TEXT NOT NULL,
    read_at TEXT NOT NULL,
    PRIMARY KEY (review_id, path)
)"""


def migrate_5(conn: sqlite3.Connection) -> None:
    """v4 -> v5: sidecar write records and the metadata found in a review's frames."""
    for ddl in (BATCHES_DDL, FILES_DDL, VALUES_DDL, FRAME_METADATA_DDL):
        conn.execute(ddl)
    conn.execute("CREATE INDEX sidecar_values_path ON sidecar_values(path, field)")
    conn.execute("CREATE INDEX sidecar_files_path ON sidecar_files(path)")
