"""``POST /jobs/{id}/messages`` (server-sent events and plain JSON) and ``POST /jobs/{id}/crop`` on the
real server over loopback, with the tiny model; bad input is a 4xx naming the field."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from api_support import request
from PIL import Image

from app.api.app import BackgroundServer, build_asgi
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def api(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("ask-api")
    store = Store(home / "api.db")
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000), store=store)
    photo = home / "pier.jpg"
    img = Image.new("RGB", (140, 100))
    img.putdata([((x * 5) % 256, (y * 3) % 256, 60) for y in range(100) for x in range(140)])
    img.save(photo)
    job = service.critique(photo, "ansel", "baseline").job_id
    server = BackgroundServer(build_asgi(service)).start()
    yield server.url, job, store, photo
    server.stop()
    service.close()
    store.close()


def _post(base: str, path: str, payload: object, headers: dict[str, str] | None = None):
    return request(base, "POST", path, json.dumps(payload).encode(), {**JSON, **(headers or {})})


def _events(raw: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields["event"], json.loads(fields["data"])))
    return out


def test_an_answer_streams_as_server_sent_events_and_is_stored(api):
    base, job, store, _ = api
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    body = json.dumps({"question": "Why this grade?", "max_tokens": 8}).encode()
    conn.request("POST", f"/jobs/{job}/messages", body, {**JSON, "Accept": "text/event-stream"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("content-type").startswith("text/event-stream")
    events = _events(resp.read())
    conn.close()
    kinds = [e for e, _ in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) <= {"token"}
    done = events[-1][1]
    assert "".join(d["text"] for e, d in events if e == "token") == done["answer"]
    assert done["turn"]["status"] == "done" and done["stats"]["cached_prompt_tokens"] > 0
    status, _, listed = request(base, "GET", f"/jobs/{job}/messages")
    assert status == 200 and listed["messages"][-1]["question"] == "Why this grade?"


def test_the_plain_json_form_and_the_crop(api):
    base, job, store, photo = api
    status, _, body = _post(base, f"/jobs/{job}/messages", {"question": "And the colour?", "max_tokens": 4})
    assert status == 200 and body["turn"]["question"] == "And the colour?"
    status, _, body = _post(base, f"/jobs/{job}/crop", {"aspect": "1:1", "export": True})
    assert status == 200, body
    box = body["crop"]["box"]
    assert box["x1"] - box["x0"] == box["y1"] - box["y0"]
    exported = Path(body["exported"])
    assert exported.parent == photo.parent and exported.is_file() and exported != photo


@pytest.mark.parametrize(("payload", "status", "message"), [
    ({"question": ""}, 400, "the question is empty"),
    ({"question": "x" * 2001}, 400, "at most 2000"),
    ({"question": 5}, 400, "must be text"),
    ({"question": "why", "max_tokens": 0}, 400, "max_tokens must be an integer"),
    ({"question": "why", "tone": "kind"}, 400, "unknown field(s): tone"),
    (["why"], 400, "must be a JSON object"),
])
def test_bad_questions_are_refused_by_field(api, payload, status, message):
    base, job, store, _ = api
    before = len(store.conversations.list_turns(job))
    got, _, body = _post(base, f"/jobs/{job}/messages", payload)
    assert got == status and message in body["error"]
    assert len(store.conversations.list_turns(job)) == before  # nothing stored for a refused question


def test_unknown_job_non_json_and_a_bad_aspect(api):
    base, job, _, _ = api
    status, _, body = _post(base, "/jobs/nope/messages", {"question": "why?"})
    assert status == 404 and "no job 'nope'" in body["error"]
    status, _, body = request(base, "POST", f"/jobs/{job}/messages", b"question=why", {"Content-Type": "text/plain"})
    assert status == 415 and "application/json" in body["error"]
    status, _, body = _post(base, f"/jobs/{job}/crop", {"aspect": "2:1"})
    assert status == 400 and "not one of: 3:2, 4:5, 1:1, 16:9" in body["error"]


def test_answers_share_the_generation_bound_and_a_refused_one_stores_nothing(tiny_model_dir, tmp_path):
    """/jobs/{id}/messages takes a slot of the same admission as /analyze: with every slot taken it
    is a clean 503 with Retry-After, and the refused question is not stored as a turn."""
    from app.api.app import create_app

    store = Store(tmp_path / "api.db")
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000), store=store)
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (90, 60), (120, 80, 40)).save(photo)
    job = service.critique(photo, "ansel", "baseline").job_id
    app = create_app(service, max_queue=1)
    server = BackgroundServer(app).start()
    try:
        before = len(request(server.url, "GET", f"/jobs/{job}/messages")[2]["messages"])
        with app.state.admission.admit():  # the one slot: a critique in progress
            for stream in (False, True):
                status, headers, body = _post(server.url, f"/jobs/{job}/messages",
                                              {"question": "Busy?", "max_tokens": 4, "stream": stream})
                assert status == 503 and "busy" in body["error"], body
                assert {k.lower(): v for k, v in headers.items()}.get("retry-after") == "5"
        listed = request(server.url, "GET", f"/jobs/{job}/messages")[2]["messages"]
        assert len(listed) == before  # nothing stored for the refused questions
        status, _, body = _post(server.url, f"/jobs/{job}/messages", {"question": "Now?", "max_tokens": 4})
        assert status == 200 and app.state.admission.pending == 0  # the slot came back
    finally:
        server.stop()
        service.close()
        store.close()


def test_a_plain_answer_stops_when_the_client_hangs_up(api):
    """The non-streamed form is cancelled when its client goes away, not run to the token limit."""
    import socket
    import time

    base, job, store, _ = api
    parts = urlsplit(base)
    body = json.dumps({"question": "Tell me everything.", "max_tokens": 4096}).encode()
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall(f"POST /jobs/{job}/messages HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    time.sleep(1.0)
    sock.close()
    deadline = time.monotonic() + 120
    turn = None
    while time.monotonic() < deadline:
        turns = [t for t in request(base, "GET", f"/jobs/{job}/messages")[2]["messages"]
                 if t["question"] == "Tell me everything."]
        turn = turns[-1] if turns else None
        if turn is not None and turn["status"] != "running":
            break
        time.sleep(0.2)
    assert turn is not None and turn["status"] == "cancelled", turn


@pytest.mark.parametrize(("route", "field"), [("messages", "question"), ("crop", "aspect")])
def test_json_bodies_refuse_lone_surrogates_and_wrong_types(api, route, field):
    base, job, _, _ = api
    status, _, body = request(base, "POST", f"/jobs/{job}/{route}", b'{"%s": "\\ud800"}' % field.encode(), JSON)
    assert status == 400 and "lone surrogate" in body["error"] and field in body["error"], body
    status, _, body = request(base, "POST", f"/jobs/{job}/{route}", b"{}", {"Content-Type": "text/plain"})
    assert status == 415, body
