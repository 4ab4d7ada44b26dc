"""HTTP helpers for the API tests: raw requests with any headers, multipart bodies, raw sockets."""

from __future__ import annotations

import http.client
import io
import json
import socket
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlsplit

from PIL import Image


def jpeg_bytes(color: tuple[int, int, int] = (40, 90, 160), size: tuple[int, int] = (96, 64)) -> bytes:
    img = Image.new("RGB", size, color)
    img.putpixel((5, 5), (255, 255, 255))
    buffer = io.BytesIO()
    img.save(buffer, "JPEG")
    return buffer.getvalue()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body as curl -F (or a web page's form) builds it."""
    boundary = f"----mondrian{uuid.uuid4().hex}"
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, ctype) in files.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                  f"Content-Type: {ctype}\r\n\r\n".encode())
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def request(base: str, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, dict[str, str], Any]:
    """One request with exactly these headers (a given ``Host`` replaces the real one)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = dict(headers or {})
    try:
        conn.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
        for key, value in headers.items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        raw = resp.read()
        got = {k.lower(): v for k, v in resp.getheaders()}
        ctype = got.get("content-type", "")
        return resp.status, got, json.loads(raw) if ctype.startswith("application/json") else raw
    finally:
        conn.close()


def analyze_request(base: str, image: bytes, headers: dict[str, str] | None = None,
                    **fields: str) -> tuple[int, dict[str, str], Any]:
    body, ctype = multipart(fields, {"image": ("photo.jpg", image, "image/jpeg")})
    return request(base, "POST", "/analyze", body, {"Content-Type": ctype, **(headers or {})})


def connect(base: str, timeout: float = 30) -> socket.socket:
    parts = urlsplit(base)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def json_call(method: str, url: str, payload: object | None = None, raw: bytes | None = None) -> tuple[int, Any]:
    """One JSON request (``payload`` encoded, or ``raw`` bytes as they are): status and decoded body."""
    data = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())
