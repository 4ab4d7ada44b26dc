"""Conversation turns of a job: the follow-up questions asked about one critique, and their answers.

One row per exchange (a question and its answer, or a crop suggestion), ordered by ``position``
within the job, deleted with the job (:mod:`app.engine.store.conversations_schema`). A turn is
written when the question is asked (status ``running``), so a failure or a crash never loses the
question, and updated when the answer ends (``done``, ``cancelled`` with the text streamed so
far, or ``failed`` with the reason).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any

from app.engine.store.connection import Connection
from app.engine.store.conversations_schema import TURN_KINDS, TURN_STATUSES
from app.engine.store.rows import JobNotFoundError
from app.engine.store.schema import now_iso


@dataclass
class TurnRow:
    """One exchange about a job's critique."""

    id: str
    job_id: str
    position: int
    kind: str
    question: str
    answer: str
    status: str
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    completed_at: str | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _row(row: sqlite3.Row) -> TurnRow:
    details = json.loads(row["details_json"]) if row["details_json"] else {}
    return TurnRow(id=row["id"], job_id=row["job_id"], position=int(row["position"]), kind=row["kind"],
                   question=row["question"], answer=row["answer"], status=row["status"], error=row["error"],
                   details=details if isinstance(details, dict) else {}, created_at=row["created_at"],
                   completed_at=row["completed_at"])


class Conversations:
    """``store.conversations``: the follow-up questions asked about a job's critique, and their answers."""

    def __init__(self, db: Connection):
        self._db = db

    def add_turn(self, job_id: str, question: str, *, kind: str = "question") -> TurnRow:
        """Record a question (status ``running``) as the job's next turn. Raises JobNotFoundError."""
        if kind not in TURN_KINDS:
            raise ValueError(f"unknown turn kind {kind!r}; one of: {', '.join(TURN_KINDS)}")
        turn_id = uuid.uuid4().hex
        with self._db.tx() as conn:
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise JobNotFoundError(f"no job {job_id!r}")
            position = conn.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM conversation_turns "
                                    "WHERE job_id = ?", (job_id,)).fetchone()[0]
            conn.execute("INSERT INTO conversation_turns (id, job_id, position, kind, question, status, created_at) "
                         "VALUES (?, ?, ?, ?, ?, 'running', ?)", (turn_id, job_id, position, kind, question, now_iso()))
        return self.get_turn(turn_id)

    def finish_turn(self, turn_id: str, *, answer: str, status: str, error: str | None = None,
                    details: dict[str, Any] | None = None) -> TurnRow:
        """The answer of a turn (``done``, ``cancelled`` with the text so far, or ``failed``)."""
        if status not in TURN_STATUSES or status == "running":
            raise ValueError(f"a finished turn is done, cancelled or failed, not {status!r}")
        with self._db.tx() as conn:
            cur = conn.execute("UPDATE conversation_turns SET answer = ?, status = ?, error = ?, details_json = ?, "
                               "completed_at = ? WHERE id = ?",
                               (answer, status, error, json.dumps(details or {}, ensure_ascii=False, default=str),
                                now_iso(), turn_id))
            if cur.rowcount == 0:
                raise KeyError(f"no conversation turn {turn_id!r}")
        return self.get_turn(turn_id)

    def update_turn_details(self, turn_id: str, details: dict[str, Any]) -> TurnRow:
        """Replace a finished turn's details (an exported crop records the box the user kept)."""
        with self._db.tx() as conn:
            cur = conn.execute("UPDATE conversation_turns SET details_json = ? WHERE id = ?",
                               (json.dumps(details, ensure_ascii=False, default=str), turn_id))
            if cur.rowcount == 0:
                raise KeyError(f"no conversation turn {turn_id!r}")
        return self.get_turn(turn_id)

    def get_turn(self, turn_id: str) -> TurnRow:
        rows = self._db.query("SELECT * FROM conversation_turns WHERE id = ?", (turn_id,))
        if not rows:
            raise KeyError(f"no conversation turn {turn_id!r}")
        return _row(rows[0])

    def list_turns(self, job_id: str) -> list[TurnRow]:
        """The job's turns, oldest first."""
        return [_row(r) for r in self._db.query("SELECT * FROM conversation_turns WHERE job_id = ? ORDER BY position",
                                             (job_id,))]
