"""The review section of bench/faults.py: folder reviews against ``python -m app serve`` (issue 19).

Run: ``.venv/bin/python bench/faults.py --section review [--root CHECKOUT]``, or this file alone.
The server runs in its own process from ``--root`` (default: this checkout; an older checkout gives
the "before" column), measurement-only (no model), with a throwaway MONDRIAN_HOME. Each row: the
case, what was tried (with the figures measured), and whether it held:

* the scan cases (a folder holding a 20 GB sparse file, ``/usr`` recursive, 5,000 files): POST
  /reviews answers 202 within a second and ``/health`` p99 stays <= 200 ms while the folder is read;
  the review is then cancelled (DELETE /reviews/{id}/run), which must end it within 10 s;
* /reviews' JSON (text/plain, 100k-deep, a 30 MB folder, a lone surrogate): a 4xx JSON answer;
* a non-UTF-8 file name: reviewed to the end, shown readable with its bytes in ``path_b64``;
* a second review of a folder the server is reviewing, from the CLI: refused, naming the folder;
* an unreadable folder from the CLI (as an unprivileged user when run as root): exit 2 naming it;
* a 1.3 MB PNG of 13000x13000 16-bit RGBA uploaded to /analyze: refused clearly, peak RSS + < 300 MB.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faults_http import ROOT, Server, call, jpeg, multipart

Row = tuple[str, str, bool]
JSON = {"Content-Type": "application/json"}
NOBODY = 65534


def _json(reply: bytes) -> dict:
    try:
        value = json.loads(reply)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _p99(values: list[float]) -> float:
    ordered = sorted(values) or [float("nan")]
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


class HealthProbe:
    """GET /health in a loop on its own thread, recording each answer's latency."""

    def __init__(self, port: int):
        self.port = port
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                call(self.port, "GET", "/health")
            except OSError:
                pass
            self.latencies.append(time.perf_counter() - started)
            time.sleep(0.02)

    def __enter__(self) -> HealthProbe:
        for _ in range(5):  # warm: the first answers pay for imports, not for the scan
            call(self.port, "GET", "/health")
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(180)


def _state(port: int, review_id: str) -> dict:
    return _json(call(port, "GET", f"/reviews/{review_id}")[2]).get("review", {})


def scan_case(port: int, name: str, folder: Path, recursive: bool = False) -> Row:
    """POST the folder, measure /health while it is scanned, then cancel the review."""
    payload = json.dumps({"folder": str(folder), "recursive": recursive, "mode": "baseline"}).encode()
    with HealthProbe(port) as probe:
        time.sleep(0.2)
        started = time.perf_counter()
        status, _, reply = call(port, "POST", "/reviews", payload, JSON)
        post_s = time.perf_counter() - started
        review_id = _json(reply).get("review", {}).get("id", "")
        scanned = started
        deadline = time.monotonic() + 150
        while review_id and time.monotonic() < deadline and _state(port, review_id).get("state") in ("scanning",
                                                                                                     "queued"):
            time.sleep(0.1)
        scanned = time.perf_counter() - scanned
        time.sleep(max(0.0, 3.0 - scanned))  # at least 3 s of samples: a short scan is no free pass
    cancel_s = float("nan")
    if review_id:
        started = time.perf_counter()
        call(port, "DELETE", f"/reviews/{review_id}/run")
        while time.monotonic() < deadline and _json(call(port, "GET", f"/reviews/{review_id}")[2]).get("running"):
            time.sleep(0.1)
        cancel_s = time.perf_counter() - started
    p99 = _p99(probe.latencies)
    held = status == 202 and post_s < 1.0 and p99 <= 0.2 and cancel_s < 10
    return (f"review {name}", f"POST {post_s * 1000:.0f} ms, scan {scanned:.1f} s, /health p99 {p99 * 1000:.0f} ms "
            f"max {max(probe.latencies or [0]) * 1000:.0f} ms (n={len(probe.latencies)}), cancel {cancel_s:.1f} s",
            held)


def idle_case(port: int) -> Row:
    """The baseline: /health with nothing running, on this (shared, loaded) machine."""
    with HealthProbe(port) as probe:
        time.sleep(3)
    p99 = _p99(probe.latencies)
    return ("review baseline (idle)", f"/health p99 {p99 * 1000:.0f} ms max {max(probe.latencies) * 1000:.0f} ms "
            f"(n={len(probe.latencies)}), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
            p99 <= 0.2)


def cancel_while_scanning(port: int, folder: Path) -> Row:
    status, _, reply = call(port, "POST", "/reviews", json.dumps({"folder": str(folder)}).encode(), JSON)
    review_id = _json(reply).get("review", {}).get("id", "")
    time.sleep(0.5)
    scanning = bool(review_id) and _state(port, review_id).get("state") == "scanning"
    started = time.perf_counter()
    _, _, reply = call(port, "DELETE", f"/reviews/{review_id}/run")
    while time.perf_counter() - started < 30 and _json(call(port, "GET", f"/reviews/{review_id}")[2]).get("running"):
        time.sleep(0.05)
    took = time.perf_counter() - started
    final = _state(port, review_id) if review_id else {}
    return ("review cancel while scanning", f"DELETE during the scan of a 1 GB sparse file: "
            f"{final.get('state')} in {took:.1f} s", scanning and final.get("state") == "cancelled" and took < 10)


def json_cases(port: int) -> list[Row]:
    cases = [("text/plain", b'{"folder": "/tmp"}', {"Content-Type": "text/plain"}),
             ("100k-deep JSON", b"[" * 100_000 + b"]" * 100_000, JSON),
             ("30 MB folder string", json.dumps({"folder": "x" * (30 << 20)}).encode(), JSON),
             ("lone surrogate", b'{"folder": "/tmp/\\ud800"}', JSON)]
    rows = []
    for name, body, headers in cases:
        status, ctype, _ = call(port, "POST", "/reviews", body, headers)
        rows.append((f"review JSON: {name}", f"POST /reviews -> {status}",
                     400 <= status < 500 and ctype.startswith("application/json")))
    return rows


def non_utf8_case(port: int, tmp: Path) -> Row:
    folder = tmp / "names"
    folder.mkdir()
    (folder / os.fsdecode(b"caf\xe9.jpg")).write_bytes(jpeg())
    status, _, reply = call(port, "POST", "/reviews", json.dumps({"folder": str(folder)}).encode(), JSON)
    review_id = _json(reply).get("review", {}).get("id", "")
    deadline = time.monotonic() + 120
    while review_id and time.monotonic() < deadline and _json(call(port, "GET", f"/reviews/{review_id}")[2]).get(
            "running"):
        time.sleep(0.1)
    code, _, reply = call(port, "GET", f"/reviews/{review_id}")
    body = _json(reply)
    frames = body.get("summary", {}).get("frames", [])
    exact = bool(frames) and base64.b64decode(frames[0].get("path_b64", "")) == os.fsencode(
        folder / os.fsdecode(b"caf\xe9.jpg"))
    state = body.get("review", {}).get("state")
    return ("review non-UTF-8 name", f"caf\\xe9.jpg: POST {status}, GET {code}, state {state}, "
            f"shown {frames[0].get('name') if frames else None!r}, bytes exact {exact}",
            status == 202 and code == 200 and state == "completed" and exact)


def _cli(root: Path, home: Path, args: list[str], as_nobody: bool = False) -> subprocess.CompletedProcess[str]:
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if as_nobody else []
    env = {**os.environ, "MONDRIAN_HOME": str(home), "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([*prefix, sys.executable, "-m", "app", "review", *args, "--model", str(home / "no-model")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def two_reviews_case(root: Path, home: Path, port: int, folder: Path) -> Row:
    status, _, reply = call(port, "POST", "/reviews", json.dumps({"folder": str(folder)}).encode(), JSON)
    review_id = _json(reply).get("review", {}).get("id", "")
    time.sleep(0.3)
    done = _cli(root, home, [str(folder)])
    call(port, "DELETE", f"/reviews/{review_id}/run")
    refused = done.returncode == 2 and "another review of this folder" in done.stderr and str(folder) in done.stderr
    line = (done.stderr.strip().splitlines() or ["(nothing)"])[-1][:90]
    return ("review twice at once", f"CLI while the server scans it: exit {done.returncode}: {line}", refused)


def unreadable_case(root: Path, tmp: Path) -> Row:
    sealed = tmp / "sealed"
    sealed.mkdir()
    (sealed / "a.jpg").write_bytes(jpeg())
    home = tmp / "nobody-home"
    home.mkdir()
    home.chmod(0o777)
    as_nobody = os.geteuid() == 0
    if as_nobody and shutil.which("setpriv") is None:
        return ("review unreadable folder", "skipped: root without setpriv", False)
    sealed.chmod(0)
    try:
        done = _cli(root, home, [str(sealed)], as_nobody=as_nobody)
    finally:
        sealed.chmod(0o755)
    line = (done.stderr.strip().splitlines() or ["(nothing)"])[-1][:90]
    return ("review unreadable folder", f"CLI exit {done.returncode}: {line}",
            done.returncode == 2 and str(sealed) in done.stderr and "completed" not in done.stdout)


def big_png(path: Path, edge: int = 13000) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\0" * (1 + edge * 8)
    packer = zlib.compressobj(9)
    parts = [packer.compress(row * 100) for _ in range(edge // 100)] + [packer.flush()]
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", edge, edge, 16, 6, 0, 0, 0))
            + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def png_case(port: int, server: Server) -> Row:
    data = big_png(Path())
    body, ctype = multipart(data)
    body = body.replace(b'filename="p.jpg"', b'filename="big.png"').replace(b"image/jpeg", b"image/png")
    before = server.peak_rss_mb()
    status, _, reply = call(port, "POST", "/analyze", body, {"Content-Type": ctype})
    after = server.peak_rss_mb()
    message = _json(reply).get("error", "")[:80]
    return ("review 16-bit PNG 13000 px", f"{len(data) / 2**20:.1f} MB upload: {status} {message!r}; peak RSS "
            f"{before:.0f} -> {after:.0f} MB (+{after - before:.0f})", 400 <= status < 500 and after - before < 300)


def review_section(args: argparse.Namespace) -> list[Row]:
    root = Path(getattr(args, "root", None) or ROOT).resolve()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mondrian-faults-review-") as name:
        tmp = Path(name)
        tmp.chmod(0o755)
        home = tmp / "home"
        home.mkdir()
        sparse = tmp / "sparse"
        sparse.mkdir()
        (sparse / "a.jpg").write_bytes(jpeg())
        with open(sparse / "huge.tif", "wb") as fh:
            fh.truncate(20 << 30)
        many = tmp / "many"
        many.mkdir()
        photo = jpeg()
        for i in range(5000):
            (many / f"IMG_{i:04d}.jpg").write_bytes(photo + i.to_bytes(4, "big"))  # distinct content
        slow = tmp / "slow"
        slow.mkdir()
        with open(slow / "big.tif", "wb") as fh:
            fh.truncate(1 << 30)  # under the hash bound: hashed, slowly
        server = Server(root, home)
        try:
            rows.append(idle_case(server.port))
            rows.append(scan_case(server.port, "20 GB sparse file", sparse))
            rows.append(scan_case(server.port, "/usr recursive", Path("/usr"), recursive=True))
            rows.append(scan_case(server.port, "5,000 files", many))
            rows.append(cancel_while_scanning(server.port, slow))
            rows += json_cases(server.port)
            rows.append(non_utf8_case(server.port, tmp))
            rows.append(two_reviews_case(root, home, server.port, slow))
            if not getattr(args, "skip_memory", False) and Path("/proc/self/status").exists():
                rows.append(png_case(server.port, server))
        finally:
            server.stop()
        rows.append(unreadable_case(root, tmp))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose `python -m app serve` is tried")
    parser.add_argument("--skip-memory", action="store_true", help="skip the 13000 px PNG upload")
    args = parser.parse_args(argv)
    rows = review_section(args)
    print(f"checkout: {args.root}")
    for case, tried, held in rows:
        print(f"{case:<30}  {tried:<100}  {'yes' if held else 'NO'}")
    print(f"\n{sum(r[2] for r in rows)}/{len(rows)} held")
    return 0 if all(r[2] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
