"""Resource bounds and clean errors over the real server on loopback: nested and oversize JSON,
long comments, a full disk (SQLite's own SQLITE_FULL, and ENOSPC from a write), malformed HTTP
framing, slowloris connections, uploads in flight, memory under six large uploads, the
generation cancelled when the client hangs up, and upload thumbnails kept only as long as set."""

from __future__ import annotations

import errno
import io
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_support import (
    analyze_request,
    connect,
    jpeg_bytes,
    multipart,
    parse_response,
    read_until_closed,
    request,
)
from PIL import Image

from app.api.app import BackgroundServer, build_asgi
from app.api.retention import prune_upload_thumbnails
from app.api.server import ConnectionRules
from app.engine.model.host import CancelledError
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store

ROOT = Path(__file__).resolve().parents[1]
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory):
    """Measurement-only service; requests must arrive within 1.5 s; two uploads in flight at most."""
    home = tmp_path_factory.mktemp("limits-home")
    store = Store(home / "api.db")
    service = MondrianService(Settings(model=str(home / "no-model"), max_upload_mb=2), store=store)
    server = BackgroundServer(build_asgi(service, max_uploads=2),
                              rules=ConnectionRules(request_timeout_s=1.5)).start()
    yield server.url, store
    server.stop()
    service.close()
    store.close()


def new_job(store: Store) -> str:
    return store.jobs.create_job("upload:x.jpg", "ansel", "auto").id


def test_deeply_nested_json_is_a_400_not_a_recursion_error(bounded):
    base, store = bounded
    job_id = new_job(store)
    for depth in (40, 100_000):
        body = b"[" * depth + b"]" * depth
        status, _, reply = request(base, "POST", f"/jobs/{job_id}/rating", body, JSON)
        assert status in (400, 413) and ("nested" in reply["error"] or "limit" in reply["error"]), depth
    status, _, reply = request(base, "POST", f"/jobs/{job_id}/rating", b'{"rating": 4, "x": ' + b"[" * 33 + b"]" * 33
                               + b"}", JSON)
    assert status == 400 and "nested 34 levels deep; the limit is 32" in reply["error"]
    status, _, reply = request(base, "POST", f"/jobs/{job_id}/rating",
                               json.dumps({"rating": 4, "comment": "[[[[" * 100}).encode(), JSON)
    assert status == 200  # brackets inside a string are text, not nesting
    status, _, reply = request(base, "POST", f"/jobs/{job_id}/rating", b'{"rating": 4, "comment": "' + b"x" * 70_000
                               + b'"}', JSON)
    assert status == 413 and "the limit is 65536" in reply["error"]
    status, _, reply = request(base, "POST", f"/jobs/{job_id}/rating", json.dumps({"rating": 4, "comment": "x" * 5000})
                               .encode(), JSON)
    assert status == 400 and reply["error"] == "comment is 5000 characters; the limit is 4000"
    assert request(base, "GET", "/health")[0] == 200


def test_a_full_database_is_507_json_and_nothing_is_half_saved(bounded):
    """A real SQLITE_FULL: the database may not grow by a page (what a full disk does to SQLite)."""
    base, store = bounded
    job_id = new_job(store)
    conn = store.db._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    try:
        status, _, reply = request(base, "POST", f"/jobs/{job_id}/rating",
                                   json.dumps({"rating": 5, "comment": "y" * 3900}).encode(), JSON)
        assert status == 507 and "full" in reply["error"] and "Traceback" not in reply["error"]
    finally:
        conn.execute("PRAGMA max_page_count = 1073741823")
    assert store.ratings.list_ratings(job_id) == []
    status, _, reply = request(base, "POST", f"/jobs/{job_id}/rating", b'{"rating": 5}', JSON)
    assert status == 200  # space again: it works again


@pytest.mark.parametrize(("error", "status", "fragment"), [
    (OSError(errno.ENOSPC, "No space left on device", "/data/mondrian.db-wal"), 507, "the disk is full"),
    (OSError(errno.EROFS, "Read-only file system", "/data"), 503, "read-only"),
])
def test_storage_errors_from_writes_are_clean(bounded, monkeypatch: pytest.MonkeyPatch, error, status, fragment):
    """Unit test of the mapping: the store's write raises what the OS would."""
    base, store = bounded
    job_id = new_job(store)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(store.ratings, "add_rating", fail)
    code, _, reply = request(base, "POST", f"/jobs/{job_id}/rating", b'{"rating": 3}', JSON)
    assert code == status and fragment in reply["error"]


@pytest.mark.parametrize("head", [
    b"POST /jobs/x/rating HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
    b"POST /jobs/x/rating HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Line\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS hello sent to plain HTTP
])
def test_malformed_http_framing_gets_a_json_400(bounded, head: bytes):
    base, _ = bounded
    with connect(base) as sock:
        sock.sendall(head)
        status, headers, body = parse_response(read_until_closed(sock))
    assert status == 400 and headers["content-type"] == "application/json"
    assert "malformed HTTP request" in json.loads(body)["error"]


def test_slowloris_connections_are_closed(bounded):
    """Ten connections each sending a header byte every 0.5 s (headers never end), and one that
    stalls in the middle of its body: all are answered 408 and closed (limit here 1.5 s)."""
    base, _ = bounded
    socks = [connect(base) for _ in range(10)]
    request_line = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 400
    closed: set[int] = set()
    deadline = time.monotonic() + 60
    for i in range(len(request_line)):
        for n, sock in enumerate(socks):
            if n in closed:
                continue
            try:
                sock.sendall(request_line[i:i + 1])
            except OSError:
                closed.add(n)
        if len(closed) == len(socks) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for sock in socks:
        sock.settimeout(30)
        raw = read_until_closed(sock)
        sock.close()
        assert raw == b"" or parse_response(raw)[0] == 408
    with connect(base) as sock:
        sock.sendall(b"POST /jobs/x/rating HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"rating\"")
        status, _, body = parse_response(read_until_closed(sock))
    assert status == 408 and "did not arrive within 1.5 s" in json.loads(body)["error"]
    assert request(base, "GET", "/health")[0] == 200


def test_uploads_in_flight_are_bounded(bounded):
    base, store = bounded
    before = store.jobs.count_jobs()
    body, ctype = multipart({"advisor": "ansel"}, {"image": ("p.jpg", jpeg_bytes(), "image/jpeg")})
    head = (f"POST /analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    stalled = [connect(base) for _ in range(2)]
    for sock in stalled:
        sock.sendall(head + body[:100])  # two uploads arriving slowly
    time.sleep(0.3)  # let the server start reading them
    status, headers, reply = request(base, "POST", "/analyze", body, {"Content-Type": ctype})
    assert status == 503 and "uploads are already arriving" in reply["error"] and headers["retry-after"]
    for sock in stalled:  # they time out (408); then uploads are accepted again
        assert parse_response(read_until_closed(sock))[0] == 408
        sock.close()
    status, _, reply = request(base, "POST", "/analyze", body, {"Content-Type": ctype})
    assert status == 200, reply
    assert store.jobs.count_jobs() == before + 1


# ---------------------------------------------------------------------------- memory under six uploads


def big_jpeg(path: Path, size: tuple[int, int] = (6000, 4000)) -> bytes:
    """A 24 MP noisy JPEG of ~20 MB (noise does not compress), made once per test session."""
    if not path.exists():
        rng = np.random.default_rng(0)
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=92)
        path.write_bytes(buffer.getvalue())
    return path.read_bytes()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
def test_six_large_uploads_at_once_stay_within_bounded_memory(tmp_path_factory: pytest.TempPathFactory):
    """`serve` in its own process (measurement-only): peak memory before and after six concurrent
    ~20 MB uploads. Before the fix each body was buffered whole and decoded at full size side by
    side (+807 MB measured); now bodies stream to spool files and one photo at a time is decoded
    and measured, on one thread (+82 MB measured)."""
    work = tmp_path_factory.mktemp("mem")
    photo = big_jpeg(work / "big.jpg")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MONDRIAN_HOME": str(work / "home"), "PYTHONPATH": str(ROOT)}
    log = (work / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port), "--model",
                             str(work / "no-model"), "--max_upload_mb", "40", "--max-uploads", "6"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (work / "serve.log").read_text()
            try:
                if request(base, "GET", "/health", timeout=5)[0] == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert analyze_request(base, jpeg_bytes(), advisor="ansel")[0] == 200  # warm: imports, first decode
        before = peak_rss_mb(proc.pid)
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda _: analyze_request(base, photo, advisor="ansel"), range(6)))
        after = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    assert [r[0] for r in results] == [200] * 6, [r[2] for r in results if r[0] != 200]
    growth = after - before
    print(f"\nsix {len(photo) / 2**20:.0f} MB uploads: peak RSS {before:.0f} -> {after:.0f} MB (+{growth:.0f} MB)")
    assert growth < 250, growth  # six whole bodies and decodes side by side: ~800 MB


# ---------------------------------------------------------------------------- hang-up cancels the model


def test_a_client_hanging_up_cancels_the_generation(tiny_model_dir: Path, tmp_path: Path):
    """Unconstrained greedy generation on the tiny model runs to max_tokens (it never says stop):
    hanging up once the model is generating must stop it at the next token (the handle then
    raises CancelledError instead of returning the text) and record a cancelled job."""
    store = Store(tmp_path / "c.db")
    service = MondrianService(Settings(model=str(tiny_model_dir), constrained_decoding=False,
                                       max_tokens=8000), store=store)
    service.host.load().result(120)
    handles: list[Any] = []
    generate = service.host.generate

    def observe(req: Any) -> Any:  # the real generate; the test keeps its handle to watch it
        handle = generate(req)
        handles.append(handle)
        return handle

    service.host.generate = observe  # type: ignore[method-assign]
    server = BackgroundServer(build_asgi(service)).start()
    try:
        body, ctype = multipart({"advisor": "ansel", "mode": "baseline"},
                                {"image": ("p.jpg", jpeg_bytes(), "image/jpeg")})
        sock = connect(server.url)
        sock.sendall((f"POST /analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
        deadline = time.monotonic() + 120
        while not (handles and handles[0].running()):
            assert time.monotonic() < deadline, "the generation never started"
            time.sleep(0.01)
        sock.close()  # the client hangs up mid-generation
        with pytest.raises(CancelledError):
            handles[0].result(300)
        assert handles[0].cancel_requested
        deadline = time.monotonic() + 30
        while (job := store.jobs.list_jobs(limit=1)[0]).status != "cancelled":
            assert time.monotonic() < deadline, job.status
            time.sleep(0.05)
        assert request(server.url, "GET", "/health")[2]["critiques_in_progress"] == 0
    finally:
        server.stop()
        service.close()
        store.close()


# ---------------------------------------------------------------------------- upload thumbnails


def test_upload_thumbnails_follow_the_retention_setting_and_go_with_their_job(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MONDRIAN_HOME", str(tmp_path / "home"))
    store = Store(tmp_path / "r.db")
    service = MondrianService(Settings(model=str(tmp_path / "none"), upload_thumbnail_days=30), store=store)
    with BackgroundServer(build_asgi(service)) as server:
        ids = [analyze_request(server.url, jpeg_bytes((i * 40, 20, 20)), advisor="ansel")[1]["x-job-id"]
               for i in range(3)]
        thumbs = [Path(store.jobs.get_job(i).thumbnail_path) for i in ids]
        assert all(t.is_file() for t in thumbs)  # within 30 days: kept
        assert prune_upload_thumbnails(service, now=datetime.now(UTC) + timedelta(days=31)) == 3
        assert not any(t.exists() for t in thumbs) and store.jobs.get_job(ids[0]).thumbnail_path is None
        assert store.jobs.get_job(ids[0]).status == "completed"  # the job stays, its thumbnail goes
        status, _, reply = request(server.url, "DELETE", f"/jobs/{ids[1]}")
        assert status == 200 and reply == {"deleted": ids[1]} and store.jobs.find_job(ids[1]) is None
        assert request(server.url, "DELETE", f"/jobs/{ids[1]}")[0] == 404
        service.settings.upload_thumbnail_days = 0  # none kept past the critique
        job_id = analyze_request(server.url, jpeg_bytes(), advisor="ansel")[1]["x-job-id"]
        assert store.jobs.get_job(job_id).thumbnail_path is None
        _, _, reply = analyze_request(server.url, jpeg_bytes((1, 2, 3)), advisor="ansel")
        status, _, reply = request(server.url, "DELETE", f"/jobs/{reply['job_id']}")
        assert status == 200
    assert list((tmp_path / "home" / "cache" / "thumbnails").glob("*.jpg")) == []
    service.close()
    store.close()
