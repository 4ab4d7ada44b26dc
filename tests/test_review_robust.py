"""A review on real folders without stalling the server (issue 19's robustness half), for real:
the HTTP server on loopback, subprocesses as a second Mondrian and as an unprivileged user, sparse
files, non-UTF-8 names, a 13000x13000 16-bit PNG measured by RSS."""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from api_support import request
from PIL import Image

from app.api.app import BackgroundServer, build_asgi
from app.engine.model.cancel import CancelScope
from app.engine.review.folder_review import (
    ReviewBusyError,
    ReviewError,
    review_folder,
    run_review,
    start_review,
)
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store

ROOT = Path(__file__).resolve().parents[1]
JSON = {"Content-Type": "application/json"}
CAFE = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes: a valid Linux name that is not UTF-8
NOBODY = 65534


def _photo(path: Path, colour: tuple[int, int, int] = (150, 90, 40)) -> Path:
    img = Image.new("RGB", (96, 64), colour)
    img.putpixel((3, 3), (255, 255, 255))
    img.save(path, quality=90)
    return path


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# --------------------------------------------------------------------------- the server never blocks


@pytest.fixture
def served(tmp_path: Path):
    """A server without a model (measurement-only critiques): the scan is what is being tested."""
    store = Store(tmp_path / "data" / "api.db")
    service = MondrianService(Settings(model=str(tmp_path / "no-model")), store=store)
    server = BackgroundServer(build_asgi(service)).start()
    yield server.url, store
    server.stop()
    service.close()
    store.close()


def _wait(base: str, review_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = request(base, "GET", f"/reviews/{review_id}")[2]
        if not state["running"] and state["review"]["state"] not in ("scanning", "running", "queued"):
            return state
        time.sleep(0.1)
    raise AssertionError(f"review {review_id} still running")


def test_post_returns_at_once_and_health_answers_during_the_scan(served, tmp_path: Path) -> None:
    """A folder holding a big sparse file: the POST is 202 in state ``scanning`` at once, /health
    keeps answering (p99 under 200 ms) while the file is hashed, progress shows the scan."""
    base, store = served
    folder = tmp_path / "shoot"
    folder.mkdir()
    _photo(folder / "a.jpg")
    with open(folder / "huge.tif", "wb") as fh:  # 512 MB of holes: seconds of hashing on this machine
        fh.truncate(512 << 20)
    for _ in range(5):  # a warm server: the first requests pay for imports, not for the scan
        request(base, "GET", "/health")
    started = time.perf_counter()
    status, _, body = request(base, "POST", "/reviews", json.dumps({"folder": str(folder)}).encode(), JSON)
    post_s = time.perf_counter() - started
    assert status == 202 and body["review"]["state"] == "scanning", body
    assert post_s < 1.0, post_s
    review_id = body["review"]["id"]
    latencies, scans = [], []
    while True:
        t0 = time.perf_counter()
        assert request(base, "GET", "/health")[0] == 200
        latencies.append(time.perf_counter() - t0)
        state = request(base, "GET", f"/reviews/{review_id}")[2]["review"]
        if state["state"] != "scanning":
            break
        scans.append(state["scan"])
        time.sleep(0.01)
    assert len(latencies) >= 20, len(latencies)  # the scan lasted long enough to be measured
    assert scans and any(s and s["phase"] == "hashing" for s in scans), scans[:3]
    assert _p99(latencies) <= 0.2, sorted(latencies)[-5:]
    final = _wait(base, review_id)
    assert final["review"]["total"] == 2 and final["review"]["state"] == "completed"


def test_cancel_reaches_a_review_still_scanning(served, tmp_path: Path) -> None:
    base, store = served
    folder = tmp_path / "slow"
    folder.mkdir()
    with open(folder / "huge.tif", "wb") as fh:
        fh.truncate(1 << 30)  # a minute of hashing here: the cancel must cut it short
    status, _, body = request(base, "POST", "/reviews", json.dumps({"folder": str(folder)}).encode(), JSON)
    review_id = body["review"]["id"]
    time.sleep(0.3)
    assert request(base, "GET", f"/reviews/{review_id}")[2]["review"]["state"] == "scanning"
    started = time.perf_counter()
    status, _, body = request(base, "DELETE", f"/reviews/{review_id}/run")
    assert status == 200 and body["cancelled"] is True
    final = _wait(base, review_id, timeout=30)
    assert time.perf_counter() - started < 10
    assert final["review"]["state"] == "cancelled" and "scanning" in final["review"]["error"]
    assert store.jobs.count_jobs() == 0
    # the folder is free again: a new POST starts (and is cancelled) without a 409
    status, _, body = request(base, "POST", "/reviews", json.dumps({"folder": str(folder)}).encode(), JSON)
    assert status == 202, body
    request(base, "DELETE", f"/reviews/{body['review']['id']}/run")
    _wait(base, body["review"]["id"], timeout=30)


@pytest.mark.parametrize(("body", "headers", "status", "text"), [
    (b'{"folder": "/tmp"}', {"Content-Type": "text/plain"}, 415, "application/json"),
    (b"[" * 100_000 + b"]" * 100_000, JSON, 400, "nested"),  # under the 8 MB a Lightroom selection may need
    (json.dumps({"folder": "x" * (30 << 20)}).encode(), JSON, 413, "limit"),
    (b'{"folder": "/tmp/\\ud800"}', JSON, 400, "lone surrogate"),
    (b"[" * 40 + b"]" * 40, JSON, 400, "nested"),
    (json.dumps({"folder": "/" + "a" * 5000}).encode(), JSON, 400, "folder"),
    (json.dumps({"folder_b64": "!!"}).encode(), JSON, 400, "folder_b64"),
])
def test_reviews_reads_json_through_the_one_reader(served, body: bytes, headers: dict, status: int,
                                                  text: str) -> None:
    code, _, answer = request(served[0], "POST", "/reviews", body, headers)
    assert code == status and text in answer["error"], (code, answer)


# --------------------------------------------------------------------------- real folders


def test_a_non_utf8_name_is_critiqued_stored_shown_and_sent_back(tiny_model_dir: Path, tmp_path: Path) -> None:
    """``caf\\xe9.jpg``: reviewed over HTTP (no 500, no review stuck 'running'), stored, shown as
    ``caf\\\\xe9.jpg`` with ``path_b64`` holding its exact bytes, and the folder given as folder_b64."""
    folder = tmp_path / os.fsdecode(b"sh\xf6ot")  # the folder's own name is not UTF-8 either
    folder.mkdir()
    _photo(folder / CAFE)
    _photo(folder / "plain.jpg", (30, 60, 200))
    store = Store(tmp_path / "data" / "api.db")
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000), store=store)
    server = BackgroundServer(build_asgi(service)).start()
    try:
        payload = {"folder_b64": base64.b64encode(os.fsencode(folder)).decode(), "mode": "baseline"}
        status, _, body = request(server.url, "POST", "/reviews", json.dumps(payload).encode(), JSON)
        assert status == 202, body
        assert base64.b64decode(body["review"]["folder_b64"]) == os.fsencode(folder)
        state = _wait(server.url, body["review"]["id"], timeout=300)
        assert state["review"]["state"] == "completed" and state["review"]["done"] == 2, state["review"]
        frames = {f["name"]: f for f in state["summary"]["frames"]}
        assert set(frames) == {"caf\\xe9.jpg", "plain.jpg"}
        cafe = frames["caf\\xe9.jpg"]
        assert base64.b64decode(cafe["path_b64"]) == os.fsencode(folder / CAFE)
        assert base64.b64decode(frames["plain.jpg"]["path_b64"]) == os.fsencode(folder / "plain.jpg")
        job = request(server.url, "GET", f"/jobs/{cafe['job_id']}")[2]
        assert job["photo"].endswith("caf\\xe9.jpg") and base64.b64decode(job["photo_b64"]) == os.fsencode(folder / CAFE)
        rows = {Path(f.path).name: f for f in store.reviews.list_frames(body["review"]["id"])}
        assert CAFE in rows and Path(rows[CAFE].path).is_file()  # the store gives back the very name
    finally:
        server.stop()
        service.close()
        store.close()


def test_critique_cli_on_a_non_utf8_name(tiny_model_dir: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path / CAFE)
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.json").write_text(json.dumps({"max_text_chars": 24, "version": 1}))
    done = subprocess.run([sys.executable, "-m", "app", "critique", os.fsencode(photo), "--advisor", "ansel",
                           "--mode", "baseline", "--model", str(tiny_model_dir), "--json"],
                          cwd=ROOT, env={**os.environ, "MONDRIAN_HOME": str(home), "LC_ALL": "C.UTF-8",
                                         "PYTHONIOENCODING": "utf-8"}, capture_output=True, timeout=300)
    stderr = done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr and "surrogates not allowed" not in stderr, stderr[-2000:]
    assert done.returncode in (0, 1), stderr[-2000:]  # 1: the random tiny model's report may not parse
    printed = json.loads(done.stdout)  # valid UTF-8 JSON: the name readable, its bytes in photo_b64
    assert printed["photo"].endswith("caf\\xe9.jpg") and base64.b64decode(printed["photo_b64"]) == os.fsencode(photo)
    store = Store(home / "data" / "mondrian.db")
    try:
        jobs = store.jobs.list_jobs(limit=10)
        assert jobs and jobs[0].photo_path == str(photo)
    finally:
        store.close()


def _as_nobody(code: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as an unprivileged user (root reads every folder, so permissions need one)."""
    import shutil

    env = {**os.environ, "MONDRIAN_HOME": str(home), "PYTHONPATH": str(ROOT)}
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: no unprivileged user to try permissions with")
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run([*prefix, sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def open_tmp():
    """A temporary folder another user can reach (pytest's own are private to root)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="mondrian-perm-"))
    path.chmod(0o755)
    yield path
    for sub in path.rglob("*"):
        if sub.is_dir() and not sub.is_symlink():
            sub.chmod(0o755)
    shutil.rmtree(path)


def test_unreadable_folders_are_named_and_the_rest_goes_on(open_tmp: Path) -> None:
    tmp_path = open_tmp
    shoot = tmp_path / "shoot"
    (shoot / "locked").mkdir(parents=True)
    (shoot / "open").mkdir()
    _photo(shoot / "a.jpg")
    _photo(shoot / "open" / "b.jpg")
    _photo(shoot / "locked" / "c.jpg")
    sealed = tmp_path / "sealed"
    sealed.mkdir()
    _photo(sealed / "d.jpg")
    home = tmp_path / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    for path in (shoot, shoot / "open", *shoot.rglob("*.jpg"), sealed / "d.jpg"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (shoot / "locked").chmod(0o000)
    sealed.chmod(0o000)
    code = f"""
import json
from pathlib import Path
from app.engine.review.folder_review import ReviewError, open_folder_review, scan_review
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store
store = Store(Path({str(home)!r}) / "data" / "t.db")
service = MondrianService(Settings(model="/nonexistent"), store=store)
try:
    open_folder_review(service, store, {str(sealed)!r}, "ansel", "baseline")
    print(json.dumps({{"sealed": "opened"}}))
except ReviewError as exc:
    print(json.dumps({{"sealed": str(exc)}}))
review = open_folder_review(service, store, {str(shoot)!r}, "ansel", "baseline", recursive=True)
review = scan_review(store, review.id)
print(json.dumps({{"total": review.total, "skipped": review.settings["skipped"]}}))
"""
    try:
        done = _as_nobody(code, home)
    finally:
        (shoot / "locked").chmod(0o755)
        sealed.chmod(0o755)
    assert done.returncode == 0, done.stderr[-2000:]
    sealed_line, scan_line = (json.loads(line) for line in done.stdout.strip().splitlines())
    assert str(sealed) in sealed_line["sealed"] and "permission denied" in sealed_line["sealed"]
    assert scan_line["total"] == 2  # a.jpg and open/b.jpg
    assert scan_line["skipped"] == [{"path": str(shoot / "locked"), "reason": "permission denied"}]


def test_review_cli_on_an_unreadable_folder_fails_naming_it(open_tmp: Path) -> None:
    tmp_path = open_tmp
    sealed = tmp_path / "sealed"
    sealed.mkdir()
    _photo(sealed / "d.jpg")
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o777)
    sealed.chmod(0o000)
    try:
        done = _as_nobody(f"import sys; sys.argv = ['mondrian', 'review', {str(sealed)!r}]\n"
                          "from app.cli import main\nsys.exit(main())", home)
    finally:
        sealed.chmod(0o755)
    assert done.returncode == 2, (done.stdout, done.stderr[-2000:])
    assert f"error: {sealed}: cannot read this folder (permission denied)" in done.stderr
    assert "completed" not in done.stdout


def test_one_review_of_a_folder_at_a_time_across_processes(tmp_path: Path) -> None:
    """Another process holding the folder's lock: this one refuses naming it; the lock lives in the
    data folder (nothing in the photo folder) and goes when that process dies."""
    folder = tmp_path / "shoot"
    folder.mkdir()
    _photo(folder / "a.jpg")
    link = tmp_path / "link"
    link.symlink_to(folder)  # the same folder by another name meets the same lock
    store = Store(tmp_path / "data" / "m.db")
    service = MondrianService(Settings(model=str(tmp_path / "no-model")), store=store)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path\n"
         "from app.engine.review.folder_lock import FolderLock\n"
         f"FolderLock(Path({str(link)!r}), Path({str(tmp_path / 'data' / 'locks')!r})).acquire()\n"
         "print('locked', flush=True); time.sleep(300)"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(ReviewBusyError, match=f"another review of this folder is running \\(process {holder.pid}\\)"):
            start_review(service, store, folder, "ansel", "baseline")
        assert sorted(p.name for p in folder.iterdir()) == ["a.jpg"]  # nothing written beside the photos
        assert store.reviews.list_reviews() == []  # refused before any row
        holder.kill()
        holder.wait(30)
        review = start_review(service, store, folder, "ansel", "baseline")  # released by the kernel
        with pytest.raises(ReviewBusyError):  # held by this process now, until its run ends
            start_review(service, store, link, "ansel", "baseline")
        run_review(service, store, review.id)
        assert start_review(service, store, link, "ansel", "baseline").id == review.id
    finally:
        holder.kill()
        service.close()
        store.close()


def test_reused_frames_honour_cancel(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shoot"
    folder.mkdir()
    for i in range(3):
        _photo(folder / f"f{i}.jpg", (40 * i, 90, 160))
    store = Store(tmp_path / "data" / "m.db")
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000), store=store)
    try:
        first = review_folder(service, store, folder, "ansel", "baseline")
        assert first.done == 3
        copy = tmp_path / "copy"  # the same content elsewhere: every frame would be reused
        copy.mkdir()
        for path in folder.iterdir():
            (copy / path.name).write_bytes(path.read_bytes())
        scope = CancelScope()
        scope.cancel()
        review = review_folder(service, store, copy, "ansel", "baseline", scope=scope)
        assert review.state == "cancelled" and review.reused == 0
        again = review_folder(service, store, copy, "ansel", "baseline")
        assert again.state == "completed" and again.reused == 3
    finally:
        service.close()
        store.close()


def test_a_missing_folder_is_a_review_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "data" / "m.db")
    service = MondrianService(Settings(model=str(tmp_path / "no-model")), store=store)
    try:
        with pytest.raises(ReviewError, match="folder not found"):
            start_review(service, store, tmp_path / "nope", "ansel", "baseline")
    finally:
        service.close()
        store.close()


# --------------------------------------------------------------------------- memory by bytes


def _big_png(path: Path, edge: int, depth: int, colour: int) -> Path:
    """An ``edge``-square PNG of zeros (colour type ``colour``, ``depth`` bits) built straight from
    zlib, so the test never holds the pixels itself: 13000x13000 16-bit RGBA is ~1.3 MB on disk."""
    channels = {0: 1, 2: 3, 6: 4}[colour]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\0" * (1 + edge * channels * depth // 8)
    packer = zlib.compressobj(9)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", edge, edge, depth, colour, 0, 0, 0)))
        parts = [packer.compress(row * 100) for _ in range(edge // 100)]
        parts += [packer.compress(row * (edge % 100)), packer.flush()]
        fh.write(chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    return path


_MEASURE = """
import json, resource, sys
from app.engine.photos.decode import decode_photo, ImageLoadError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    photo = decode_photo(sys.argv[1])
    outcome = {"size": list(photo.image.size)}
except ImageLoadError as exc:
    outcome = {"error": str(exc)}
outcome["added_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps(outcome))
"""


def _decode_in_a_fresh_process(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_a_13000px_16bit_rgba_png_is_refused_from_its_header(tmp_path: Path) -> None:
    outcome = _decode_in_a_fresh_process(_big_png(tmp_path / "big16.png", 13000, 16, 6))
    assert "13000x13000 16-bit RGBA" in outcome.get("error", "") and "MB limit" in outcome["error"], outcome
    assert outcome["added_mb"] < 300, outcome  # was 2.2 GB


def test_a_big_png_under_the_limit_is_reduced_before_conversion(tmp_path: Path) -> None:
    """6000x6000 RGBA: the 137 MB frame is decoded, then reduced before compositing and colour
    conversion, which used to take two more full-size copies."""
    outcome = _decode_in_a_fresh_process(_big_png(tmp_path / "rgba.png", 6000, 8, 6))
    assert outcome.get("size") == [1024, 1024], outcome
    assert outcome["added_mb"] < 300, outcome
