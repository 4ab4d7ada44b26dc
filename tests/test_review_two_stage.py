"""Two-stage reviews (issue 21): triage every frame, then full critiques for what the policy selects.

Real tiny models of two families (Qwen3-VL and Gemma 3), a mixed JPEG/RAW folder, real SQLite, the
CLI in a subprocess, the HTTP API on loopback, sidecars read back with plain exiv2.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from review_support import BLURRED, BURST, CORRUPT, PAIR_JPEG, PAIR_RAW, RAW_PLAIN, make_shoot
from test_review_api import call
from test_review_cli import _review
from test_sidecars import _exiv2_read

from app.api.app import BackgroundServer, build_asgi
from app.engine.review.export import export_sidecars
from app.engine.review.folder_review import ReviewError, review_folder, review_payload, start_review
from app.engine.review.progress import Progress
from app.engine.review.selection import parse_policies, select_frames
from app.engine.review.stages import jump_frame
from app.engine.service import MondrianService
from app.engine.settings import Settings, check_setting
from app.engine.store.database import Store
from app.testing.tiny_model import build_tiny_model

NAMES = (PAIR_RAW, PAIR_JPEG, *BURST, BLURRED, RAW_PLAIN, CORRUPT)  # 7 frames, 8 files


@pytest.fixture(scope="module")
def shoot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    full = make_shoot(tmp_path_factory.mktemp("two-stage-full"))
    folder = tmp_path_factory.mktemp("two-stage") / "shoot"
    folder.mkdir()
    for name in NAMES:
        shutil.copyfile(full / name, folder / name)
    return folder


def _copy(shoot: Path, dest: Path) -> Path:
    shutil.copytree(shoot, dest)
    return dest


@pytest.fixture(scope="module")
def models(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {"qwen3_vl": tiny_model_dir,
            "gemma3": build_tiny_model(tmp_path_factory.mktemp("two-stage-models") / "gemma3", arch="gemma3")}


def _service(model: Path, store: Store, **settings) -> MondrianService:
    return MondrianService(Settings(model=str(model), max_text_chars=24, max_tokens=2000, **settings), store=store)


def _frames(store: Store, review_id: str) -> dict[str, dict]:
    return {f["name"]: f for f in review_payload(store, review_id)["summary"]["frames"]}


@pytest.mark.parametrize("family", ["qwen3_vl", "gemma3"])
def test_triage_then_the_best_critiqued_resume_and_sidecars(family: str, models, shoot: Path, tmp_path: Path) -> None:
    folder = _copy(shoot, tmp_path / "shoot")
    store = Store(tmp_path / "db.sqlite")
    service = _service(models[family], store)
    try:
        events: list[Progress] = []
        review = review_folder(service, store, folder, "ansel", "baseline", critique="top:2", on_progress=events.append)
        assert review.state == "completed" and review.total == 7 and review.done == 2 and review.failed == 1
        triaged = [e for e in events if e.status == "triaged"]
        assert len(triaged) == 6 and all(e.stage == "triage" for e in triaged)  # every readable frame scored
        critiqued = [e for e in events if e.status == "done"]
        assert [e.stage for e in critiqued] == ["critique", "critique"]
        frames = _frames(store, review.id)
        assert frames[CORRUPT]["status"] == "failed" and frames[CORRUPT]["stage"] is None
        full = [n for n, f in frames.items() if f["stage"] == "full"]
        shown = [n for n, f in frames.items() if f["stage"] == "triage"]
        assert len(full) == 2 and len(shown) == 4
        for name in (*full, *shown):  # every scored frame carries its triage, and a score that says which
            triage = frames[name]["triage"]
            assert triage["kind"] == "triage" and set(triage["scores"]) == set(frames[name]["scores"])
            assert frames[name]["overall"] is not None and frames[name]["thumbnail"]
        # the two critiqued are the best by expected triage score, a burst counting once (its best)
        expected = {n: frames[n]["triage"]["expected_overall"] for n in (*full, *shown)}
        payload = review_payload(store, review.id)
        bursts = payload["summary"]["bursts"]
        assert [Path(m).name for m in bursts[0]["members"]] == list(BURST)
        best = max(BURST, key=lambda n: (expected[n], -BURST.index(n)))
        ranked = sorted((n for n in expected if n not in set(BURST) - {best}), key=lambda n: -expected[n])
        assert set(full) == set(ranked[:2])
        assert payload["review"]["stages"]["critique"]["policy"] == "top:2"
        assert payload["review"]["stages"]["triage"]["scored"] == 6 and payload["review"]["progress"] == 1.0

        # sidecars write the score each frame has, and say which
        result = export_sidecars(build_summary(store, review.id), "darktable", store=store, review_id=review.id)
        assert not result.errors
        for name in (full[0], shown[0]):
            photo = folder / name
            sidecar = photo.with_name(photo.name + ".xmp")
            fields = _exiv2_read(sidecar)
            assert fields["Xmp.mondrian.ScoreStage"][1] == frames[name]["stage"]
            assert float(fields["Xmp.mondrian.Overall"][1]) == pytest.approx(frames[name]["overall"], abs=0.01)

        # resume: the same key again runs no model (no triage event, no new job)
        jobs = store.jobs.count_jobs()
        again: list[Progress] = []
        same = review_folder(service, store, folder, "ansel", "baseline", critique="top:2", on_progress=again.append)
        assert same.id == review.id and store.jobs.count_jobs() == jobs
        assert not [e for e in again if e.status in ("triaged", "done")]
        # a wider policy: only the one more frame is critiqued (top:3 counts the shoot, not this run)
        wider = review_folder(service, store, folder, "ansel", "baseline", critique="top:3")
        assert wider.done == 3 and store.jobs.count_jobs() == jobs + 1
        # triage only: nothing more is critiqued, every frame keeps its score
        only = review_folder(service, store, folder, "ansel", "baseline", critique="none")
        assert only.done == 3 and store.jobs.count_jobs() == jobs + 1 and only.state == "completed"
    finally:
        service.close()
        store.close()


def build_summary(store: Store, review_id: str):
    from app.engine.review.summary import build_summary as build

    return build(store, review_id)


def test_a_frame_the_user_opens_jumps_the_queue(tiny_model_dir: Path, shoot: Path, tmp_path: Path) -> None:
    folder = _copy(shoot, tmp_path / "shoot")
    store = Store(tmp_path / "db.sqlite")
    service = _service(tiny_model_dir, store, review_batch_size=1)
    try:
        review = start_review(service, store, folder, "ansel", "baseline", critique="all")
        order: list[str] = []
        jumped: list[str] = []

        def progress(p: Progress) -> None:
            if p.status == "done":
                order.append(Path(p.path or "").name)
                if len(order) == 1:  # the user opens the frame the policy would critique last
                    rows = {Path(f.path).name: f.path for f in store.reviews.list_frames(review.id)}
                    last = min((n for n in rows if n not in order and n != CORRUPT),
                               key=lambda n: _frames(store, review.id)[n]["overall"])
                    assert jump_frame(review.id, rows[last])
                    jumped.append(last)

        from app.engine.review.folder_review import run_review

        final = run_review(service, store, review.id, on_progress=progress)
        assert final.state == "completed" and final.done == 6 and jumped
        assert order[1] == jumped[0]  # the next critique is the opened frame
        assert not jump_frame(review.id, str(folder / BLURRED))  # no second stage running: nothing queued

        # opened while triage runs: its critique is the first once the second stage starts
        other = _copy(shoot, tmp_path / "other")  # another advisor: nothing reused from the run above
        review = start_review(service, store, other, "fan_ho", "baseline", critique="all")
        firsts: list[str] = []

        def early(p: Progress) -> None:
            if p.status == "triaged" and not firsts:
                firsts.append(str(other / RAW_PLAIN))
                assert jump_frame(review.id, firsts[0])
            if p.status == "done":
                firsts.append(p.path or "")

        run_review(service, store, review.id, on_progress=early)
        assert firsts[0] == firsts[1]
    finally:
        service.close()
        store.close()


def test_policies_parse_select_and_are_checked_everywhere(tiny_model_dir: Path, shoot: Path, tmp_path: Path) -> None:
    assert [str(p) for p in parse_policies("picks+top:20")] == ["picks", "top:20"]
    for bad in ("all+picks", "top:0", "best", "picks+"):
        with pytest.raises(ValueError):
            parse_policies(bad)
    frames = [f"f{i}" for i in range(150)]
    assert select_frames(parse_policies("auto"), frames[:3], {}) == frames[:3]  # a small shoot: all
    assert len(select_frames(parse_policies("auto"), frames, {}, picks={"f149"})) == 101  # picks + top 100
    assert check_setting("review_critique", "picks+top:20") == "picks+top:20"
    for bad in ("best", "top:0", "all+none"):
        with pytest.raises(ValueError, match="review_critique"):
            check_setting("review_critique", bad)
    with pytest.raises(ValueError, match="review_batch_size"):
        check_setting("review_batch_size", -1)
    store = Store(tmp_path / "db.sqlite")
    service = _service(tiny_model_dir, store)
    try:
        with pytest.raises(ReviewError, match="top:N needs a whole number"):
            start_review(service, store, shoot, "ansel", "baseline", critique="top:x")
        with pytest.raises(ReviewError, match="triage only needs a model"):
            start_review(service, store, shoot, "ansel", "technical", critique="none")
    finally:
        service.close()
        store.close()


def test_the_batch_size_follows_the_memory_estimate() -> None:
    from types import SimpleNamespace

    from app.engine.model.memory import batch_size_for, row_bytes

    config = SimpleNamespace(text_config=SimpleNamespace(hidden_size=2560, num_hidden_layers=36,
                                                         num_attention_heads=32, num_key_value_heads=8,
                                                         head_dim=128, vocab_size=151_936))
    per_row = row_bytes(config, 2000)
    assert per_row == 36 * 2 * 8 * 128 * 2 * 2000 + 151_936 * 4 * 4  # ~0.3 GB a critique row on a 4 B model
    assert batch_size_for(config, 2000, cap=4, budget=16 << 30) == 4
    assert batch_size_for(config, 2000, cap=4, budget=int(per_row * 2.5)) == 1  # half the budget: one row
    assert batch_size_for(config, 2000, cap=4, setting=3, budget=1) == 3  # the setting wins


def test_cli_triage_only_then_top_n(tiny_model_dir: Path, shoot: Path, tmp_path: Path) -> None:
    folder = _copy(shoot, tmp_path / "shoot")
    home = tmp_path / "home"
    first = _review([str(folder), "--triage-only", "--json", "--write-sidecars", "darktable"], home, tiny_model_dir)
    assert first.returncode == 1, first.stderr  # the corrupt frame is named; the rest triaged
    out = json.loads(first.stdout)
    frames = {f["name"]: f for f in out["summary"]["frames"]}
    assert out["review"]["done"] == 0 and out["review"]["settings"]["critique"] == "none"
    assert {f["stage"] for n, f in frames.items() if n != CORRUPT} == {"triage"}
    assert f"{CORRUPT}:" in first.stderr and "triage" in first.stderr  # the bar names its stage
    sidecar = folder / (PAIR_RAW + ".xmp")
    assert _exiv2_read(sidecar)["Xmp.mondrian.ScoreStage"][1] == "triage"
    second = _review([str(folder), "--critique", "top:1"], home, tiny_model_dir)
    assert second.returncode == 1, second.stderr
    # the scores stored by the first run are read back, not counted as this run's
    assert ("completed, this run: 1 critiqued, 1 failed (of 7 frames); 5 scored by triage only "
            "(critique policy top:1)") in second.stdout
    assert "(triage)" in second.stdout  # the best/weakest lines say which score they show
    bad = _review([str(folder), "--critique", "best"], home, tiny_model_dir)
    assert bad.returncode == 2 and "critique policy 'best' is not one of" in bad.stderr
    both = _review([str(folder), "--critique", "all", "--triage-only"], home, tiny_model_dir)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_http_triage_only_and_critique(tiny_model_dir: Path, shoot: Path, tmp_path: Path) -> None:
    import time

    folder = _copy(shoot, tmp_path / "shoot")
    store = Store(tmp_path / "api.sqlite")
    service = _service(tiny_model_dir, store)
    server = BackgroundServer(build_asgi(service)).start()
    base = server.url

    def finish(url: str) -> dict:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status, state = call("GET", base + url)
            assert status == 200
            if not state["running"] and state["review"]["state"] not in ("running", "scanning", "queued"):
                return state
            time.sleep(0.2)
        raise AssertionError("review did not finish")

    try:
        for body, why in (({"triage_only": "yes"}, "triage_only must be true or false"),
                          ({"critique": "top:0"}, "top:N needs a whole number"),
                          ({"critique": 5}, "critique must be a policy"),
                          ({"critique": "all", "triage_only": True}, "not both")):
            status, answer = call("POST", f"{base}/reviews", {"folder": str(folder), "advisor": "ansel", **body})
            assert status == 400 and why in answer["error"], answer
        status, body = call("POST", f"{base}/reviews", {"folder": str(folder), "advisor": "ansel", "mode": "baseline",
                                                        "triage_only": True})
        assert status == 202
        state = finish(body["url"])
        frames = {f["name"]: f for f in state["summary"]["frames"]}
        assert state["review"]["state"] == "completed" and state["review"]["done"] == 0
        assert state["review"]["progress"] == 1.0 and state["review"]["stages"]["triage"]["scored"] == 6
        assert frames[PAIR_RAW]["stage"] == "triage" and len(frames[PAIR_RAW]["triage"]["scores"]) == 8
        assert frames[PAIR_RAW]["triage"]["expected_overall"] == frames[PAIR_RAW]["overall"]
        status, body = call("POST", f"{base}/reviews", {"folder": str(folder), "advisor": "ansel", "mode": "baseline",
                                                        "critique": "top:1"})
        state = finish(body["url"])
        stages = [f["stage"] for f in state["summary"]["frames"] if f["name"] != CORRUPT]
        assert stages.count("full") == 1 and stages.count("triage") == 5
        review_id = state["review"]["id"]
        jobs_before = state["review"]["done"]
        opened = next(f["name"] for f in state["summary"]["frames"] if f["stage"] == "triage")
        status, answer = call("POST", f"{base}/reviews/{review_id}/jump", {"path": str(folder / opened)})
        assert status == 202 and answer == {"queued": True, "alone": True}  # finished: that frame, now, alone
        state = finish(body["url"])
        frames = {f["name"]: f for f in state["summary"]["frames"]}
        assert frames[opened]["stage"] == "full" and frames[opened]["status"] == "done"
        assert state["review"]["state"] == "completed" and state["review"]["done"] == jobs_before + 1
        linked = store.db.query("SELECT review_id FROM jobs WHERE id = ?", (frames[opened]["job_id"],))
        assert [r["review_id"] for r in linked] == [review_id]  # recorded as the review's critique
        status, answer = call("POST", f"{base}/reviews/{review_id}/jump", {"path": str(folder / opened)})
        assert status == 200 and answer == {"queued": False, "status": "done"}  # critiqued already: left as is
        status, answer = call("POST", f"{base}/reviews/{review_id}/jump", {"path": "/nowhere.jpg"})
        assert status == 404 and "no frame" in answer["error"]
        status, answer = call("POST", f"{base}/reviews/{review_id}/jump", {"frame": "x"})
        assert status == 400
    finally:
        server.stop()
        service.close()
        store.close()


def test_window_grid_shows_triage_until_the_full_critique(qtbot, window, shoot: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from ui_support import LONG

    folder = _copy(shoot, tmp_path / "shoot")
    view = window.review
    window.tabs.setCurrentWidget(view)
    view.set_mode("baseline")
    view.set_critique("none")
    assert view.critique.currentText() == "Triage only"
    with qtbot.waitSignal(view.reviewFinished, timeout=LONG) as finished:
        view.review(folder)
    assert finished.args[0].done == 0 and "6 show triage scores (≈) only" in view.status.text()
    frames = view.grid.frames
    raw = str(folder / PAIR_RAW)
    assert frames[raw].stage == "triage" and "≈ triage" in view.grid._items[raw].text()
    with qtbot.waitSignal(view.jobRequested, timeout=LONG) as opened:  # the review is over: critiqued alone
        view.open_frame(raw)
        assert view.status.text().endswith("writing its full critique…")
    assert opened.args[0].id == view.grid.frames[raw].job_id and view.grid.frames[raw].stage == "full"
    assert "≈" not in view.grid._items[raw].text() and "full critique written" in view.status.text()
    assert window.store.reviews.get_frame(view.review_id, raw).status == "done"
    qtbot.waitUntil(lambda: view.request is None or not view.request.live, timeout=LONG)
    window.tabs.setCurrentWidget(view)

    # again with every frame critiqued, one at a time: opening a frame while they run puts it next.
    # The first critique waits for the test to open the frame (the window's progress arrives queued,
    # so without the gate the whole run could finish first on a loaded machine).
    import threading

    from app.engine.review import stages

    real, reached, release = stages.critique_many, threading.Event(), threading.Event()

    def gated(*args, **kwargs):
        reached.set()
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(stages, "critique_many", gated)
    view.service.settings.review_batch_size = 1
    view.set_critique("all")
    with qtbot.waitSignal(view.reviewFinished, timeout=LONG) as finished:
        view.review(folder)
        qtbot.waitUntil(reached.is_set, timeout=LONG)
        view.open_frame(str(folder / BLURRED))
        said = view.status.text()
        release.set()
    assert finished.args[0].done == 6 and said == f"{BLURRED}: its full critique runs next."
    assert {f.stage for f in view.grid.frames.values() if f.status != "failed"} == {"full"}
    assert all("≈" not in view.grid._items[p].text() for p in view.grid.frames)


def test_memory_stays_flat_over_a_triage(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A generous bound (bench/review.py measures 200 frames against 5 MB per 100): holding each
    frame's prepared photo (3 MB at 1024 px) or its thumbnail would grow the RSS by ~75 MB here."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(40):
        arr = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).resize((1024, 768)).save(folder / f"f{i:02d}.jpg", quality=85)
    store = Store(tmp_path / "db.sqlite")
    service = _service(tiny_model_dir, store, review_batch_size=4)
    rss: list[float] = []

    def sample(p: Progress) -> None:
        if p.status == "triaged":
            with open("/proc/self/statm") as fh:
                rss.append(int(fh.read().split()[1]) * 4096 / 2**20)

    try:
        review = review_folder(service, store, folder, "ansel", "baseline", critique="none", on_progress=sample)
    finally:
        service.close()
        store.close()
    assert review.state == "completed" and len(rss) == 40
    assert max(rss[15:]) - max(rss[:15]) < 25, rss


def test_prefetch_prepares_ahead_and_hands_back_each_frames_error() -> None:
    import time

    from app.engine.review.prefetch import Prefetch, prepare_workers

    started: list[str] = []

    def prepare(path: Path) -> str:
        started.append(path.name)
        if path.name == "bad.jpg":
            raise OSError(f"{path}: unreadable")
        time.sleep(0.2)
        return path.name.upper()

    with Prefetch(prepare, workers=1) as prefetch:
        prefetch.ahead([Path("a.jpg"), Path("bad.jpg"), Path("b.jpg")])
        time.sleep(0.6)  # "the model works": the three are prepared meanwhile
        t0 = time.perf_counter()
        assert prefetch.take(Path("a.jpg")) == "A.JPG"
        with pytest.raises(OSError, match="bad.jpg: unreadable"):
            prefetch.take(Path("bad.jpg"))
        assert prefetch.take(Path("b.jpg")) == "B.JPG" and time.perf_counter() - t0 < 0.1
        assert prefetch.take(Path("c.jpg")) == "C.JPG"  # never asked ahead: prepared on the spot
    assert started == ["a.jpg", "bad.jpg", "b.jpg", "c.jpg"]
    assert [prepare_workers(n) for n in (1, 2, 8, 12, 64)] == [1, 1, 2, 3, 3]


def test_cancel_in_either_stage_keeps_what_is_done_and_a_rerun_continues(tiny_model_dir: Path, shoot: Path,
                                                                        tmp_path: Path) -> None:
    from app.engine.model.cancel import CancelScope
    from app.engine.review.folder_review import run_review

    folder = _copy(shoot, tmp_path / "shoot")
    store = Store(tmp_path / "db.sqlite")
    service = _service(tiny_model_dir, store, review_batch_size=2)
    try:
        scored: list[str | None] = []
        for stop_at in ("triaged", "done"):  # the first stage, then the second
            review = start_review(service, store, folder, "ansel", "baseline", critique="all")
            scope = CancelScope()
            seen: list[Progress] = []

            def progress(p: Progress, stop_at: str = stop_at, scope: CancelScope = scope,
                         seen: list[Progress] = seen) -> None:
                seen.append(p)
                if p.status == stop_at:
                    scope.cancel()

            cancelled = run_review(service, store, review.id, on_progress=progress, scope=scope)
            assert cancelled.state == "cancelled", stop_at
            scored += [e.path for e in seen if e.status == "triaged"]
            assert 0 < len(scored) < 6 if stop_at == "triaged" else sorted(set(scored)) == sorted(scored)
        assert len(scored) == 6  # the second run scored only the frames the first had not
        again: list[Progress] = []
        review = start_review(service, store, folder, "ansel", "baseline", critique="all")
        final = run_review(service, store, review.id, on_progress=again.append)
        assert final.state == "completed" and final.done == 6
        rescored = {e.path for e in again if e.status == "triaged"}
        assert not rescored  # every frame's triage was kept from the cancelled runs
        assert len([e for e in again if e.status == "done"]) < 6  # the critiques done before stay done
    finally:
        service.close()
        store.close()
