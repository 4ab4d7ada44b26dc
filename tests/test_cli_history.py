"""Critiques are recorded as jobs; ``history`` and ``stats`` read them back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from app.engine import paths
from app.engine.settings import Settings
from app.engine.store.database import Store


def test_service_records_each_critique(home: Path, tiny_model_dir: Path, tiny_image, tmp_path: Path):
    from app.engine.photos.decode import file_sha256
    from app.engine.service import MondrianService

    photo = tmp_path / "photo.jpg"
    tiny_image.save(photo)
    before = photo.read_bytes()
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000))
    try:
        result = service.critique(photo, "ansel", "auto")
        technical = service.critique(photo, "ansel", "technical")
        with pytest.raises(ValueError, match="unknown mode"):
            service.critique(photo, "ansel", "telepathy")
    finally:
        service.close()
    assert photo.read_bytes() == before  # the photo is only read
    assert result.ok and result.job_id
    with Store(paths.db_path()) as store:
        assert store.jobs.count_jobs() == 2  # bad input is an error, not a job
        job = store.jobs.get_job(result.job_id)
        assert job.status == "completed" and job.photo_path == str(photo.resolve())
        assert job.photo_hash == file_sha256(photo)
        assert job.model_used == "base" and job.base_model == str(tiny_model_dir)
        assert job.requested_mode == "auto" and job.effective_mode == "baseline"
        assert job.generation_tokens == result.stats.generation_tokens > 0
        assert job.report.to_dict() == result.report.to_dict()
        assert job.raw_output == result.raw_text
        assert job.overall_score == result.report.overall_score
        thumb = Path(job.thumbnail_path)
        assert thumb.parent == paths.thumbnails_dir() and thumb.stat().st_size > 0
        tech = store.jobs.get_job(technical.job_id)
        assert tech.model_used == "none" and tech.effective_mode == "technical" and tech.status == "completed"


def test_service_without_store_records_nothing(home: Path, tiny_image, tmp_path: Path):
    from app.engine.service import MondrianService

    photo = tmp_path / "photo.png"
    tiny_image.save(photo)
    service = MondrianService(Settings(model=str(tmp_path / "no-model")), store=None)
    try:
        result = service.critique(photo, "ansel", "technical")
    finally:
        service.close()
    assert result.ok and result.job_id is None
    assert not paths.db_path().exists()


def test_a_failing_critique_is_a_failed_job(home: Path, tiny_image, tmp_path: Path):
    from app.engine.service import MondrianService

    photo = tmp_path / "photo.png"
    tiny_image.save(photo)
    with Store(paths.db_path()) as store:
        service = MondrianService(Settings(model=str(tmp_path / "no-model")), store=store)

        def boom(*args, **kwargs):
            raise RuntimeError("the model thread died")

        service.runner._technical_result = boom  # type: ignore[method-assign]  # no model: the technical path runs
        with pytest.raises(RuntimeError):
            service.critique(photo, "ansel", "auto")
        [job] = store.jobs.list_jobs()
        assert job.status == "failed" and "the model thread died" in job.error and job.completed_at
        service.close()


def _seed(store: Store) -> list[str]:
    from tests.test_store import make_report, make_result

    ids = []
    for i, (model, advisor, score) in enumerate([("base", "ansel", 4), ("fine_tuned", "ansel", 7),
                                                 ("ab_test_base", "okeefe", 5)]):
        job = store.jobs.create_job(f"/photos/p{i}.jpg", advisor, "auto")
        store.jobs.start_job(job.id)
        store.jobs.complete_job(job.id, make_result(make_report(score), model_used=model,
                                               adapter="v1" if "fine" in model or "ab" in model else None))
        ids.append(job.id)
    store.ratings.rate_job(ids[1], 5)
    store.ratings.add_rating(ids[2], 2)
    return ids


def test_history_lists_newest_first(home: Path, capsys: pytest.CaptureFixture[str]):
    with Store(paths.db_path()) as store:
        ids = _seed(store)
    assert main(["history"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["when", "status", "advisor"]
    assert [ln.split()[-1] for ln in lines[2:]] == [i[:8] for i in ids[::-1]]
    assert "p1.jpg" in out and "fine_tuned" in out
    assert main(["history", "--advisor", "okeefe", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [ids[2]] and rows[0]["model_used"] == "ab_test_base"
    assert rows[0]["report"]["overall_grade"] == "D+"  # mean 5.88: derived from the scores
    assert main(["history", "--limit", "1", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [ids[2]]


def test_history_shows_one_job(home: Path, capsys: pytest.CaptureFixture[str]):
    with Store(paths.db_path()) as store:
        ids = _seed(store)
    assert main(["history", "--job", ids[1][:8]]) == 0
    out = capsys.readouterr().out
    assert ids[1] in out and "fine_tuned" in out and "adapter v1" in out and "rating     5/5" in out
    assert "composition" in out and "fallback" in out
    assert main(["history", "--job", "ffffffff-nope"]) == 1
    assert "no job" in capsys.readouterr().err


def test_history_and_stats_when_empty(home: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["history"]) == 0
    assert "No critiques yet" in capsys.readouterr().out
    assert main(["stats"]) == 0
    assert "No critiques yet" in capsys.readouterr().out


def test_stats_compares_models(home: Path, capsys: pytest.CaptureFixture[str]):
    with Store(paths.db_path()) as store:
        _seed(store)
        store.ratings.add_rating(store.jobs.list_jobs(model_used="fine_tuned")[0].id, winner="fine_tuned", adapter_version="v1")
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "model_used" in out and "mean score" in out and "mean rating" in out
    fine = next(ln for ln in out.splitlines() if ln.startswith("fine_tuned"))
    assert "5.00 (1)" in fine
    assert "Blind A/B" in out and "100%" in out
    assert main(["stats", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by = {m["model_used"]: m for m in data["models"]}
    assert set(by) == {"base", "fine_tuned", "ab_test_base"}
    assert by["ab_test_base"]["mean_user_rating"] == 2.0 and by["base"]["count"] == 1
    assert data["ab_tests"][0]["adapter_version"] == "v1"


def test_history_refuses_a_newer_database(home: Path, capsys: pytest.CaptureFixture[str]):
    import sqlite3

    conn = sqlite3.connect(paths.db_path())
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    assert main(["history"]) == 1
    assert "newer Mondrian" in capsys.readouterr().err
