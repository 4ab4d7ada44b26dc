"""The record of what Mondrian wrote into sidecars, and the metadata found in a review's frames.

Why: a standard field (``xmp:Rating``, ``xmp:Label``, ``dc:description``) is Mondrian's only while
the file still holds exactly the value Mondrian wrote; the metadata reader asks
:meth:`SidecarWrites.mondrian_values` so Mondrian's stars are never read back as the
photographer's. Undo needs each batch's backups and the hash each file had right after the write.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from app.engine.store.connection import Connection
from app.engine.store.path_text import db_text, os_text
from app.engine.store.schema import now_iso
from app.engine.store.sidecar_writes_schema import UNDO_STATES


@dataclass
class SidecarFileRow:
    batch_id: str
    path: str  # the sidecar
    photo: str
    created: bool  # the batch created it (undo deletes it)
    backup: str | None  # the bytes before, in the data folder
    hash_before: str | None
    mode_before: int | None
    hash_after: str
    mtime_after_ns: int
    undo: str = "kept"
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class SidecarBatchRow:
    id: str
    created_at: str
    review_id: str | None
    policy: dict[str, Any]
    undone_at: str | None
    files: list[SidecarFileRow] = field(default_factory=list)


class SidecarWrites:
    """``store.sidecar_writes``: what Mondrian wrote into sidecars (for undo and for telling its values from the user's), and the metadata found in a review's frames."""

    def __init__(self, db: Connection):
        self._db = db

    def begin_sidecar_batch(self, review_id: str | None, policy: dict[str, Any]) -> str:
        batch_id = str(uuid.uuid4())
        with self._db.tx() as conn:
            conn.execute("INSERT INTO sidecar_batches (id, created_at, review_id, policy_json) VALUES (?, ?, ?, ?)",
                         (batch_id, now_iso(), review_id, json.dumps(policy, sort_keys=True)))
        return batch_id

    def record_sidecar_write(self, row: SidecarFileRow) -> None:
        """One sidecar written by batch ``row.batch_id``, with every field value it now holds from Mondrian."""
        stamp = now_iso()
        with self._db.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sidecar_files (batch_id, path, photo, created, backup, hash_before, "
                "mode_before, hash_after, mtime_after_ns, undo, written_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'kept', ?)",
                (row.batch_id, db_text(row.path), db_text(row.photo), int(row.created),
                 db_text(row.backup) if row.backup else row.backup, row.hash_before, row.mode_before,
                 row.hash_after, row.mtime_after_ns, stamp))
            conn.executemany(
                "INSERT OR REPLACE INTO sidecar_values (batch_id, path, field, value_json, hash_after, written_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(row.batch_id, db_text(row.path), key, json.dumps(value, ensure_ascii=False, sort_keys=True), row.hash_after,
                  stamp) for key, value in row.values.items()])

    def mondrian_values(self, path: str) -> dict[str, Any]:
        """The newest value Mondrian wrote for each field of the file at ``path`` (writes undone excluded)."""
        rows = self._db.query(
            "SELECT v.field, v.value_json FROM sidecar_values v JOIN sidecar_batches b ON b.id = v.batch_id "
            "JOIN sidecar_files f ON f.batch_id = v.batch_id AND f.path = v.path "
            "WHERE v.path = ? AND b.undone_at IS NULL AND f.undo = 'kept' ORDER BY v.written_at, v.rowid", (db_text(path),))
        return {r["field"]: json.loads(r["value_json"]) for r in rows}

    def _batch(self, row: Any) -> SidecarBatchRow:
        batch = SidecarBatchRow(id=row["id"], created_at=row["created_at"], review_id=row["review_id"],
                                policy=json.loads(row["policy_json"]), undone_at=row["undone_at"])
        for f in self._db.query("SELECT * FROM sidecar_files WHERE batch_id = ? ORDER BY rowid", (batch.id,)):
            values = {v["field"]: json.loads(v["value_json"]) for v in self._db.query(
                "SELECT field, value_json FROM sidecar_values WHERE batch_id = ? AND path = ?", (batch.id, f["path"]))}
            batch.files.append(SidecarFileRow(
                batch_id=batch.id, path=os_text(f["path"]), photo=os_text(f["photo"]), created=bool(f["created"]),
                backup=os_text(f["backup"]) if f["backup"] else f["backup"],
                hash_before=f["hash_before"], mode_before=f["mode_before"], hash_after=f["hash_after"],
                mtime_after_ns=f["mtime_after_ns"], undo=f["undo"], values=values))
        return batch

    def last_sidecar_batch(self, review_id: str | None = None) -> SidecarBatchRow | None:
        """The newest batch not undone that changed at least one file (of ``review_id`` when given)."""
        where = "b.undone_at IS NULL AND EXISTS (SELECT 1 FROM sidecar_files f WHERE f.batch_id = b.id)"
        params: tuple[Any, ...] = ()
        if review_id is not None:
            where += " AND b.review_id = ?"
            params = (review_id,)
        rows = self._db.query(f"SELECT * FROM sidecar_batches b WHERE {where} ORDER BY b.created_at DESC, b.rowid DESC "
                           "LIMIT 1", params)
        return self._batch(rows[0]) if rows else None

    def finish_sidecar_undo(self, batch_id: str, outcomes: dict[str, str]) -> None:
        """Mark the batch undone, with each file's outcome (``restored`` or ``refused``)."""
        bad = set(outcomes.values()) - set(UNDO_STATES)
        if bad:
            raise ValueError(f"undo outcome must be one of {', '.join(UNDO_STATES)}, not {sorted(bad)}")
        with self._db.tx() as conn:
            conn.executemany("UPDATE sidecar_files SET undo = ? WHERE batch_id = ? AND path = ?",
                             [(state, batch_id, db_text(path)) for path, state in outcomes.items()])
            conn.execute("UPDATE sidecar_batches SET undone_at = ? WHERE id = ?", (now_iso(), batch_id))

    # ---- the metadata found in a review's frames ------------------------------------------------
    def set_frame_metadata(self, review_id: str, found: dict[str, dict[str, Any]]) -> None:
        """``{frame path: metadata dict}`` read when the folder was opened (replaces earlier readings)."""
        stamp = now_iso()
        with self._db.tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO frame_metadata (review_id, path, metadata_json, read_at) VALUES (?, ?, ?, ?)",
                [(review_id, db_text(path), json.dumps(meta, sort_keys=True), stamp)
                 for path, meta in found.items()])

    def frame_metadata(self, review_id: str, path: str | None = None) -> dict[str, dict[str, Any]]:
        """The metadata found per frame path (one frame when ``path`` is given)."""
        if path is None:
            rows = self._db.query("SELECT path, metadata_json FROM frame_metadata WHERE review_id = ?", (review_id,))
        else:
            rows = self._db.query("SELECT path, metadata_json FROM frame_metadata WHERE review_id = ? AND path = ?",
                               (review_id, db_text(path)))
        return {os_text(r["path"]): json.loads(r["metadata_json"]) for r in rows}
