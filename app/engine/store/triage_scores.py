"""Triage results by photo content: the first stage of a review stores them, a re-run (or another
review of the same photos under the same key) reads them back instead of running the model."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from app.engine.store.connection import Connection
from app.engine.store.schema import now_iso


class TriageScores:
    """``store.triage_scores``: the triage results kept by photo content and triage key."""

    def __init__(self, db: Connection):
        self._db = db

    def save_triage(self, content_key: str, triage_key: str, result: dict[str, Any]) -> None:
        """Keep ``result`` (``TriageScores.to_dict()`` plus ``technical``) for this content and key."""
        with self._db.tx() as conn:
            conn.execute("INSERT OR REPLACE INTO frame_triage (content_key, triage_key, result_json, created_at) "
                         "VALUES (?, ?, ?, ?)", (content_key, triage_key, json.dumps(result), now_iso()))

    def triage_results(self, content_keys: Iterable[str], triage_key: str) -> dict[str, dict[str, Any]]:
        """The stored results of these contents under ``triage_key`` (content key -> result)."""
        keys = list(dict.fromkeys(content_keys))
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[start:start + 500]
            rows = self._db.query(f"SELECT content_key, result_json FROM frame_triage WHERE triage_key = ? AND "
                               f"content_key IN ({', '.join('?' * len(chunk))})", (triage_key, *chunk))
            out.update({r["content_key"]: json.loads(r["result_json"]) for r in rows})
        return out
