"""Running the API under uvicorn, with the connection rules uvicorn itself does not have.

uvicorn's h11 protocol arms no timer while a request is being received, so a client that sends a
byte every few seconds (slowloris) holds its connection forever, and a malformed request (a
``Content-Length`` of ``abc``, a garbage request line) gets a ``text/plain`` 400. The protocol
here, a small subclass passed to uvicorn as its ``http`` class, gives every request a deadline
from its first byte to its last (408 JSON and close when it passes) and answers malformed framing
with the JSON error every other reply uses.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import h11

DEFAULT_HOST = "127.0.0.1"
DEFAULT_REQUEST_TIMEOUT_S = 60.0
MALFORMED = "malformed HTTP request (request line, a header or Content-Length cannot be parsed)"


@dataclass(frozen=True)
class ConnectionRules:
    """How long one request may take to arrive (headers and body), in seconds."""

    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S


def _json_response(conn: h11.Connection, status: int, message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    out = conn.send(h11.Response(status_code=status, headers=headers))
    out = (out or b"") + (conn.send(h11.Data(data=body)) or b"")
    return out + (conn.send(h11.EndOfMessage()) or b"")


def protocol_class(rules: ConnectionRules) -> type[asyncio.Protocol]:
    """An H11Protocol subclass bound to ``rules`` (uvicorn instantiates the class itself)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol  # lazy: uvicorn only when serving

    class GuardedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._deadline is None and self.conn.their_state is h11.IDLE:
                self._arm()  # the first byte of the next request on a kept-alive connection
            super().data_received(data)
            if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
                self._disarm()  # the whole request has arrived (or the connection is over)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            try:
                self.transport.write(_json_response(self.conn, 400, MALFORMED))
            except h11.LocalProtocolError:
                pass
            self.transport.close()

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(rules.request_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is None or not cycle.response_started:
                message = (f"the request did not arrive within {rules.request_timeout_s:g} s "
                           "(setting request_timeout_s); the connection is closed")
                try:
                    self.transport.write(_json_response(self.conn, 408, message))
                except h11.LocalProtocolError:
                    pass
            if cycle is not None:
                cycle.disconnected = True  # the app's receive() now reports http.disconnect
                cycle.message_event.set()
            self.transport.close()

    return GuardedH11Protocol


def uvicorn_config(app: Any, *, host: str = DEFAULT_HOST, port: int = 0, rules: ConnectionRules | None = None,
                   log_level: str = "warning") -> Any:
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="off",
                          http=protocol_class(rules or ConnectionRules()), server_header=False)


class BackgroundServer:
    """Uvicorn on a thread (tests, or a GUI that offers the API); port 0 picks a free port."""

    def __init__(self, app: Any, host: str = DEFAULT_HOST, port: int = 0, log_level: str = "warning",
                 rules: ConnectionRules | None = None):
        import uvicorn

        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port = self._socket.getsockname()[1]
        self.server = uvicorn.Server(uvicorn_config(app, host=host, port=self.port, rules=rules,
                                                    log_level=log_level))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 15.0) -> BackgroundServer:
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._socket]},
                                        name="mondrian-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
