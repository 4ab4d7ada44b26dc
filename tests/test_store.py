"""The SQLite store: migrations (empty and seed-era v1 databases), crash recovery, jobs, ratings,
stats, A/B win rates and dimensional profiles."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from app.engine.critique.report import DIMENSIONS, DimensionScore, Report, grade_note
from app.engine.critique.result import CritiqueResult
from app.engine.model.host import GenerationStats
from app.engine.store.database import (
    INTERRUPTED,
    MIGRATIONS,
    SCHEMA_VERSION,
    JobNotFoundError,
    Store,
    StoreError,
    migrate,
    profile_vector,
)

DEAD_PID = 2**22 + 12345  # above Linux's default pid_max: never a live process


def make_report(score: float = 6, grade: str = "") -> Report:
    dims = {d: DimensionScore(score=score + (i % 3), comment=f"{d} comment", recommendation=f"{d} tip")
            for i, d in enumerate(DIMENSIONS)}
    return Report(dimensions=dims, summary="a summary", stated_grade=grade)


def make_result(report: Report | None, model_used: str = "base", adapter: str | None = None,
                total_s: float = 1.5) -> CritiqueResult:
    return CritiqueResult(photo="/p.jpg", advisor_id="ansel", requested_mode="auto", effective_mode="baseline",
                          report=report, raw_text="{...}", fallback_reason="auto: lora unavailable (no adapter)",
                          stats=GenerationStats(prompt_tokens=100, generation_tokens=300, total_s=total_s,
                                                time_to_first_token_s=0.1, peak_memory_gb=0.5),
                          model_id="tiny", adapter_version=adapter, model_used=model_used,
                          parse_problems=[] if report else ["dimension 'lighting' is missing"])


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "m.db") as s:
        yield s


def tables(path: Path) -> dict[str, set[str]]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: {r[1] for r in conn.execute(f"PRAGMA table_info({n})")} for n in names}
    finally:
        conn.close()


def test_empty_database_gets_current_schema(tmp_path: Path):
    path = tmp_path / "new.db"
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION == MIGRATIONS[-1][0]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    cols = tables(path)
    for column in ("model_used", "photo_hash", "thumbnail_path", "effective_mode", "fallback_reason",
                   "base_model", "adapter_version", "report_json", "raw_output", "prompt_tokens",
                   "generation_tokens", "time_to_first_token_s", "total_s", "peak_memory_gb", "user_rating",
                   "started_at", "completed_at"):
        assert column in cols["jobs"]
    for d in DIMENSIONS:
        assert {f"{d}_score", f"{d}_comment"} <= cols["dimensional_profiles"]
    assert {"content_hash", "source", "edited", "overall_grade", "summary"} <= cols["dimensional_profiles"]
    assert {"job_id", "rating", "winner", "adapter_version"} <= cols["ratings"]
    with Store(path) as again:  # reopening is a no-op
        assert again.schema_version == SCHEMA_VERSION


def build_v1(path: Path, *, with_model_used: bool = False) -> None:
    """A database as the seed's Flask service left it: schema 1, with data."""
    conn = sqlite3.connect(path)
    conn.isolation_level = None
    migrate(conn, target=1)
    if with_model_used:  # the seed's optional "ALTER TABLE jobs ADD COLUMN model_used"
        conn.execute("ALTER TABLE jobs ADD COLUMN model_used TEXT DEFAULT 'base'")
    good = json.dumps({**make_report(7).to_dict(), "overall_grade": "A-"})  # the seed's model said A-
    rows = [
        ("j-done", "/photos/a.jpg", "ansel", "rag", "done", "2025-01-13 10:30:45", "2025-01-13 10:30:46",
         "2025-01-13 10:30:49", good, None),
        ("j-err", "/photos/b.jpg", "ansel", "baseline", "error", "2025-01-13 11:00:00", "2025-01-13 11:00:01",
         "2025-01-13 11:00:02", None, "model crashed"),
        ("j-stuck", "/photos/c.jpg", "okeefe", "baseline", "processing", "2025-01-13 12:00:00",
         "2025-01-13 12:00:01", None, None, None),
        ("j-junk", "/photos/d.jpg", "ansel", "baseline", "done", "2025-01-13 13:00:00", "2025-01-13 13:00:01",
         "2025-01-13 13:00:03", '{"overall_score": 6.5, "note": "not a report"}', None),
    ]
    conn.executemany("INSERT INTO jobs (id, filename, advisor, mode, status, created_at, started_at, completed_at, "
                     "llm_outputs, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    if with_model_used:
        conn.execute("UPDATE jobs SET model_used = 'ab_test_fine_tuned' WHERE id = 'j-done'")
    conn.execute(
        "INSERT INTO dimensional_profiles (id, advisor_id, image_path, composition_score, lighting_score, "
        "composition_comment) VALUES ('p1', 'ansel', '/ref/1.jpg', 8, 9, 'strong diagonal')"
    )
    conn.execute("INSERT INTO dimensional_profiles (id, advisor_id, image_path, composition_score) "
                 "VALUES ('p2', 'ansel', '/ref/2.jpg', 4)")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    assert "model_used" not in tables(path)["jobs"] or with_model_used


def test_migrates_seed_v1_database_keeping_data(tmp_path: Path):
    path = tmp_path / "old.db"
    build_v1(path)
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.jobs.count_jobs() == 4
        done = s.jobs.get_job("j-done")
        assert done.status == "completed" and done.photo_path == "/photos/a.jpg" and done.advisor_id == "ansel"
        assert done.requested_mode == done.effective_mode == "rag"
        assert done.model_used == "base"  # the seed's default before it tracked the model
        assert done.overall_score == make_report(7).overall_score == 7.88
        # the seed stored the model's A-; shown is the grade of the scores, and the report says so
        assert done.grade == "B" and done.report.overall_grade == "B" and done.report.stated_grade == "A-"
        assert "A-" in grade_note(done.report)
        assert done.to_dict()["report"]["overall_grade"] == "B" and done.to_dict()["report"]["stated_grade"] == "A-"
        assert done.report is not None and done.report.summary == "a summary"
        assert done.duration_s == pytest.approx(3.0, abs=0.01)
        err = s.jobs.get_job("j-err")
        assert err.status == "failed" and err.error == "model crashed"
        # Left "processing" by the old service: interrupted, and marked so at open.
        stuck = s.jobs.get_job("j-stuck")
        assert stuck.status == "failed" and stuck.error == INTERRUPTED and s.recovered == 1
        junk = s.jobs.get_job("j-junk")
        assert junk.report is None and junk.overall_score == 6.5 and junk.raw_output
        profiles = {p.image_path: p for p in s.profiles.list_profiles("ansel")}
        assert set(profiles) == {"/ref/1.jpg", "/ref/2.jpg"}
        p1 = profiles["/ref/1.jpg"]
        assert p1.id == "p1" and p1.scores["composition"] == 8 and p1.scores["lighting"] == 9
        assert p1.comments["composition"] == "strong diagonal" and p1.scores["emotional_impact"] is None
        assert p1.source == "model" and not p1.edited and p1.content_hash is None
        # New features work on migrated data.
        s.ratings.rate_job("j-done", 5)
        assert s.jobs.get_job("j-done").user_rating == 5
        s.profiles.upsert_profile("ansel", "/ref/1.jpg", "abc", make_report(3))
        assert s.profiles.get_profile("ansel", "/ref/1.jpg").content_hash == "abc"


def test_migration_keeps_model_used_when_the_old_service_tracked_it(tmp_path: Path):
    path = tmp_path / "old2.db"
    build_v1(path, with_model_used=True)
    with Store(path) as s:
        assert s.jobs.get_job("j-done").model_used == "ab_test_fine_tuned"
        assert s.jobs.get_job("j-err").model_used == "base"


def test_newer_schema_is_refused(tmp_path: Path):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer Mondrian"):
        Store(path)


def test_not_a_database_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        Store(path)


def test_failed_migration_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "half.db"
    build_v1(path)
    import app.engine.store.schema as store_mod

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("DROP TABLE jobs")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store_mod, "MIGRATIONS", (MIGRATIONS[0], (2, broken)))
    with pytest.raises(RuntimeError, match="disk on fire"):
        Store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 4  # the drop was rolled back
    conn.close()


def test_job_lifecycle(store: Store):
    job = store.jobs.create_job("/photos/x.jpg", "ansel", "auto", photo_hash="abc", base_model="tiny")
    assert job.status == "queued" and job.started_at is None
    assert store.jobs.start_job(job.id).status == "running"
    done = store.jobs.complete_job(job.id, make_result(make_report(6), adapter="v2", model_used="fine_tuned"))
    assert done.status == "completed" and done.completed_at and done.error is None
    assert done.model_used == "fine_tuned" and done.adapter_version == "v2" and done.base_model == "tiny"
    assert done.effective_mode == "baseline" and done.fallback_reason.startswith("auto:")
    assert done.prompt_tokens == 100 and done.generation_tokens == 300 and done.total_s == 1.5
    assert done.overall_score == make_report(6).overall_score == 6.88 and done.grade == "C+"
    assert done.report.to_dict() == make_report(6).to_dict()
    assert done.details["parse_problems"] == []
    as_dict = done.to_dict()
    assert as_dict["report"]["overall_grade"] == "C+" and "report_json" not in as_dict
    json.dumps(as_dict)


def test_unparsed_output_is_a_failed_job_with_raw_output(store: Store):
    job = store.jobs.create_job("/p.jpg", "ansel", "baseline")
    store.jobs.start_job(job.id)
    row = store.jobs.complete_job(job.id, make_result(None))
    assert row.status == "failed" and "lighting" in row.error and row.raw_output == "{...}"
    assert row.report is None


def test_fail_cancel_delete_and_missing(store: Store, mondrian_home: Path):
    from app.engine import paths

    a = store.jobs.create_job("/a.jpg", "ansel", "auto")
    b = store.jobs.create_job("/b.jpg", "ansel", "auto")
    assert store.jobs.fail_job(a.id, ValueError("bad photo")).error == "bad photo"
    assert store.jobs.cancel_job(b.id).status == "cancelled"
    thumb = paths.thumbnails_dir() / f"{b.id}.jpg"
    thumb.write_bytes(b"jpeg")
    outside = paths.data_dir() / "not-a-thumb.jpg"
    outside.write_bytes(b"keep")
    store.jobs._update_job(b.id, thumbnail_path=str(thumb))
    store.jobs._update_job(a.id, thumbnail_path=str(outside))
    store.ratings.add_rating(b.id, 3)
    assert store.jobs.delete_job(b.id) and not thumb.exists()
    assert store.ratings.list_ratings(b.id) == []  # cascaded
    assert store.jobs.delete_job(a.id) and outside.exists()  # only our thumbnails folder is cleaned
    assert not store.jobs.delete_job(a.id)
    with pytest.raises(JobNotFoundError, match="no job"):
        store.jobs.get_job("nope")
    with pytest.raises(JobNotFoundError):
        store.jobs.start_job("nope")
    with pytest.raises(ValueError, match="model_used"):
        store.jobs.create_job("/a.jpg", "ansel", "auto", model_used="gpt")


def test_list_jobs_newest_first_and_filtered(store: Store):
    ids = [store.jobs.create_job(f"/{i}.jpg", "ansel" if i % 2 else "okeefe", "auto").id for i in range(6)]
    assert [j.id for j in store.jobs.list_jobs()] == ids[::-1]
    assert [j.id for j in store.jobs.list_jobs(limit=2)] == ids[:-3:-1]
    assert {j.advisor_id for j in store.jobs.list_jobs(advisor_id="okeefe")} == {"okeefe"}
    assert len(store.jobs.list_jobs(advisor_id="okeefe")) == 3


def test_crash_recovery_marks_dead_processes_jobs_failed(tmp_path: Path):
    path = tmp_path / "crash.db"
    with Store(path) as s:
        queued = s.jobs.create_job("/a.jpg", "ansel", "auto")
        running = s.jobs.create_job("/b.jpg", "ansel", "auto")
        s.jobs.start_job(running.id)
        mine = s.jobs.create_job("/c.jpg", "ansel", "auto")
        s.jobs.start_job(mine.id)
        done = s.jobs.create_job("/d.jpg", "ansel", "auto")
        s.jobs.complete_job(done.id, make_result(make_report()))
        # The first two belonged to a process that died (a crash); "mine" is this live process's.
        for job_id in (queued.id, running.id):
            s.jobs._update_job(job_id, worker_pid=DEAD_PID)
    with Store(path) as s:
        assert s.recovered == 2
        for job_id in (queued.id, running.id):
            row = s.jobs.get_job(job_id)
            assert row.status == "failed" and row.error == INTERRUPTED and row.completed_at
        assert s.jobs.get_job(mine.id).status == "running"  # another live user of the database: untouched
        assert s.jobs.get_job(done.id).status == "completed"
    with Store(path, recover=False) as s:
        assert s.recovered == 0


def test_crash_recovery_when_the_restarted_app_got_the_same_pid(tmp_path: Path):
    """In a container the app is often pid 1 on every start: the token tells the runs apart."""
    path = tmp_path / "pid1.db"
    with Store(path) as s:
        earlier = s.jobs.create_job("/a.jpg", "ansel", "auto")
        s.jobs.start_job(earlier.id)
        s.jobs._update_job(earlier.id, worker_token="token-of-the-run-that-crashed")  # same pid, earlier run
        current = s.jobs.create_job("/b.jpg", "ansel", "auto")
        s.jobs.start_job(current.id)
    with Store(path) as s:
        assert s.recovered == 1
        assert s.jobs.get_job(earlier.id).error == INTERRUPTED
        assert s.jobs.get_job(current.id).status == "running"


def test_ratings_and_validation(store: Store):
    job = store.jobs.create_job("/a.jpg", "ansel", "auto", adapter_version="v3")
    row = store.ratings.rate_job(job.id, 4, comment="nice")
    assert row.user_rating == 4
    [rating] = store.ratings.list_ratings(job.id)
    assert rating.winner == "rated" and rating.adapter_version == "v3" and rating.comment == "nice"
    store.ratings.rate_job(job.id, 2)
    assert store.jobs.get_job(job.id).user_rating == 2 and len(store.ratings.list_ratings(job.id)) == 2
    for bad in (0, 6, 3.5, True, "4"):
        with pytest.raises(ValueError, match="1 to 5"):
            store.ratings.add_rating(job.id, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="winner"):
        store.ratings.add_rating(job.id, 3, winner="gpt")
    with pytest.raises(ValueError, match="needs"):
        store.ratings.add_rating(job.id)
    with pytest.raises(JobNotFoundError):
        store.ratings.add_rating("nope", 3)


def test_stats_per_model_used(store: Store):
    def finished(model_used: str, score: float, seconds: float, rating: int | None = None) -> None:
        job = store.jobs.create_job("/a.jpg", "ansel", "auto")
        store.jobs.start_job(job.id)
        store.jobs.complete_job(job.id, make_result(make_report(score), model_used=model_used))
        stamp = "2026-01-01T10:00:00.000+00:00"
        end = f"2026-01-01T10:00:{seconds:06.3f}+00:00"
        store.jobs._update_job(job.id, started_at=stamp, completed_at=end)
        if rating:
            store.ratings.rate_job(job.id, rating)

    finished("base", 4, 2.0, 3)
    finished("base", 6, 4.0)
    finished("fine_tuned", 7, 1.0, 5)
    failed = store.jobs.create_job("/b.jpg", "ansel", "auto", model_used="base")
    store.jobs.fail_job(failed.id, "boom")
    by = {s.model_used: s for s in store.ratings.stats()}
    assert set(by) == {"base", "fine_tuned"}
    base = by["base"]
    assert base.count == 3 and base.completed == 2 and base.failed == 1
    assert base.mean_overall_score == pytest.approx((make_report(4).overall_score + make_report(6).overall_score) / 2,
                                                    abs=0.01)
    assert base.mean_duration_s == pytest.approx(3.0, abs=0.01)
    assert base.mean_user_rating == 3.0 and base.rated == 1
    assert by["fine_tuned"].mean_user_rating == 5.0 and by["fine_tuned"].mean_duration_s == pytest.approx(1.0, abs=0.01)
    assert store.ratings.stats(advisor_id="nobody") == []


def test_ab_win_rates_per_adapter_version(store: Store):
    def job(model_used: str, version: str | None) -> str:
        return store.jobs.create_job("/a.jpg", "ansel", "auto", model_used=model_used, adapter_version=version).id

    for winner in ("fine_tuned", "fine_tuned", "base", "tie"):
        store.ratings.add_rating(job("ab_test_fine_tuned", "v1"), winner=winner, other_job_id=job("ab_test_base", "v1"))
    store.ratings.add_rating(job("ab_test_fine_tuned", "v2"), winner="fine_tuned")
    store.ratings.add_rating(job("ab_test_base", "v2"), 2)
    store.ratings.add_rating(job("ab_test_base", "v2"), 4)
    store.ratings.add_rating(job("ab_test_fine_tuned", "v2"), 5)
    store.ratings.add_rating(job("base", None), 1)  # not part of an A/B test
    rates = {w.adapter_version: w for w in store.ratings.ab_win_rates()}
    assert set(rates) == {"v1", "v2"}
    v1 = rates["v1"]
    assert (v1.comparisons, v1.fine_tuned_wins, v1.base_wins, v1.ties) == (4, 2, 1, 1)
    assert v1.fine_tuned_win_rate == pytest.approx(0.625)
    v2 = rates["v2"]
    assert v2.comparisons == 1 and v2.fine_tuned_win_rate == 1.0
    assert (v2.rated_base, v2.mean_rating_base, v2.rated_fine_tuned, v2.mean_rating_fine_tuned) == (2, 3.0, 1, 5.0)
    assert v2.to_dict()["fine_tuned_win_rate"] == 1.0


def test_profiles_upsert_get_list_delete(store: Store):
    report = make_report(5)
    row = store.profiles.upsert_profile("ansel", "/ref/a.jpg", "hash-a", report)
    assert row.source == "model" and not row.edited and row.content_hash == "hash-a"
    assert row.scores == {d: report.dimensions[d].score for d in DIMENSIONS}
    assert row.to_report().to_dict() == report.to_dict()
    assert profile_vector(row) == [report.dimensions[d].score for d in DIMENSIONS]
    assert profile_vector(report) == profile_vector(row)
    edited = store.profiles.upsert_profile("ansel", "/ref/a.jpg", "hash-a", make_report(2).to_dict(), source="user",
                                  edited=True)
    assert edited.id == row.id and edited.created_at == row.created_at and edited.edited
    assert edited.source == "user" and edited.scores["composition"] == 2
    store.profiles.upsert_profile("ansel", Path("/ref/b.jpg"), "hash-b", report)
    store.profiles.upsert_profile("okeefe", "/ref/a.jpg", "hash-a", report)
    assert [p.image_path for p in store.profiles.list_profiles("ansel")] == ["/ref/a.jpg", "/ref/b.jpg"]
    assert store.profiles.count_profiles("ansel") == 2 and store.profiles.count_profiles("nobody") == 0
    assert store.profiles.get_profile("ansel", "/ref/missing.jpg") is None
    assert store.profiles.delete_profiles("ansel", ["/ref/a.jpg", "/ref/never.jpg"]) == 1
    assert store.profiles.delete_profiles("ansel", []) == 0
    assert [p.image_path for p in store.profiles.list_profiles("ansel")] == ["/ref/b.jpg"]
    assert store.profiles.get_profile("okeefe", "/ref/a.jpg") is not None
    with pytest.raises(ValueError, match="source"):
        store.profiles.upsert_profile("ansel", "/x.jpg", None, report, source="guess")


def test_profile_vector_fills_missing_scores():
    partial = {"composition": 9.0, "lighting": None}
    vec = profile_vector(partial)
    assert vec[0] == 9.0 and vec[1] == 5.0 and len(vec) == 8
    assert profile_vector(partial, missing=0.0)[1] == 0.0


def test_store_is_safe_across_threads(store: Store):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                job = store.jobs.create_job(f"/{n}/{i}.jpg", "ansel", "auto")
                store.jobs.start_job(job.id)
                store.jobs.complete_job(job.id, make_result(make_report(4)))
                store.jobs.list_jobs(limit=5)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.jobs.count_jobs() == 60


def test_two_stores_on_one_file(tmp_path: Path):
    """The GUI and the CLI (or the service) open the same database at once."""
    path = tmp_path / "shared.db"
    with Store(path) as a, Store(path) as b:
        job = a.jobs.create_job("/a.jpg", "ansel", "auto")
        a.jobs.start_job(job.id)
        assert b.jobs.get_job(job.id).status == "running"
        b.ratings.rate_job(job.id, 5)
        assert a.jobs.get_job(job.id).user_rating == 5


def test_closed_store_says_so(tmp_path: Path):
    s = Store(tmp_path / "c.db")
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.jobs.list_jobs()


def test_resolve_job_id_by_prefix(store: Store):
    a = store.jobs.create_job("/a.jpg", "ansel", "auto", job_id="abc-111")
    store.jobs.create_job("/b.jpg", "ansel", "auto", job_id="abc-222")
    store.jobs.create_job("/c.jpg", "ansel", "auto", job_id="x_y")
    assert store.jobs.resolve_job_id("abc-1") == a.id
    assert store.jobs.resolve_job_id("abc-111") == a.id
    assert store.jobs.resolve_job_id("x_") == "x_y"
    with pytest.raises(JobNotFoundError, match="ambiguous"):
        store.jobs.resolve_job_id("abc")
    for missing in ("zzz", "%", "_"):
        with pytest.raises(JobNotFoundError, match="no job"):
            store.jobs.resolve_job_id(missing)


def test_the_store_is_one_connection_handed_to_its_parts(store):
    """Composition, not a diamond of mixins: each domain is a part holding the store's one
    connection, no part inherits from another, and the Store itself keeps no domain methods."""
    from app.engine.store.conversations import Conversations
    from app.engine.store.jobs import Jobs
    from app.engine.store.profiles import Profiles
    from app.engine.store.ratings import Ratings
    from app.engine.store.reviews import Reviews
    from app.engine.store.sidecar_writes import SidecarWrites
    from app.engine.store.triage_scores import TriageScores

    parts = {"jobs": Jobs, "reviews": Reviews, "ratings": Ratings, "profiles": Profiles,
             "conversations": Conversations, "sidecar_writes": SidecarWrites, "triage_scores": TriageScores}
    for name, cls in parts.items():
        part = getattr(store, name)
        assert type(part) is cls and part._db is store.db, name
        assert cls.__mro__ == (cls, object), name
    assert Store.__mro__ == (Store, object)
    assert {n for n in dir(Store) if not n.startswith("_")} == {"close", "closed", "damage", "on_damage"}
    job = store.jobs.create_job("/a.jpg", "ansel", "auto")
    store.ratings.add_rating(job.id, 4)  # the ratings part reaches the job through the jobs part
    assert store.jobs.get_job(job.id).user_rating == 4
