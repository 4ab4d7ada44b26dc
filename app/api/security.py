"""Who may talk to the local API: the checks a local model server needs before any route runs.

A server on 127.0.0.1 is reachable from every web page the user opens. Two doors matter:

* **DNS rebinding**: a page on ``attacker.example`` re-points its name at 127.0.0.1 and then reads
  our answers as "same origin". The browser still sends ``Host: attacker.example``, so only
  loopback names, the names the user configured and (off loopback) IP literals are accepted: a
  rebinding attack always arrives under a domain name.
* **Cross-site requests**: a page may POST a form (multipart) or ``text/plain`` to us without a
  preflight. Browsers mark such requests with ``Origin`` (and ``Sec-Fetch-Site``); an Origin that
  is not on the allow-list (setting ``allowed_origins``, or ``MONDRIAN_ORIGINS`` as Ollama has
  ``OLLAMA_ORIGINS``) is refused, and JSON endpoints require a JSON content type (see limits.py).

Binding beyond loopback additionally requires a bearer token (``Authorization: Bearer ...``),
compared in constant time. The token is generated once, kept in the data folder with mode 0600.
"""

from __future__ import annotations

import fnmatch
import hmac
import ipaddress
import json
import os
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.types import Receive, Scope, Send

from app.engine import atomic, paths

ORIGINS_ENV = "MONDRIAN_ORIGINS"
TOKEN_FILE = "api_token"
LOOPBACK_NAMES = ("localhost", "localhost.")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def split_host(value: str) -> str:
    """The host part of a ``Host`` header value (``[::1]:5100`` -> ``::1``, ``a.b:80`` -> ``a.b``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def env_origins() -> list[str]:
    return [o.strip() for o in os.environ.get(ORIGINS_ENV, "").split(",") if o.strip()]


@dataclass
class AccessRules:
    """The allow-lists and the token; built once per server from settings, flags and the bind address."""

    allowed_hosts: list[str] = field(default_factory=list)  # extra Host names (exact or fnmatch patterns)
    allowed_origins: list[str] = field(default_factory=list)  # extra Origins ("*" allows every origin)
    any_ip_host: bool = False  # off loopback: accept Host values that are IP literals
    token: str | None = None  # required as a bearer token when set

    @classmethod
    def for_bind(cls, host: str, *, allowed_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = (),
                 token: str | None = None) -> AccessRules:
        """Rules for a server bound to ``host``: off loopback, the machine's names and IP literals too."""
        names = [h.strip().lower() for h in allowed_hosts if h.strip()]
        origins = [o.strip().rstrip("/") for o in [*allowed_origins, *env_origins()] if o.strip()]
        loopback = is_loopback(host)
        if not loopback:
            if token is None:
                raise ValueError(f"binding to {host} (not loopback) needs an access token")
            machine = socket.gethostname().lower()
            names += [machine, f"{machine.split('.')[0]}.local", socket.getfqdn().lower()]
            if not _is_ip(host) and host not in ("", "*"):
                names.append(host.lower())
        return cls(allowed_hosts=names, allowed_origins=origins, any_ip_host=not loopback, token=token)

    def host_allowed(self, header: str | None) -> bool:
        if not header:
            return False
        name = split_host(header)
        if is_loopback(name) or (self.any_ip_host and _is_ip(name)):
            return True
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allowed_hosts)

    def origin_allowed(self, origin: str) -> bool:
        """Loopback pages (any port) and the configured origins; ``null`` (a sandbox, a file) is foreign."""
        origin = origin.strip().rstrip("/").lower()
        if any(p == "*" or fnmatch.fnmatchcase(origin, p.lower()) for p in self.allowed_origins):
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and is_loopback(parts.hostname or "")

    def token_ok(self, authorization: str | None) -> bool:
        if self.token is None:
            return True
        scheme, _, value = (authorization or "").partition(" ")
        given = value.strip() if scheme.lower() == "bearer" else ""
        return hmac.compare_digest(given.encode(), self.token.encode())


# --------------------------------------------------------------------------- the token file


def token_path() -> Path:
    return paths.data_dir() / TOKEN_FILE


def load_or_create_token(*, rotate: bool = False) -> tuple[str, bool]:
    """The API token and whether it was just created (then it is shown once, by the caller).

    Stored in ``<data>/api_token`` with mode 0600 (atomic writes go through mkstemp, which makes
    files 0600); a token file readable by others is refused rather than trusted.
    """
    path = token_path()
    if path.exists() and not rotate:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(f"{path}: the API token file is readable by others (mode {mode:o}); "
                                  "run `chmod 600` on it or delete it to make a new token")
        token = path.read_text(encoding="ascii").strip()
        if len(token) >= 32:
            return token, False
    token = secrets.token_urlsafe(32)
    atomic.write_text(path, token + "\n")
    os.chmod(path, 0o600)
    return token, True


# --------------------------------------------------------------------------- the ASGI guard


class AccessGuard:
    """ASGI middleware: Host, then Origin / Sec-Fetch-Site, then the token, before any route runs."""

    def __init__(self, app: Any, rules: AccessRules):
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self.refusal(headers, scope.get("method", "GET"))
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, message, extra = refusal
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), *extra]})
        await send({"type": "http.response.body", "body": body})

    def refusal(self, headers: dict[str, str], method: str) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        host = headers.get("host")
        if not self.rules.host_allowed(host):
            return 421, (f"Host {host!r} is not a name of this server; allowed: loopback names"
                         + (f" and {', '.join(self.rules.allowed_hosts)}" if self.rules.allowed_hosts else "")
                         + " (setting allowed_hosts)"), []
        origin = headers.get("origin")
        if origin is not None and not self.rules.origin_allowed(origin):
            return 403, (f"cross-site request from Origin {origin!r} refused; allow it with the "
                         f"allowed_origins setting or {ORIGINS_ENV}"), []
        if origin is None and headers.get("sec-fetch-site") == "cross-site":
            return 403, "cross-site request refused (Sec-Fetch-Site: cross-site without an allowed Origin)", []
        if method != "OPTIONS" and not self.rules.token_ok(headers.get("authorization")):
            given = "no" if "authorization" not in headers else "a wrong"
            return 401, (f"{given} access token: send Authorization: Bearer <token> (serve shows it when it "
                         f"makes it; it is kept in the data folder as {TOKEN_FILE})"), \
                [(b"www-authenticate", b'Bearer realm="mondrian"')]
        return None
