"""The advisor panel and many photos at once, on the real tiny model: one batch on one encoding of
the photo, one ordinary job per advisor, reports identical to one critique at a time (greedy);
the text before the photo is computed once; the CLI's ``--advisor all`` / comma list and the
window's Panel view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from test_cli_critique import run_cli
from ui_support import LONG, tiny_settings

from app.engine.critique.panel import summarize_panel
from app.engine.critique.report import DIMENSIONS, Report
from app.engine.service import MondrianService
from app.engine.store.database import Store


def _photo(folder: Path, seed: int, name: str | None = None) -> Path:
    img = Image.new("RGB", (96, 64))
    img.putdata([((x * 3 + seed * 50) % 256, (y * 11 + seed * 70) % 256, (x + y * seed) % 256)
                 for y in range(64) for x in range(96)])
    path = folder / (name or f"photo{seed}.png")
    img.save(path)
    return path


@pytest.fixture
def service(tiny_model_dir, home):
    from app.engine import paths

    store = Store(paths.db_path())
    svc = MondrianService(tiny_settings(tiny_model_dir), store=store)
    yield svc
    svc.close()


def _cache_stats(svc: MondrianService) -> dict:
    return svc.host.call(lambda loaded: loaded.state["caches"].stats()).result(60)


def test_panel_is_one_batch_on_one_encoding_with_a_job_each_and_the_single_reports(service, tmp_path):
    photo = _photo(tmp_path, 1)
    advisors = list(service.advisors())
    assert len(advisors) >= 5
    service.host.load().result(120)
    before = _cache_stats(service) if "caches" in service.host.loaded.state else {"vision_misses": 0}
    streamed: dict[int, list[str]] = {}
    panel = service.critique_panel(photo, advisors, "baseline",
                                   on_token=lambda i, text: streamed.setdefault(i, []).append(text))
    after = _cache_stats(service)
    assert after["vision_misses"] - before["vision_misses"] == 1  # one encoding of the photo for the panel
    assert [r.advisor_id for r in panel] == advisors
    assert all(r.job_id for r in panel) and len({r.job_id for r in panel}) == len(advisors)
    assert all("".join(streamed[i]) == r.raw_text for i, r in enumerate(panel))
    # every advisor after the first starts from the shared role + format text
    assert all(r.stats.cached_prompt_tokens > 0 for r in panel[1:])
    jobs = {j.id: j for j in service.store.jobs.list_jobs(limit=50)}
    assert all(jobs[r.job_id].status == "completed" and jobs[r.job_id].advisor_id == r.advisor_id for r in panel)
    for advisor_id, result in zip(advisors, panel, strict=True):  # greedy: the batch changes nothing
        assert service.critique(photo, advisor_id, "baseline").raw_text == result.raw_text


def test_many_photos_compute_the_text_before_the_photo_once_and_match_one_at_a_time(service, tmp_path):
    photos = [_photo(tmp_path, seed) for seed in range(10, 16)]
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a photo")
    order = [*photos[:2], broken, *photos[2:]]
    seen: list[tuple[int, bool]] = []
    out = service.critique_many(order, "ansel", "baseline", batch_size=4,
                                on_result=lambda i, _p, r, e: seen.append((i, r is not None and e is None)))
    assert sorted(seen) == [(i, i != 2) for i in range(len(order))]
    results = [r for r in out if not isinstance(r, Exception)]
    assert len(results) == len(photos) and isinstance(out[[i for i, _ in seen].index(2)], Exception)
    later = results[1:]
    computed = sum(r.stats.prompt_tokens - r.stats.cached_prompt_tokens for r in later)
    assert computed / sum(r.stats.prompt_tokens for r in later) <= 0.6
    by_name = {Path(r.photo).name: r.raw_text for r in results}
    for photo in photos:
        assert service.critique(photo, "ansel", "baseline").raw_text == by_name[photo.name]


def test_panel_summary_agreements_disagreements_and_spread():
    def report(scores):
        return Report.from_dict({"dimensional_analysis": {k: {"score": s, "comment": "c", "recommendation": "r"}
                                                          for k, s in zip(DIMENSIONS, scores, strict=True)},
                                 "overall_grade": "B", "summary": "s"})

    summary = summarize_panel({"a": report([7, 5, 5, 5, 5, 5, 5, 9]), "b": report([7, 6, 5, 5, 5, 5, 5, 2]),
                               "c": None}, {"a": "Ann", "b": "Bob"})
    assert summary.advisors == ["a", "b"] and summary.spread["emotional_impact"] == 7
    assert summary.agreements.startswith("Agree on composition (~7), lighting (~5.5)")
    assert summary.disagreements == "Disagree on emotional impact (Ann 9 vs Bob 2)"
    assert summary.table()[0] == ["dimension", "Ann", "Bob", "spread"] and len(summary.table()) == 9


def test_cli_advisor_all_and_a_list(tiny_model_dir, tmp_path):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.json").write_text(json.dumps({"max_text_chars": 24, "version": 1}))
    photo = _photo(tmp_path, 3)
    proc = run_cli(["critique", str(photo), "--model", str(tiny_model_dir), "--json", "--advisor", "all",
                    "--mode", "baseline", "--max-tokens", "2000"], home)
    assert proc.returncode in (0, 1), proc.stderr
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    advisors = [r["advisor_id"] for r in line["results"]]
    assert len(advisors) >= 5 and line["photo"] == str(photo) and all(r["job_id"] for r in line["results"])
    assert set(line["panel"]["spread"]) <= set(DIMENSIONS) and line["panel"]["agreements"]
    proc = run_cli(["critique", str(photo), "--model", str(tiny_model_dir), "--advisor", "ansel,fan_ho",
                    "--mode", "baseline", "--max-tokens", "2000"], home)
    assert proc.returncode in (0, 1), proc.stderr
    assert f"Panel on {photo}" in proc.stdout and "spread" in proc.stdout
    assert ("Agree on" in proc.stdout or "No dimension where" in proc.stdout)
    assert ("Disagree on" in proc.stdout or "No dimension spread" in proc.stdout)
    history = run_cli(["history", "--json"], home)
    assert len([line for line in history.stdout.splitlines() if line.strip()]) >= 1
    bad = run_cli(["critique", str(photo), "--model", str(tiny_model_dir), "--advisor", "ansel,nobody"], home)
    assert bad.returncode == 2 and "nobody" in bad.stderr


def test_panel_view_in_the_window(qtbot, window, tmp_path):
    view = window.panel
    window.tabs.setCurrentWidget(view)
    names = list(view.checks)
    for advisor_id in names[3:]:
        view.checks[advisor_id].setChecked(False)
    with qtbot.waitSignal(view.panelFinished, timeout=LONG) as done:
        assert view.run_panel(_photo(tmp_path, 4)) is not None
    results = done.args[0]
    assert [r.advisor_id for r in results] == names[:3] and all(r.job_id for r in results)
    table = view.table_text()
    assert table[0][1:4] == [window.service.advisors()[a].name for a in names[:3]] and table[0][-1] == "spread"
    assert len(table) == 1 + len(DIMENSIONS)
    assert len(view.radar._series) == sum(r.report is not None for r in results)
    assert view.agreements.text() and view.disagreements.text() and view.reports.count() == 3
    qtbot.waitUntil(lambda: view.request is None, timeout=LONG)
    assert view.run_button.isEnabled()
