"""Culling without the window: ``mondrian cull`` and ``/reviews/{id}/cull`` go through the same
journal as the window's keys (one undo history), name frames as a user would, refuse what is wrong
by name, and are what ``train learn`` reads as the user's decisions."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from api_support import json_call as _call
from cli_support import mondrian

from app.engine.review.culling import CullError, CullJournal, cull, cull_state, frames_named, undo_cull


@pytest.fixture
def review(home: Path, tmp_path: Path) -> tuple[str, Path]:
    from app.engine.store.database import open_default_store
    from app.engine.store.reviews import FrameRow

    folder = tmp_path / "shoot"
    names = ["IMG_1.jpg", "IMG_2.jpg", "a/IMG_3.jpg", "b/IMG_3.jpg", os.fsdecode(b"caf\xe9.jpg")]
    with open_default_store() as store:
        row = store.reviews.open_review(str(folder), "ansel", "baseline", "k", recursive=True, settings={})
        store.reviews.set_frames(row.id, [FrameRow(row.id, str(folder / n), position=i) for i, n in enumerate(names)])
    return row.id, folder


def test_the_engine_names_frames_as_a_user_would_and_refuses_by_name(review: tuple[str, Path]) -> None:
    from app.engine.store.database import open_default_store

    review_id, folder = review
    with open_default_store() as store:
        assert frames_named(store, review_id, ["IMG_1.jpg", "a/IMG_3.jpg", str(folder / "IMG_2.jpg")]) == [
            str(folder / "IMG_1.jpg"), str(folder / "a/IMG_3.jpg"), str(folder / "IMG_2.jpg")]
        with pytest.raises(CullError, match="IMG_3.jpg: 2 frames of review .* give its path"):
            frames_named(store, review_id, ["IMG_3.jpg"])
        with pytest.raises(CullError, match="IMG_9.jpg: not a frame of review"):
            frames_named(store, review_id, ["IMG_9.jpg"])
        for bad, message in ((dict(flag="keep"), "flag: one of pick, reject, none"),
                             (dict(stars=6), "stars: a whole number from 0 to 5"),
                             (dict(label="Purple"), "label: one of Red"), ({}, "nothing to set")):
            with pytest.raises(CullError, match=message):
                cull(store, review_id, ["IMG_1.jpg"], **bad)
        steps = cull(store, review_id, ["IMG_1.jpg", "IMG_2.jpg"], flag="pick", stars=4, label="Green")
        assert [s.description for s in steps] == ["Pick on 2 frames", "4 stars on 2 frames", "Green label on 2 frames"]
        assert cull(store, review_id, ["IMG_1.jpg"], label="Green") == []  # already set: no toggle off
        journal = CullJournal(store, review_id)  # the window's own journal sees the same history
        assert [s.description for s in journal.undo_stack] == [s.description for s in steps]
        assert undo_cull(store, review_id).description == "Green label on 2 frames"
        state = {Path(f["path"]).name: f for f in cull_state(store, review_id)}
        assert state["IMG_1.jpg"] == {"path": str(folder / "IMG_1.jpg"), "flag": "pick", "stars": 4, "label": None}


def test_the_cli_culls_lists_and_undoes(review: tuple[str, Path], home: Path) -> None:
    review_id, folder = review
    done = mondrian(["cull", review_id, "IMG_1.jpg", "a/IMG_3.jpg", "--reject", "--stars", "1"], home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Reject on 2 frames", "1 star on 2 frames"]
    listed = mondrian(["cull", review_id, "--json"], home)
    frames = {Path(f["path"]).name if "b/" not in f["path"] else "b/IMG_3.jpg": f
              for f in json.loads(listed.stdout)["frames"]}
    assert frames["IMG_1.jpg"]["flag"] == "reject" and frames["b/IMG_3.jpg"]["flag"] == "none"
    assert any(f.get("path_b64") for f in json.loads(listed.stdout)["frames"])  # caf\xe9.jpg, exact bytes
    assert "caf\\xe9.jpg" in mondrian(["cull", review_id], home).stdout  # the listing shows it readable
    undo = mondrian(["cull", review_id, "--undo"], home)
    assert undo.returncode == 0 and undo.stdout.strip() == "undid: 1 star on 2 frames"
    for args, message in ((["IMG_3.jpg", "--pick"], "IMG_3.jpg: 2 frames of review"),
                          (["IMG_1.jpg"], "say what to set"), (["IMG_1.jpg", "--pick", "--undo"], "run alone")):
        bad = mondrian(["cull", review_id, *args], home)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
    missing = mondrian(["cull", "nope", "--json"], home)
    assert missing.returncode == 2 and "no review 'nope'" in missing.stderr


def test_the_api_culls_over_a_real_loopback_server(review: tuple[str, Path], home: Path, tmp_path: Path) -> None:
    from app.api.app import BackgroundServer, build_asgi
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.store.database import open_default_store
    from training.culls import review_decisions

    review_id, folder = review
    store = open_default_store()
    service = MondrianService(Settings(), store=store)
    server = BackgroundServer(build_asgi(service)).start()
    try:
        url = f"{server.url}/reviews/{review_id}/cull"
        status, body = _call("POST", url, {"files": ["IMG_2.jpg"], "files_b64": [base64.b64encode(b"caf\xe9.jpg")
                                                                                  .decode()],
                                           "flag": "pick", "stars": 5})
        assert status == 200, body
        assert [s["description"] for s in body["steps"]] == ["Pick on 2 frames", "5 stars on 2 frames"]
        status, body = _call("GET", url)
        picked = [f for f in body["frames"] if f["flag"] == "pick"]
        assert status == 200 and len(picked) == 2 and any(f.get("path_b64") for f in picked)
        for payload, code, message in (({"files": ["IMG_9.jpg"], "flag": "pick"}, 404, "not a frame"),
                                       ({"files": ["IMG_2.jpg"], "stars": 9}, 400, "stars: a whole number"),
                                       ({"files": ["IMG_2.jpg"], "flag": "pick", "undo": True}, 400, "comes alone"),
                                       ({"flag": "pick"}, 400, "name the frames"), ({"frames": []}, 400, "unknown"),
                                       ({"files_b64": ["%%%"], "flag": "pick"}, 400, "files_b64[0]: not base64")):
            status, body = _call("POST", url, payload)
            assert status == code and message in body["error"], (payload, body)
        assert _call("POST", f"{server.url}/reviews/nope/cull", {"undo": True})[0] == 404
        status, body = _call("POST", url, {"undo": True})
        assert status == 200 and body["steps"][0]["description"] == "5 stars on 2 frames"
        decided = [d for d in review_decisions(store, review_id, read_files=False) if d.decided]
        assert sorted(Path(d.path).name for d in decided) == sorted(["IMG_2.jpg", os.fsdecode(b"caf\xe9.jpg")])
        assert all(d.flag == "pick" and d.stars is None and d.source == "window" for d in decided)
    finally:
        server.stop()
        service.close()
        store.close()
