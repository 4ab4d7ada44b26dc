"""Review rows: a folder run, its frames, the resume lookup by content hash, the user's cull."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any

from app.engine.store.connection import Connection
from app.engine.store.path_text import db_text, display_text, os_text
from app.engine.store.reviews_schema import FLAGS, FRAME_STATUSES, REVIEW_STATES
from app.engine.store.rows import JobNotFoundError
from app.engine.store.schema import now_iso
from app.engine.store.workers import PROCESS_TOKEN, worker_alive


class ReviewNotFoundError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class ReviewRow:
    id: str
    created_at: str
    updated_at: str
    folder: str
    recursive: bool
    advisor_id: str
    mode: str
    resume_key: str
    settings: dict[str, Any]
    state: str
    total: int = 0
    done: int = 0
    reused: int = 0
    failed: int = 0
    error: str | None = None

    @property
    def finished(self) -> int:
        """Frames with an outcome (critiqued now, reused from an earlier run, or failed)."""
        return self.done + self.reused + self.failed

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["finished"] = self.finished
        out["progress"] = round(self.finished / self.total, 4) if self.total else (1.0 if self.state == "completed" else 0.0)
        return out


@dataclass
class FrameRow:
    review_id: str
    path: str
    companions: list[str] = field(default_factory=list)  # the same frame's other files (the JPEG of a RAW)
    content_hash: str | None = None
    resume_key: str = ""
    status: str = "pending"
    job_id: str | None = None
    error: str | None = None
    taken_at: str | None = None
    phash: str | None = None
    flag: str = "none"  # the user's pick / reject
    stars: int | None = None  # the user's stars (None: not set; the score's mapping applies)
    position: int = 0
    updated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_REVIEW_COLS = ("id", "created_at", "updated_at", "folder", "recursive", "advisor_id", "mode", "resume_key",
                "settings_json", "state", "total", "done", "reused", "failed", "error")
_FRAME_COLS = ("review_id", "path", "companions_json", "content_hash", "resume_key", "status", "job_id", "error",
               "taken_at", "phash", "flag", "stars", "position", "updated_at")


def _review(row: sqlite3.Row) -> ReviewRow:
    settings = json.loads(row["settings_json"]) if row["settings_json"] else {}
    return ReviewRow(id=row["id"], created_at=row["created_at"], updated_at=row["updated_at"],
                     folder=os_text(row["folder"]),
                     recursive=bool(row["recursive"]), advisor_id=row["advisor_id"], mode=row["mode"],
                     resume_key=row["resume_key"], settings=settings, state=row["state"], total=row["total"],
                     done=row["done"], reused=row["reused"], failed=row["failed"], error=row["error"])


def _frame(row: sqlite3.Row) -> FrameRow:
    return FrameRow(review_id=row["review_id"], path=os_text(row["path"]),
                    companions=json.loads(row["companions_json"]) if row["companions_json"] else [],
                    content_hash=row["content_hash"], resume_key=row["resume_key"], status=row["status"],
                    job_id=row["job_id"], error=row["error"], taken_at=row["taken_at"], phash=row["phash"],
                    flag=row["flag"], stars=row["stars"], position=row["position"], updated_at=row["updated_at"])


REVIEW_INTERRUPTED = "interrupted: the app stopped during this review; run it again to continue"


class Reviews:
    """``store.reviews``: folder runs, their frames, the resume lookup by content, the user's cull."""

    def __init__(self, db: Connection):
        self._db = db

    def recover_interrupted(self) -> int:
        """Reviews left running by a process that is gone become ``cancelled`` (resumable: their
        finished frames are kept). Returns how many."""
        rows = self._db.query("SELECT id, worker_pid, worker_token FROM reviews WHERE state IN ('queued', 'running')")
        dead = [r["id"] for r in rows if not worker_alive(r["worker_pid"], r["worker_token"])]
        if dead:
            stamp = now_iso()
            with self._db.tx() as conn:
                conn.executemany("UPDATE reviews SET state = 'cancelled', error = ?, updated_at = ? "
                                 "WHERE id = ? AND state IN ('queued', 'running')",
                                 [(REVIEW_INTERRUPTED, stamp, review_id) for review_id in dead])
        return len(dead)

    def open_review(self, folder: str, advisor_id: str, mode: str, resume_key: str, *, recursive: bool,
                    settings: dict[str, Any] | None = None, state: str = "running") -> ReviewRow:
        """The review of ``folder`` with this key and scope (the newest, reopened), or a new one, in
        ``state`` (``queued`` while its folder is being scanned)."""
        rows = self._db.query("SELECT * FROM reviews WHERE folder = ? AND resume_key = ? AND recursive = ? "
                           "ORDER BY created_at DESC, rowid DESC LIMIT 1", (db_text(folder), resume_key, int(recursive)))
        stamp = now_iso()
        if rows:
            review_id = rows[0]["id"]
            self._update_review(review_id, state=state, error=None, settings_json=json.dumps(settings or {}))
            with self._db.tx() as conn:  # this process runs it now (recover_interrupted reads these)
                conn.execute("UPDATE reviews SET worker_pid = ?, worker_token = ? WHERE id = ?",
                             (os.getpid(), PROCESS_TOKEN, review_id))
            return self.get_review(review_id)
        review_id = str(uuid.uuid4())
        with self._db.tx() as conn:
            conn.execute(
                "INSERT INTO reviews (id, created_at, updated_at, folder, recursive, advisor_id, mode, resume_key, "
                "settings_json, state, worker_pid, worker_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (review_id, stamp, stamp, db_text(folder), int(recursive), advisor_id, mode, resume_key,
                 json.dumps(settings or {}), state, os.getpid(), PROCESS_TOKEN))
        return self.get_review(review_id)

    def get_review(self, review_id: str) -> ReviewRow:
        rows = self._db.query("SELECT * FROM reviews WHERE id = ?", (review_id,))
        if not rows:
            raise ReviewNotFoundError(f"no review {review_id!r}")
        return _review(rows[0])

    def find_review(self, review_id: str) -> ReviewRow | None:
        try:
            return self.get_review(review_id)
        except ReviewNotFoundError:
            return None

    def list_reviews(self, limit: int = 50) -> list[ReviewRow]:
        rows = self._db.query("SELECT * FROM reviews ORDER BY created_at DESC, rowid DESC LIMIT ?", (max(0, limit),))
        return [_review(r) for r in rows]

    def _update_review(self, review_id: str, **values: Any) -> None:
        unknown = set(values) - set(_REVIEW_COLS)
        if unknown:
            raise ValueError(f"unknown review column(s): {', '.join(sorted(unknown))}")
        if "state" in values and values["state"] not in REVIEW_STATES:
            raise ValueError(f"review state must be one of {', '.join(REVIEW_STATES)}, not {values['state']!r}")
        if isinstance(values.get("error"), str):
            values["error"] = display_text(values["error"])
        values["updated_at"] = now_iso()
        with self._db.tx() as conn:
            sets = ", ".join(f"{k} = ?" for k in values)
            cur = conn.execute(f"UPDATE reviews SET {sets} WHERE id = ?", [*values.values(), review_id])
            if cur.rowcount == 0:
                raise ReviewNotFoundError(f"no review {review_id!r}")

    def set_review_skipped(self, review_id: str, skipped: list[dict[str, str]]) -> None:
        """Record the subfolders the last scan could not read (``{"path", "reason"}``) in the settings."""
        settings = dict(self.get_review(review_id).settings)
        settings["skipped"] = skipped
        self._update_review(review_id, settings_json=json.dumps(settings))

    def set_review_state(self, review_id: str, state: str, error: str | None = None) -> ReviewRow:
        self._update_review(review_id, state=state, error=error)
        return self.refresh_review_counts(review_id)

    def refresh_review_counts(self, review_id: str) -> ReviewRow:
        """Recount total/done/reused/failed from the frames."""
        counts = {r["status"]: r["n"] for r in self._db.query(
            "SELECT status, COUNT(*) AS n FROM review_frames WHERE review_id = ? GROUP BY status", (review_id,))}
        self._update_review(review_id, total=sum(counts.values()), done=counts.get("done", 0),
                            reused=counts.get("reused", 0), failed=counts.get("failed", 0))
        return self.get_review(review_id)

    # ---- frames --------------------------------------------------------------------------------
    def set_frames(self, review_id: str, frames: list[FrameRow]) -> None:
        """Make the review's frames exactly ``frames`` (by path): new ones are added as pending, the
        ones gone from the folder are dropped, the ones whose content or key changed are reset."""
        stamp = now_iso()
        existing = {f.path: f for f in self.list_frames(review_id)}
        keep = {f.path for f in frames}
        with self._db.tx() as conn:
            for gone in set(existing) - keep:
                conn.execute("DELETE FROM review_frames WHERE review_id = ? AND path = ?", (review_id, db_text(gone)))
            for i, frame in enumerate(frames):
                old = existing.get(frame.path)
                if old is not None and old.content_hash == frame.content_hash and old.resume_key == frame.resume_key:
                    conn.execute("UPDATE review_frames SET position = ?, companions_json = ? "
                                 "WHERE review_id = ? AND path = ?",
                                 (i, json.dumps(frame.companions), review_id, db_text(frame.path)))
                    continue
                conn.execute(
                    f"INSERT OR REPLACE INTO review_frames ({', '.join(_FRAME_COLS)}) "
                    f"VALUES ({', '.join('?' * len(_FRAME_COLS))})",
                    (review_id, db_text(frame.path), json.dumps(frame.companions), frame.content_hash, frame.resume_key,
                     "pending", None, None, frame.taken_at, frame.phash, old.flag if old else "none",
                     old.stars if old else None, i, stamp))
        self.refresh_review_counts(review_id)

    def list_frames(self, review_id: str) -> list[FrameRow]:
        rows = self._db.query("SELECT * FROM review_frames WHERE review_id = ? ORDER BY position, path", (review_id,))
        return [_frame(r) for r in rows]

    def get_frame(self, review_id: str, path: str) -> FrameRow:
        rows = self._db.query("SELECT * FROM review_frames WHERE review_id = ? AND path = ?", (review_id, db_text(path)))
        if not rows:
            raise ReviewNotFoundError(f"review {review_id!r} has no frame {display_text(path)!r}")
        return _frame(rows[0])

    def update_frame(self, review_id: str, path: str, **values: Any) -> FrameRow:
        unknown = set(values) - set(_FRAME_COLS)
        if unknown:
            raise ValueError(f"unknown frame column(s): {', '.join(sorted(unknown))}")
        if "status" in values and values["status"] not in FRAME_STATUSES:
            raise ValueError(f"frame status must be one of {', '.join(FRAME_STATUSES)}, not {values['status']!r}")
        if "flag" in values and values["flag"] not in FLAGS:
            raise ValueError(f"flag must be one of {', '.join(FLAGS)}, not {values['flag']!r}")
        stars = values.get("stars")
        if stars is not None and (isinstance(stars, bool) or not isinstance(stars, int) or not 0 <= stars <= 5):
            raise ValueError(f"stars must be a whole number from 0 to 5, not {stars!r}")
        if isinstance(values.get("error"), str):
            values["error"] = display_text(values["error"])  # an error names the file: readable, storable
        values["updated_at"] = now_iso()
        with self._db.tx() as conn:
            sets = ", ".join(f"{k} = ?" for k in values)
            cur = conn.execute(f"UPDATE review_frames SET {sets} WHERE review_id = ? AND path = ?",
                               [*values.values(), review_id, db_text(path)])
            if cur.rowcount == 0:
                raise ReviewNotFoundError(f"review {review_id!r} has no frame {display_text(path)!r}")
        return self.get_frame(review_id, path)

    def reviewed_job(self, content_hash: str, resume_key: str) -> str | None:
        """The completed job of any earlier review of this content under this key (the resume skip)."""
        rows = self._db.query(
            "SELECT f.job_id FROM review_frames f JOIN jobs j ON j.id = f.job_id WHERE f.content_hash = ? "
            "AND f.resume_key = ? AND f.status IN ('done', 'reused') AND j.status = 'completed' "
            "ORDER BY f.updated_at DESC LIMIT 1", (content_hash, resume_key))
        return rows[0]["job_id"] if rows else None

    def link_job(self, job_id: str, review_id: str) -> None:
        """Record that ``review_id`` ran ``job_id``."""
        with self._db.tx() as conn:
            cur = conn.execute("UPDATE jobs SET review_id = ? WHERE id = ?", (review_id, job_id))
            if cur.rowcount == 0:
                raise JobNotFoundError(f"no job {job_id!r}")

    def frames_of_job(self, job_id: str) -> list[FrameRow]:
        """The review frames whose critique is ``job_id`` (run by the review or reused from it)."""
        return [_frame(r) for r in self._db.query("SELECT * FROM review_frames WHERE job_id = ? ORDER BY review_id, "
                                               "position", (job_id,))]

    def job_deleted(self, frames: list[FrameRow]) -> None:
        """``frames`` (:meth:`frames_of_job` before the job went) become pending again, so their
        review shows them as not reviewed (and reviewing the folder again redoes them) instead of a
        blank tile that still says done."""
        if not frames:
            return
        stamp = now_iso()
        with self._db.tx() as conn:
            conn.executemany("UPDATE review_frames SET status = 'pending', job_id = NULL, error = NULL, "
                             "updated_at = ? WHERE review_id = ? AND path = ? AND job_id IS NULL",
                             [(stamp, f.review_id, f.path) for f in frames])
        for review_id in sorted({f.review_id for f in frames}):
            self.refresh_review_counts(review_id)
