"""The HTTP section of bench/faults.py: attacks and faults replayed against ``python -m app serve``.

Run: ``.venv/bin/python bench/faults.py --section http [--root CHECKOUT] [--skip-memory]``, or this
file alone with the same options. The server runs in
its own process from ``--root`` (default: this checkout; point it at an older checkout to get the
"before" column), measurement-only (no model), with a throwaway MONDRIAN_HOME. Each row: the case,
what was tried, and whether it held (the attack refused or the fault answered cleanly). Full disk
and hang-up cancellation need the server's internals and are covered by tests/test_api_limits.py.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOREIGN = "https://attacker.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port: int, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = dict(headers or {})
    try:
        conn.putrequest(method, path, skip_host="Host" in headers)
        for key, value in headers.items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.getheader("content-type") or "", resp.read()
    finally:
        conn.close()


def raw(port: int, data: bytes, wait: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return out


def multipart(image: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="advisor"\r\n\r\nansel\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def jpeg(size: tuple[int, int] = (96, 64), noise: bool = False) -> bytes:
    import numpy as np
    from PIL import Image

    if noise:
        pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        img = Image.fromarray(pixels)
    else:
        img = Image.new("RGB", size, (40, 90, 160))
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


class Server:
    """``python -m app serve`` from ``root`` in its own process."""

    def __init__(self, root: Path, home: Path, *args: str):
        self.port = free_port()
        env = {**os.environ, "MONDRIAN_HOME": str(home), "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1"}
        host = ["--host", "0.0.0.0"] if "--exposed" in args else []
        rest = [a for a in args if a != "--exposed"]
        self.log = (home / f"serve-{self.port}.log").open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(self.port), "--model",
                                      str(home / "no-model"), *host, *rest], cwd=root, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {(home / f'serve-{self.port}.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("serve did not come up") from None
                time.sleep(0.2)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server has closed the connection (EOF, after any answer), False if still open."""
    sock.settimeout(0.5)
    try:
        while sock.recv(65536):
            pass
        return True
    except TimeoutError:
        return False
    except OSError:
        return True


def is_json_4xx(status: int, ctype: str) -> bool:
    return 400 <= status < 500 and ctype.startswith("application/json")


def http_cases(port: int, job_id: str) -> list[tuple[str, str, Callable[[], bool]]]:
    rating = f"/jobs/{job_id}/rating"
    body, ctype = multipart(jpeg())

    def slowloris() -> bool:
        socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(30)]
        line = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        closed = 0
        for i in range(20):  # a byte every 0.5 s for 10 s
            for sock in socks:
                try:
                    sock.sendall(line[i:i + 1] if i < len(line) else b"a")
                except OSError:
                    pass
            time.sleep(0.5)
        for sock in socks:
            closed += closed_by_server(sock)
            sock.close()
        return closed == len(socks)

    return [
        ("DNS rebinding", "GET /jobs with Host: attacker.example",
         lambda: call(port, "GET", "/jobs", headers={"Host": "attacker.example"})[0] in (400, 403, 421)),
        ("foreign Origin", f"GET /jobs with Origin: {FOREIGN}",
         lambda: call(port, "GET", "/jobs", headers={"Origin": FOREIGN})[0] == 403),
        ("cross-site text/plain", "POST rating as text/plain (no Origin)",
         lambda: call(port, "POST", rating, b'{"rating": 1}', {"Content-Type": "text/plain"})[0] == 415),
        ("cross-site form", "multipart POST /analyze with a foreign Origin",
         lambda: call(port, "POST", "/analyze", body, {"Content-Type": ctype, "Origin": FOREIGN})[0] == 403),
        ("Sec-Fetch-Site", "GET /jobs with Sec-Fetch-Site: cross-site",
         lambda: call(port, "GET", "/jobs", headers={"Sec-Fetch-Site": "cross-site"})[0] == 403),
        ("nested JSON", "rating body [[[...]]] 100,000 deep",
         lambda: is_json_4xx(*call(port, "POST", rating, b"[" * 100_000 + b"]" * 100_000,
                                   {"Content-Type": "application/json"})[:2])),
        ("long comment", "rating with a 1 MB comment",
         lambda: is_json_4xx(*call(port, "POST", rating, json.dumps({"rating": 3, "comment": "x" * 2**20}).encode(),
                                   {"Content-Type": "application/json"})[:2])),
        ("Content-Length: abc", "raw request", lambda: b"application/json" in raw(
            port, b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n")),
        ("Content-Length: -5", "raw request", lambda: b"application/json" in raw(
            port, b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n")),
        ("garbage request line", "raw request", lambda: b"application/json" in raw(port, b"GARBAGE\r\n\r\n")),
        ("slowloris", "30 connections, a header byte every 0.5 s for 10 s", slowloris),
        ("interactive docs", "GET /docs", lambda: call(port, "GET", "/docs")[0] == 404),
    ]


def token_cases(root: Path, home: Path, extra: list[str]) -> list[tuple[str, str, bool]]:
    server = Server(root, home, "--exposed", *extra)
    try:
        token_file = home / "data" / "api_token"
        token = token_file.read_text().strip() if token_file.exists() else ""
        missing = call(server.port, "GET", "/jobs")[0] == 401
        wrong = call(server.port, "GET", "/jobs", headers={"Authorization": "Bearer not-it"})[0] == 401
        right = bool(token) and call(server.port, "GET", "/jobs",
                                     headers={"Authorization": f"Bearer {token}"})[0] == 200
        mode = bool(token) and token_file.stat().st_mode & 0o777 == 0o600
    finally:
        server.stop()
    return [("token: missing", "--host 0.0.0.0, GET /jobs without a token", missing),
            ("token: wrong", "--host 0.0.0.0, a wrong bearer token", wrong),
            ("token: right", "--host 0.0.0.0, the token from the data folder (0600)", right and mode)]


def memory_case(root: Path, home: Path) -> tuple[str, str, bool]:
    photo = jpeg((6000, 4000), noise=True)
    server = Server(root, home, "--max_upload_mb", "40", *(["--max-uploads", "6"] if supports(root, "--max-uploads")
                                                          else []))
    try:
        body, ctype = multipart(jpeg())
        call(server.port, "POST", "/analyze", body, {"Content-Type": ctype})
        before = server.peak_rss_mb()
        big, big_type = multipart(photo)
        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(lambda _: call(server.port, "POST", "/analyze", big,
                                                    {"Content-Type": big_type})[0], range(6)))
        after = server.peak_rss_mb()
    finally:
        server.stop()
    growth = after - before
    return ("six large uploads", f"6 x {len(photo) / 2**20:.0f} MB at once: peak RSS {before:.0f} -> {after:.0f} MB "
            f"(+{growth:.0f}), statuses {sorted(set(statuses))}", growth < 250 and set(statuses) <= {200, 503})


def supports(root: Path, flag: str) -> bool:
    out = subprocess.run([sys.executable, "-m", "app", "serve", "--help"], cwd=root, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(root)})
    return flag in out.stdout


def http_section(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    root = Path(getattr(args, "root", None) or ROOT).resolve()
    rows: list[tuple[str, str, bool]] = []
    with tempfile.TemporaryDirectory(prefix="mondrian-faults-http-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        extra = ["--request-timeout", "3"] if supports(root, "--request-timeout") else []
        server = Server(root, home, *extra)
        try:
            body, ctype = multipart(jpeg())
            status, _, reply = call(server.port, "POST", "/analyze", body, {"Content-Type": ctype})
            job_id = json.loads(reply).get("job_id") or "none"
            for name, tried, check in http_cases(server.port, job_id):
                try:
                    held = bool(check())
                except Exception as exc:  # noqa: BLE001 - a crash of the check is "did not hold"
                    held, tried = False, f"{tried} ({type(exc).__name__})"
                rows.append((f"http {name}", tried, held))
        finally:
            server.stop()
        exposed = Path(tmp) / "exposed-home"
        exposed.mkdir()
        rows += [(f"http {name}", tried, held) for name, tried, held in token_cases(root, exposed, extra)]
        if not getattr(args, "skip_memory", False) and Path("/proc/self/status").exists():
            name, tried, held = memory_case(root, home)
            rows.append((f"http {name}", tried, held))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose `python -m app serve` is tried "
                                                                "(http section)")
    parser.add_argument("--skip-memory", action="store_true", help="skip the six 22 MB uploads (http section)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    rows = http_section(parser.parse_args(argv))
    print(f"checkout: {parser.parse_args(argv).root}")
    for case, tried, held in rows:
        print(f"{case:<28}  {tried:<70}  {'yes' if held else 'NO'}")
    print(f"\n{sum(r[2] for r in rows)}/{len(rows)} held")
    return 0 if all(r[2] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
