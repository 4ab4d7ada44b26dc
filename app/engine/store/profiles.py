"""Dimensional profiles: a photo's eight scores and comments per advisor (the RAG index, and
training targets when the user edited them)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from app.engine.critique.report import DIMENSIONS, Report
from app.engine.store.connection import Connection
from app.engine.store.path_text import db_text
from app.engine.store.rows import ProfileRow, report_of, row_to_profile
from app.engine.store.schema import PROFILE_SOURCES, now_iso


class Profiles:
    """``store.profiles``: a photo's eight scores and comments per advisor."""

    def __init__(self, db: Connection):
        self._db = db

    def upsert_profile(self, advisor_id: str, image_path: str | os.PathLike[str], content_hash: str | None,
                       report: Report | Mapping[str, Any], source: str = "model",
                       edited: bool = False) -> ProfileRow:
        """Insert or replace the profile of ``image_path`` for ``advisor_id`` (keeps id and created_at)."""
        if source not in PROFILE_SOURCES:
            raise ValueError(f"profile source must be one of {', '.join(PROFILE_SOURCES)}, not {source!r}")
        rep = report_of(report)
        stamp = now_iso()
        values: dict[str, Any] = {}
        for d in DIMENSIONS:
            dim = rep.dimensions.get(d)
            values[f"{d}_score"] = dim.score if dim else None
            values[f"{d}_comment"] = dim.comment if dim else None
            values[f"{d}_recommendation"] = dim.recommendation if dim else None
        values.update(content_hash=content_hash, overall_grade=rep.overall_grade or None,
                      summary=rep.summary or None, source=source, edited=int(bool(edited)), updated_at=stamp)
        image = db_text(image_path)  # a name that is not UTF-8 is stored reversibly (path_text)
        with self._db.tx() as conn:
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
        return row_to_profile(row)

    def get_profile(self, advisor_id: str, image_path: str | os.PathLike[str]) -> ProfileRow | None:
        rows = self._db.query("SELECT * FROM dimensional_profiles WHERE advisor_id = ? AND image_path = ?",
                           (advisor_id, db_text(image_path)))
        return row_to_profile(rows[0]) if rows else None

    def list_profiles(self, advisor_id: str) -> list[ProfileRow]:
        rows = self._db.query("SELECT * FROM dimensional_profiles WHERE advisor_id = ? ORDER BY image_path",
                           (advisor_id,))
        return [row_to_profile(r) for r in rows]

    def count_profiles(self, advisor_id: str) -> int:
        return int(self._db.query("SELECT COUNT(*) FROM dimensional_profiles WHERE advisor_id = ?",
                               (advisor_id,))[0][0])

    def delete_profiles(self, advisor_id: str, image_paths: Iterable[str | os.PathLike[str]]) -> int:
        """Delete the given photos' profiles; returns how many rows went."""
        targets = [(advisor_id, db_text(p)) for p in image_paths]
        if not targets:
            return 0
        with self._db.tx() as conn:
            before = conn.total_changes
            conn.executemany("DELETE FROM dimensional_profiles WHERE advisor_id = ? AND image_path = ?", targets)
            return conn.total_changes - before
