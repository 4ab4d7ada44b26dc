"""Ratings (1-5 and blind A/B preferences) and the statistics built on them."""

from __future__ import annotations

import uuid
from typing import Any

from app.engine.store.connection import Connection
from app.engine.store.jobs import Jobs
from app.engine.store.rows import JobRow, ModelStats, RatingRow, WinRate, row_to_rating
from app.engine.store.schema import WINNERS, now_iso


class Ratings:
    """``store.ratings``: the user's 1-5 ratings and blind A/B preferences, and the statistics built on them."""

    def __init__(self, db: Connection, jobs: Jobs):
        self._db = db
        self._jobs = jobs  # a rating names a job: its adapter version, and it must exist

    def add_rating(self, job_id: str, rating: int | None = None, *, winner: str | None = None,
                   adapter_version: str | None = None, comment: str | None = None,
                   other_job_id: str | None = None) -> RatingRow:
        """Record a rating (1-5) and/or a blind A/B preference (winner base / fine_tuned / tie).

        ``adapter_version`` defaults to the job's. A plain rating sets the job's ``user_rating``.
        """
        if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5):
            raise ValueError(f"rating must be a whole number from 1 to 5, not {rating!r}")
        if winner is not None and winner not in WINNERS:
            raise ValueError(f"winner must be one of {', '.join(WINNERS)}, not {winner!r}")
        if rating is None and winner in (None, "rated"):
            raise ValueError("a rating needs a score from 1 to 5 or an A/B winner")
        with self._db.lock:
            job = self._jobs.get_job(job_id)
            if other_job_id is not None:
                self._jobs.get_job(other_job_id)
            row = RatingRow(id=str(uuid.uuid4()), job_id=job_id, rating=rating,
                            winner=winner if winner is not None else "rated",
                            adapter_version=adapter_version if adapter_version is not None else job.adapter_version,
                            created_at=now_iso(), comment=comment, other_job_id=other_job_id)
            with self._db.tx() as conn:
                conn.execute(
                    "INSERT INTO ratings (id, job_id, other_job_id, rating, winner, adapter_version, created_at, "
                    "comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (row.id, row.job_id, row.other_job_id, row.rating, row.winner, row.adapter_version,
                     row.created_at, row.comment),
                )
                if rating is not None:
                    conn.execute("UPDATE jobs SET user_rating = ? WHERE id = ?", (rating, job_id))
        return row

    def rate_job(self, job_id: str, rating: int, comment: str | None = None) -> JobRow:
        """The user's 1-5 rating of one critique (also kept in ``ratings``)."""
        self.add_rating(job_id, rating, comment=comment)
        return self._jobs.get_job(job_id)

    def list_ratings(self, job_id: str | None = None) -> list[RatingRow]:
        if job_id is None:
            rows = self._db.query("SELECT * FROM ratings ORDER BY created_at, rowid")
        else:
            rows = self._db.query("SELECT * FROM ratings WHERE job_id = ? ORDER BY created_at, rowid", (job_id,))
        return [row_to_rating(r) for r in rows]

    # ---- statistics ----------------------------------------------------------------------------
    def stats(self, advisor_id: str | None = None) -> list[ModelStats]:
        """Per ``model_used``: jobs, mean overall score, mean duration and mean user rating
        (scores, durations and ratings over completed jobs)."""
        where = "WHERE advisor_id = ?" if advisor_id else ""
        params = (advisor_id,) if advisor_id else ()
        rows = self._db.query(
            f"""
            SELECT COALESCE(model_used, 'unknown') AS model_used,
                   COUNT(*) AS count,
                   SUM(status = 'completed') AS completed,
                   SUM(status = 'failed') AS failed,
                   AVG(CASE WHEN status = 'completed' THEN overall_score END) AS mean_score,
                   AVG(CASE WHEN status = 'completed' THEN
                       COALESCE((julianday(completed_at) - julianday(started_at)) * 86400.0, total_s) END)
                       AS mean_duration,
                   AVG(user_rating) AS mean_rating,
                   COUNT(user_rating) AS rated
            FROM jobs {where}
            GROUP BY COALESCE(model_used, 'unknown')
            ORDER BY count DESC, model_used
            """,
            params,
        )

        def rnd(value: Any, digits: int) -> float | None:
            return round(float(value), digits) if value is not None else None

        return [ModelStats(model_used=r["model_used"], count=int(r["count"]), completed=int(r["completed"] or 0),
                           failed=int(r["failed"] or 0), mean_overall_score=rnd(r["mean_score"], 2),
                           mean_duration_s=rnd(r["mean_duration"], 3), mean_user_rating=rnd(r["mean_rating"], 2),
                           rated=int(r["rated"] or 0))
                for r in rows]

    def ab_win_rates(self) -> list[WinRate]:
        """Blind A/B results per adapter version: pairwise wins and mean blind ratings of each arm."""
        by_version: dict[str | None, WinRate] = {}

        def entry(version: str | None) -> WinRate:
            return by_version.setdefault(version, WinRate(adapter_version=version))

        for r in self._db.query(
            "SELECT adapter_version, winner, COUNT(*) AS n FROM ratings "
            "WHERE winner IN ('base', 'fine_tuned', 'tie') GROUP BY adapter_version, winner"
        ):
            w = entry(r["adapter_version"])
            n = int(r["n"])
            w.comparisons += n
            if r["winner"] == "fine_tuned":
                w.fine_tuned_wins += n
            elif r["winner"] == "base":
                w.base_wins += n
            else:
                w.ties += n
        for r in self._db.query(
            "SELECT r.adapter_version AS version, j.model_used AS arm, COUNT(*) AS n, AVG(r.rating) AS mean "
            "FROM ratings r JOIN jobs j ON j.id = r.job_id "
            "WHERE r.rating IS NOT NULL AND j.model_used IN ('ab_test_base', 'ab_test_fine_tuned') "
            "GROUP BY r.adapter_version, j.model_used"
        ):
            w = entry(r["version"])
            mean = round(float(r["mean"]), 2) if r["mean"] is not None else None
            if r["arm"] == "ab_test_base":
                w.rated_base, w.mean_rating_base = int(r["n"]), mean
            else:
                w.rated_fine_tuned, w.mean_rating_fine_tuned = int(r["n"]), mean
        return sorted(by_version.values(), key=lambda w: (w.adapter_version is None, w.adapter_version or ""))
