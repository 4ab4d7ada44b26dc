"""The local HTTP API over real HTTP on loopback: curl-style multipart uploads, the mode headers,
JSON 4xx errors after which the server is still up, the upload limit, one model under concurrency,
and the ``serve`` command itself (with an A/B test) in a subprocess."""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from api_support import jpeg_bytes, multipart
from PIL import Image

from app.api.app import BackgroundServer, build_asgi, is_loopback
from app.engine.critique.report import DIMENSIONS
from app.engine.critique.result import JOB_FIELDS
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store

ROOT = Path(__file__).resolve().parents[1]


def call(method: str, url: str, body: bytes | None = None, ctype: str | None = None,
         timeout: float = 120) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(url, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, json.loads(exc.read())


def analyze(base: str, image: bytes | None = None, filename: str = "photo.jpg", **fields: str):
    files = {"image": (filename, image, "image/jpeg")} if image is not None else {}
    body, ctype = multipart(fields, files)
    return call("POST", f"{base}/analyze", body, ctype)


@pytest.fixture(scope="module")
def api(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """One service (one resident tiny model) behind uvicorn on a free loopback port."""
    home = tmp_path_factory.mktemp("api-home")
    store = Store(home / "api.db")
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000,
                                       max_upload_mb=1), store=store)
    service.host.load().result(120)
    server = BackgroundServer(build_asgi(service, max_queue=4)).start()
    yield server.url, service, store
    server.stop()
    service.close()
    store.close()


def assert_up(base: str) -> None:
    status, _, body = call("GET", f"{base}/health")
    assert status == 200 and body["status"] == "ok"


def test_health_and_advisors(api):
    base, service, _ = api
    status, _, body = call("GET", f"{base}/health")
    assert status == 200
    assert body["model_loaded"] is True and body["model"] == service.settings.model
    assert body["model_mode"] == "per_request" and "baseline" in body["modes"]
    status, _, body = call("GET", f"{base}/advisors")
    assert status == 200 and "ansel" in {a["id"] for a in body["advisors"]}
    assert body["modes"] == service.modes


def test_analyze_returns_the_report_with_headers(api):
    base, service, store = api
    status, headers, body = analyze(base, jpeg_bytes(), advisor="ansel", mode="baseline")
    assert status == 200, body
    assert headers["x-analysis-mode"] == "baseline" and headers["x-requested-mode"] == "baseline"
    assert headers["x-advisor-id"] == "ansel" and headers["x-model-used"] == "base"
    job_id = headers["x-job-id"]
    assert body["job_id"] == job_id and body["effective_mode"] == "baseline"
    assert set(body["report"]["dimensional_analysis"]) == set(DIMENSIONS)
    assert body["report"]["overall_grade"] and body["stats"]["generation_tokens"] > 0
    job = store.jobs.get_job(job_id)
    assert job.status == "completed" and job.photo_path == "upload:photo.jpg" and job.photo_hash
    assert job.thumbnail_path and Path(job.thumbnail_path).is_file()
    status, _, fetched = call("GET", f"{base}/jobs/{job_id}")
    assert status == 200 and fetched["id"] == job_id and fetched["report"] == body["report"]
    # one critique JSON: the job is the same shape as the fresh critique, plus the job's own fields
    assert set(fetched) == set(body) | set(JOB_FIELDS)
    for key in ("photo", "requested_mode", "effective_mode", "model_used", "model_id", "adapter_version",
                "raw_text", "overall_score", "references", "technical", "job_id"):
        assert fetched[key] == body[key], key
    assert fetched["stats"]["generation_tokens"] == body["stats"]["generation_tokens"]
    assert fetched["status"] == "completed"
    status, _, listing = call("GET", f"{base}/jobs?limit=5")
    assert status == 200 and listing["jobs"][0]["id"] == job_id and "raw_text" not in listing["jobs"][0]
    assert listing["jobs"][0]["report"] == body["report"]


def test_auto_mode_reports_its_fallback_in_the_headers(api):
    base, _, _ = api
    status, headers, body = analyze(base, jpeg_bytes((200, 40, 40)), advisor="ansel")  # mode defaults to auto
    assert status == 200
    assert headers["x-requested-mode"] == "auto" and headers["x-analysis-mode"] == "baseline"
    assert "lora unavailable" in headers["x-fallback-reason"] and body["fallback_reason"].startswith("auto:")


def test_rating_a_job(api):
    base, _, store = api
    _, headers, _ = analyze(base, jpeg_bytes((10, 200, 10)), advisor="ansel", mode="baseline")
    job_id = headers["x-job-id"]
    status, _, body = call("POST", f"{base}/jobs/{job_id}/rating", json.dumps({"rating": 4, "comment": "good"}).encode(),
                           "application/json")
    assert status == 200 and body["job"]["user_rating"] == 4 and body["rating"]["comment"] == "good"
    assert store.jobs.get_job(job_id).user_rating == 4
    for payload, fragment in (({"rating": 9}, "1 to 5"), ({"rating": "x"}, "1 to 5"), ({"stars": 3}, "unknown field"),
                              ([4], "JSON object"), ({}, "needs")):
        status, _, body = call("POST", f"{base}/jobs/{job_id}/rating", json.dumps(payload).encode(), "application/json")
        assert status == 400 and fragment in body["error"], body
    status, _, body = call("POST", f"{base}/jobs/{job_id}/rating", b"not json", "application/json")
    assert status == 400 and "JSON" in body["error"]
    status, _, body = call("POST", f"{base}/jobs/nope/rating", b'{"rating": 3}', "application/json")
    assert status == 404 and "no job" in body["error"]
    assert_up(base)


@pytest.mark.parametrize(("kwargs", "status", "fragment"), [
    ({"advisor": "nobody"}, 404, "unknown advisor 'nobody'"),
    ({"advisor": "Ansel Adams"}, 400, "advisor id"),
    ({"advisor": "ansel", "mode": "telepathy"}, 400, "unknown mode 'telepathy'"),
])
def test_bad_requests_are_json_errors_and_the_server_stays_up(api, kwargs, status, fragment):
    base, _, _ = api
    code, _, body = analyze(base, jpeg_bytes(), **kwargs)
    assert code == status and fragment in body["error"]
    assert_up(base)


def test_bad_images_are_400_naming_the_problem(api):
    base, _, _ = api
    code, _, body = analyze(base, b"this is not a photo", filename="notes.txt", advisor="ansel")
    assert code == 400 and body["error"].startswith("notes.txt:") and "not an image" in body["error"]
    code, _, body = analyze(base, b"", filename="empty.jpg", advisor="ansel")
    assert code == 400 and "empty.jpg: file is empty" in body["error"]
    cut = jpeg_bytes()[:200]
    code, _, body = analyze(base, cut, filename="cut.jpg", advisor="ansel")
    assert code == 400 and "cut.jpg" in body["error"]
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    code, _, body = analyze(base, gif.getvalue(), filename="icon.gif", advisor="ansel")
    assert code == 400 and "icon.gif: image is only 8x8 px" in body["error"]
    code, _, body = analyze(base, None, advisor="ansel")
    assert code == 400 and "image" in body["error"]
    assert_up(base)


def test_unknown_routes_and_jobs(api):
    base, _, _ = api
    assert call("GET", f"{base}/jobs/does-not-exist")[0] == 404
    code, _, body = call("GET", f"{base}/nothing-here")
    assert code == 404 and "error" in body
    code, _, body = call("GET", f"{base}/jobs?limit=0")
    assert code == 400 and "limit" in body["error"]
    code, _, body = call("GET", f"{base}/jobs?limit=many")
    assert code == 400 and "limit" in body["error"]
    code, _, body = call("GET", f"{base}/analyze")
    assert code == 405 and "error" in body
    assert_up(base)


def test_uploads_over_the_limit_are_413(api):
    base, _, store = api
    before = store.jobs.count_jobs()
    big = os.urandom(int(1.5 * 1024 * 1024))
    code, headers, body = analyze(base, big, filename="huge.jpg", advisor="ansel")
    assert code == 413 and "limit is 1 MB" in body["error"]
    # Without a Content-Length (chunked), the body is counted as it arrives.
    host, port = base.removeprefix("http://").split(":")
    payload, ctype = multipart({"advisor": "ansel"}, {"image": ("huge.jpg", big, "image/jpeg")})
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.putrequest("POST", "/analyze")
        conn.putheader("Content-Type", ctype)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for i in range(0, len(payload), 65536):
            chunk = payload[i:i + 65536]
            conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        assert resp.status == 413 and "limit" in json.loads(resp.read())["error"]
    finally:
        conn.close()
    assert store.jobs.count_jobs() == before  # never reached the service
    assert_up(base)


def test_concurrent_requests_share_one_model(api):
    base, service, _ = api
    loaded = service.host.loaded
    model_thread = service.host.call(lambda _: threading.get_ident()).result(30)
    image = jpeg_bytes((120, 120, 30))
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: analyze(base, image, advisor="ansel", mode="baseline"), range(3)))
    assert [r[0] for r in results] == [200, 200, 200]
    texts = {r[2]["raw_text"] for r in results}
    assert len(texts) == 1  # greedy and uninterleaved: every request got the same, whole answer
    assert len({r[1]["x-job-id"] for r in results}) == 3
    assert service.host.loaded is loaded  # the same resident model, never a second copy
    assert service.host.call(lambda _: threading.get_ident()).result(30) == model_thread  # on the one thread
    assert_up(base)


def test_a_full_queue_answers_503(tiny_model_dir: Path, tmp_path: Path):
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000), store=None)
    gate = threading.Event()
    service.host.load().result(120)
    service.host.call(lambda loaded: gate.wait(60))  # the model thread is busy until the gate opens
    server = BackgroundServer(build_asgi(service, max_queue=1)).start()
    try:
        first: list[Any] = []
        t = threading.Thread(target=lambda: first.append(analyze(server.url, jpeg_bytes(), advisor="ansel",
                                                                 mode="baseline")))
        t.start()
        deadline = time.monotonic() + 30
        while call("GET", f"{server.url}/health")[2]["critiques_in_progress"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        code, headers, body = analyze(server.url, jpeg_bytes(), advisor="ansel", mode="baseline")
        assert code == 503 and "busy" in body["error"] and headers["retry-after"]
        gate.set()
        t.join(120)
        assert first[0][0] == 200 and first[0][2]["job_id"] is None  # history off: no job id
        code, _, body = call("GET", f"{server.url}/jobs")
        assert code == 503 and "history is off" in body["error"]
    finally:
        gate.set()
        server.stop()
        service.close()


def test_loopback_detection():
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com", ""):
        assert not is_loopback(host), host


def test_serve_off_loopback_makes_a_token_and_shows_it_once(capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from app.cli import main

    monkeypatch.setenv("MONDRIAN_HOME", str(tmp_path / "home"))
    assert main(["serve", "--host", "0.0.0.0", "--model_mode", "fine_tuned"]) == 1  # stops before listening
    err = capsys.readouterr().err
    assert "WARNING: listening on 0.0.0.0, not loopback" in err and "Access token (shown once" in err
    token_file = tmp_path / "home" / "data" / "api_token"
    token = token_file.read_text().strip()
    assert token in err and len(token) >= 40 and token_file.stat().st_mode & 0o777 == 0o600
    assert main(["serve", "--host", "0.0.0.0", "--model_mode", "fine_tuned"]) == 1
    err = capsys.readouterr().err
    assert token not in err and str(token_file) in err and "Authorization: Bearer" in err  # not shown again


# ---------------------------------------------------------------------------- the real command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_ab_test_over_http(tiny_model_dir: Path, tiny_adapters, tmp_path: Path):
    """`python -m app serve --model_mode ab_test --seed N` in its own process: requests are routed as the
    seeded RNG says, the headers say which model answered, and the jobs record it."""
    port = free_port()
    env = {**os.environ, "MONDRIAN_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--model", str(tiny_model_dir),
         "--model_mode", "ab_test", "--lora_path", str(tiny_adapters["a"]), "--ab_test_split", "0.5",
         "--seed", "11", "--max_upload_mb", "5"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                status, _, health = call("GET", f"{base}/health", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.25)
        assert health["model_mode"] == "ab_test" and health["model_loaded"]
        assert health["weights_policy"]["ab_test_split"] == 0.5 and health["weights_policy"]["seed"] == 11
        rng = random.Random(11)
        expected = ["ab_test_fine_tuned" if rng.random() < 0.5 else "ab_test_base" for _ in range(4)]
        seen = []
        for _ in expected:
            code, headers, body = analyze(base, jpeg_bytes(), advisor="ansel", mode="baseline")
            assert code == 200, body
            assert headers["x-model-used"] == body["model_used"]
            seen.append(headers["x-model-used"])
        assert seen == expected
        code, _, body = analyze(base, b"garbage", filename="bad.jpg", advisor="ansel")
        assert code == 400
        status, _, jobs = call("GET", f"{base}/jobs?limit=10")
        assert [j["model_used"] for j in jobs["jobs"]] == expected[::-1]
        assert proc.poll() is None  # still serving
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_a_generation_without_a_report_is_502_with_the_result_kept(api):
    base, service, _ = api
    service.settings.max_tokens = 60  # a user's cap far below the worst case: the report is cut
    try:
        status, _, body = analyze(base, jpeg_bytes(), advisor="ansel", mode="baseline")
    finally:
        service.settings.max_tokens = 2000
    assert status == 502
    assert body["error"].startswith("no report: generation stopped at the 60-token limit set by the user")
    assert body["report"] is None and body["budget"]["max_tokens"] == 60 and body["raw_text"]
    assert "partial_report" in body
    assert_up(base)


def test_serve_fine_tuned_answers_lora_over_http(home: Path, tiny_model_dir: Path, tiny_adapters):
    """`serve --model_mode fine_tuned --lora_path X` (the seed spelling): mode=lora and auto run on X and
    say so in every place -- headers, body, the job, history and stats -- even though the advisor's own
    active adapter is broken; baseline on X is reported as lora, never as baseline."""
    import shutil

    from app.cli import build_parser, main
    from app.commands.serve import prepare_service
    from app.engine.adapters import versions as adapter_versions
    from app.engine.adapters.versions import AdapterManifest

    staged = adapter_versions.staging_dir("ansel")
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(tiny_adapters["b"] / name, staged / name)
    broken = adapter_versions.publish("ansel", staged, AdapterManifest("ansel", "", base_model=str(tiny_model_dir)))
    (broken.path / "adapters.safetensors").write_bytes(b"garbage")
    adapter = str(tiny_adapters["a"])
    args = build_parser().parse_args(["serve", "--model", str(tiny_model_dir), "--model_mode", "fine_tuned",
                                      "--lora_path", adapter])
    service = prepare_service(args)
    assert isinstance(service, MondrianService), service
    service.settings.max_text_chars, service.settings.max_tokens = 24, 2000
    server = BackgroundServer(build_asgi(service)).start()
    try:
        answers = {}
        for mode in ("lora", "auto", "baseline"):
            status, headers, body = analyze(server.url, jpeg_bytes(), advisor="ansel", mode=mode)
            assert status == 200, body
            assert headers["x-analysis-mode"] == "lora" == body["effective_mode"], mode
            assert headers["x-model-used"] == "fine_tuned" == body["model_used"]
            assert headers["x-adapter-version"] == adapter == body["adapter_version"]
            assert headers["x-requested-mode"] == mode
            _, _, job = call("GET", f"{server.url}/jobs/{headers['x-job-id']}")
            assert (job["effective_mode"], job["model_used"], job["adapter_version"]) == ("lora", "fine_tuned", adapter)
            answers[mode] = body["raw_text"]
        assert "x-fallback-reason" in headers and "ran on an adapter" in headers["x-fallback-reason"]
        assert len(set(answers.values())) == 1  # one pass on X each time
        _, _, health = call("GET", f"{server.url}/health")
        assert health["model_mode"] == "fine_tuned" and health["weights_policy"]["adapter"] == adapter
    finally:
        server.stop()
        service.close()
    assert main(["history", "--json"]) == 0
    assert main(["stats", "--json"]) == 0


def test_history_and_stats_agree_with_the_headers(home: Path, tiny_model_dir: Path, tiny_adapters,
                                                  capsys: pytest.CaptureFixture[str]):
    from app.cli import main
    from app.engine.modes.weights import ABDrawPolicy

    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000),
                              weights_policy=ABDrawPolicy(tiny_adapters["a"], 0.5, seed=11))
    service.prepare_weights(timeout=120)
    server = BackgroundServer(build_asgi(service)).start()
    try:
        said = {}
        for _ in range(3):
            status, headers, body = analyze(server.url, jpeg_bytes(), advisor="ansel", mode="auto")
            assert status == 200 and headers["x-model-used"] == body["model_used"]
            said[headers["x-job-id"]] = (headers["x-model-used"], headers["x-analysis-mode"])
    finally:
        server.stop()
        service.close()
    capsys.readouterr()
    assert main(["history", "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert {j["id"]: (j["model_used"], j["effective_mode"]) for j in history} == said
    assert main(["stats", "--json"]) == 0
    stats = {m["model_used"]: m["count"] for m in json.loads(capsys.readouterr().out)["models"]}
    counts: dict[str, int] = {}
    for used, _ in said.values():
        counts[used] = counts.get(used, 0) + 1
    assert stats == counts
