"""``POST /reviews`` and ``GET /reviews/{id}`` over the real server on loopback, on the tiny model."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from api_support import json_call as call
from review_support import BURST, CORRUPT, PAIR_JPEG, PAIR_RAW, make_shoot

from app.api.app import BackgroundServer, build_asgi, create_app
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store


@pytest.fixture(scope="module")
def api(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("review-api")
    store = Store(home / "api.db")
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000), store=store)
    app = build_asgi(service)
    server = BackgroundServer(app).start()
    shoot = make_shoot(home / "full")
    small = home / "small"  # a RAW+JPEG pair, a burst of three and a corrupt file: five frames
    small.mkdir()
    for name in (PAIR_RAW, PAIR_JPEG, *BURST, CORRUPT):
        shutil.copyfile(shoot / name, small / name)
    yield server.url, service, store, small
    server.stop()
    service.close()
    store.close()


def test_post_a_folder_and_follow_its_progress(api) -> None:
    base, _service, store, folder = api
    status, body = call("POST", f"{base}/reviews", {"folder": str(folder), "advisor": "ansel", "mode": "baseline"})
    # 202 at once: the folder is read on the review's thread (state "scanning"), not in the request
    assert status == 202 and body["review"]["state"] == "scanning" and body["url"] == f"/reviews/{body['review']['id']}"
    url = base + body["url"]
    deadline = time.monotonic() + 300
    seen = []
    while time.monotonic() < deadline:
        status, state = call("GET", url)
        assert status == 200
        seen.append(state["review"]["finished"])
        assert state["review"]["state"] in ("scanning", "running", "completed"), state["review"]
        if not state["running"] and state["review"]["state"] not in ("running", "scanning"):
            break
        time.sleep(0.2)
    review = state["review"]
    assert review["state"] == "completed" and review["done"] == 4 and review["failed"] == 1
    assert review["total"] == 5 and review["progress"] == 1.0 and seen == sorted(seen)
    frames = {f["name"]: f for f in state["summary"]["frames"]}
    assert set(frames) == {PAIR_RAW, *BURST, CORRUPT} and frames[PAIR_RAW]["companions"]
    assert "corrupt" in frames[CORRUPT]["error"]
    job_id = frames[PAIR_RAW]["job_id"]
    status, job = call("GET", f"{base}/jobs/{job_id}")
    assert status == 200 and job["review_id"] == review["id"]
    assert state["summary"]["bursts"][0]["best"] in [str(folder / n) for n in BURST]
    status, listing = call("GET", f"{base}/reviews")
    assert status == 200 and listing["reviews"][0]["id"] == review["id"]
    # posting it again: the same review, nothing new for the model
    jobs = store.jobs.count_jobs()
    status, again = call("POST", f"{base}/reviews", {"folder": str(folder), "advisor": "ansel", "mode": "baseline"})
    assert status == 202 and again["review"]["id"] == review["id"]
    while call("GET", url)[1]["running"]:
        time.sleep(0.1)
    assert store.jobs.count_jobs() == jobs


def test_bad_requests_are_named(api, tmp_path: Path) -> None:
    base = api[0]
    cases = [
        ({"folder": str(tmp_path / "nope")}, 404, "folder not found"),
        ({"folder": str(tmp_path), "mode": "sideways"}, 400, "unknown mode"),
        ({"folder": str(tmp_path), "advisor": "nobody"}, 400, "nobody"),
        ({"folder": ""}, 400, "folder"),
        ({"folder": str(tmp_path), "colour": "red"}, 400, "unknown field(s): colour"),
        ({"folder": str(tmp_path), "recursive": "yes"}, 400, "recursive"),
    ]
    for payload, code, text in cases:
        status, body = call("POST", f"{base}/reviews", payload)
        assert status == code and text in body["error"], (payload, body)
    status, body = call("POST", f"{base}/reviews", raw=b"{not json")
    assert status == 400 and "JSON" in body["error"]
    status, body = call("GET", f"{base}/reviews/nope")
    assert status == 404 and "nope" in body["error"]


def test_only_loopback_clients_may_name_a_folder(api, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    service = api[1]
    with TestClient(create_app(service), client=("192.0.2.7", 50000)) as client:
        response = client.post("/reviews", json={"folder": str(tmp_path)})
    assert response.status_code == 403 and "loopback" in response.json()["error"]


def test_closing_the_service_cancels_a_running_review(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`serve` stopping (the service closing) cancels a review started over HTTP: it ends as
    'cancelled' (resumable), not 'running' forever, and closing waits for it."""
    store = Store(tmp_path / "api.db")
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000), store=store)
    server = BackgroundServer(build_asgi(service)).start()
    shoot = make_shoot(tmp_path / "shoot")
    try:
        status, body = call("POST", f"{server.url}/reviews", {"folder": str(shoot), "advisor": "ansel",
                                                               "mode": "baseline"})
        assert status == 202, body
        review_id = body["review"]["id"] if "review" in body else body["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and store.reviews.get_review(review_id).done < 1:
            time.sleep(0.1)
    finally:
        server.stop()
        service.close()
    review = store.reviews.get_review(review_id)
    store.close()
    assert review.state == "cancelled" and review.done < review.total
