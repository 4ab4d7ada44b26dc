"""The local HTTP API (FastAPI): the seed service's ``POST /analyze`` and friends, over one service.

* ``POST /analyze`` (multipart: ``image``, ``advisor``, ``mode``) returns the critique JSON with
  ``X-Analysis-Mode`` (effective), ``X-Requested-Mode``, ``X-Advisor-ID``, ``X-Model-Used`` and
  ``X-Job-ID`` headers.
* ``GET /health``, ``GET /advisors``, ``GET /jobs``, ``GET /jobs/{id}``, ``POST /jobs/{id}/rating``.

Every error is JSON ``{"error": "..."}`` with a 4xx/5xx status, and the server stays up. The
handlers are plain functions (FastAPI runs them on its thread pool) calling the blocking service;
the service queues all model work to its model host's one thread, so concurrent requests never
touch the model at once and there is only ever one model in memory. A bounded number of critiques
may wait (``max_queue``); beyond that the API answers 503 rather than piling up.

Uploads are limited in size (``Settings.max_upload_mb``) by an ASGI wrapper that counts the body
before FastAPI parses it: an over-size upload is 413 and never reaches the multipart parser.
Uploaded photos are decoded in memory and not kept (the job keeps a thumbnail and the hash).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.reviews import register_reviews
from app.engine.adapters.manager import AdapterError
from app.engine.advisors import AdvisorError, UnknownAdvisorError, get_advisor
from app.engine.jobs import image_sha256
from app.engine.model.host import CancelledError
from app.engine.photos.decode import ImageLoadError, photo_from_bytes
from app.engine.photos.prepare import ANALYSIS_EDGE
from app.engine.service import MondrianService
from app.engine.strategies.context import UnknownModeError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5100
DEFAULT_MAX_QUEUE = 16
MB = 1024 * 1024
_DRAIN_CAP = 1024 * MB  # read (and drop) at most this much of an over-size upload before answering


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _header_text(value: Any) -> str:
    """Header values must be latin-1; ours are ids and mode names, but never let one break a response."""
    return str(value if value is not None else "").encode("ascii", "replace").decode("ascii")


# --------------------------------------------------------------------------- upload size limit


class UploadLimit:
    """ASGI wrapper: bodies larger than ``max_bytes`` get 413 before the app (and its parser) runs."""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = None
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reply(send, 400, "Content-Length is not a number")
                    return
        if declared is not None and declared > self.max_bytes:
            await self._drain(receive, declared)
            await self._too_large(send, declared)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                if message.get("more_body", False):
                    size += await self._drain(receive, None)
                await self._too_large(send, size)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive: Any, declared: int | None) -> int:
        """Read the rest of the body so the client gets to read our 413 (curl and urllib send first)."""
        if declared is not None and declared > _DRAIN_CAP:
            return 0
        total = 0
        while total <= _DRAIN_CAP:
            message = await receive()
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return total

    async def _too_large(self, send: Any, size: int) -> None:
        limit_mb = self.max_bytes / MB
        await self._reply(send, 413, f"the upload is {size / MB:.1f} MB; the limit is {limit_mb:g} MB "
                                     "(setting max_upload_mb)")

    @staticmethod
    async def _reply(send: Any, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- the app


def create_app(service: MondrianService, *, max_queue: int = DEFAULT_MAX_QUEUE) -> FastAPI:
    """The FastAPI app over ``service`` (wrap it with :func:`with_upload_limit` to serve it)."""
    from app import __version__

    app = FastAPI(title="Mondrian", version=__version__,
                  description="Private, offline photo critique from a local vision-language model.")
    app.state.service = service
    slots = threading.BoundedSemaphore(max_queue)
    pending = [0]
    pending_lock = threading.Lock()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for item in exc.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path"))
            problems.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
        return error(400, "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.get("/health")
    def health() -> dict[str, Any]:
        host = service.host
        strategy = service.model_strategy
        with pending_lock:
            waiting = pending[0]
        return {
            "status": "ok", "version": __version__, "model": service.settings.model,
            "model_loaded": host.loaded is not None, "model_available": service.model_available(),
            "model_mode": strategy.name if strategy else "per_request",
            "model_strategy": strategy.describe() if strategy else {"model_mode": "per_request"},
            "modes": service.modes, "critiques_in_progress": waiting,
            "history": service.recorder.store is not None,
        }

    @app.get("/advisors")
    def advisors() -> dict[str, Any]:
        found = service.advisors()
        return {"advisors": [a.to_dict() for a in found.values()], "modes": service.modes,
                "default_advisor": service.settings.default_advisor, "default_mode": service.settings.default_mode}

    @app.post("/analyze")
    def analyze(image: Annotated[UploadFile, File(description="the photo (JPEG, PNG, TIFF, WebP, HEIC)")],
                advisor: Annotated[str | None, Form()] = None, mode: Annotated[str | None, Form()] = None) -> Any:
        advisor_id = (advisor or service.settings.default_advisor).strip()
        requested = (mode or service.settings.default_mode).strip().lower()
        try:
            chosen = get_advisor(advisor_id)
        except UnknownAdvisorError as exc:
            return error(404, str(exc))
        except AdvisorError as exc:
            return error(400, str(exc))
        if requested not in service.modes:
            return error(400, f"unknown mode {mode!r}; choose one of: {', '.join(service.modes)}")
        name = Path(image.filename or "upload").name or "upload"
        data = image.file.read()
        try:
            photo = photo_from_bytes(data, name, max_edge=max(ANALYSIS_EDGE, service.settings.max_image_edge))
        except ImageLoadError as exc:
            return error(400, str(exc))
        if not slots.acquire(blocking=False):
            return error(503, f"busy: {max_queue} critiques are already waiting; try again shortly",
                         {"Retry-After": "5"})
        with pending_lock:
            pending[0] += 1
        try:
            result = service.critique_image(photo, f"upload:{name}", chosen, requested,
                                            photo_hash=image_sha256(data))
        except UnknownModeError as exc:
            return error(400, str(exc))
        except AdapterError as exc:  # the fine-tuned model was asked for explicitly and cannot be used
            return error(409, str(exc))
        except CancelledError:
            return error(503, "the critique was cancelled (the service is shutting down)")
        except Exception as exc:  # noqa: BLE001 - one failed critique must not take the server down
            log.exception("critique of %s failed", name)
            return error(500, f"the critique failed: {type(exc).__name__}: {exc}")
        finally:
            with pending_lock:
                pending[0] -= 1
            slots.release()
        headers = {
            "X-Analysis-Mode": result.effective_mode, "X-Requested-Mode": result.requested_mode,
            "X-Advisor-ID": result.advisor_id, "X-Model-Used": result.model_used,
            "X-Job-ID": result.job_id or "",
        }
        if result.fallback_reason:
            headers["X-Fallback-Reason"] = result.fallback_reason
        return JSONResponse(result.to_dict(), headers={k: _header_text(v) for k, v in headers.items()})

    def _store() -> Any:
        store = service.recorder.store
        if store is None:
            raise StarletteHTTPException(503, "job history is off for this service")
        return store

    @app.get("/jobs")
    def jobs(limit: int = 20, advisor: str | None = None) -> Any:
        if not 1 <= limit <= 500:
            return error(400, f"limit must be from 1 to 500, not {limit}")
        rows = _store().list_jobs(advisor_id=advisor, limit=limit)
        out = []
        for row in rows:
            item = row.to_dict()
            item.pop("raw_output", None)
            item.pop("details", None)
            out.append(item)
        return {"jobs": out}

    @app.get("/jobs/{job_id}")
    def job(job_id: str) -> Any:
        row = _store().find_job(job_id)
        if row is None:
            return error(404, f"no job {job_id!r}")
        return row.to_dict()

    @app.post("/jobs/{job_id}/rating")
    async def rate(job_id: str, request: Request) -> Any:
        try:
            payload = json.loads(await request.body() or b"{}")
        except ValueError:
            return error(400, 'the body must be JSON like {"rating": 4}')
        if not isinstance(payload, dict):
            return error(400, 'the body must be a JSON object like {"rating": 4}')
        unknown = set(payload) - {"rating", "comment", "winner"}
        if unknown:
            return error(400, f"unknown field(s): {', '.join(sorted(unknown))} (use rating, comment, winner)")
        store = _store()
        if store.find_job(job_id) is None:
            return error(404, f"no job {job_id!r}")
        comment = payload.get("comment")
        if comment is not None and not isinstance(comment, str):
            return error(400, "comment must be text")
        try:
            rating = store.add_rating(job_id, payload.get("rating"), winner=payload.get("winner"), comment=comment)
        except ValueError as exc:
            return error(400, str(exc))
        return {"job": store.get_job(job_id).to_dict(), "rating": rating.__dict__}

    register_reviews(app, service)  # POST /reviews, GET /reviews/{id} (app/api/reviews.py)
    return app


def with_upload_limit(app: FastAPI, max_upload_mb: float) -> UploadLimit:
    return UploadLimit(app, int(max_upload_mb * MB))


def build_asgi(service: MondrianService, *, max_queue: int = DEFAULT_MAX_QUEUE,
               max_upload_mb: float | None = None) -> UploadLimit:
    """The app as served: FastAPI inside the upload limit."""
    limit = service.settings.max_upload_mb if max_upload_mb is None else max_upload_mb
    return with_upload_limit(create_app(service, max_queue=max_queue), limit)


# --------------------------------------------------------------------------- running it


class BackgroundServer:
    """Uvicorn on a thread (tests, or a GUI that offers the API); port 0 picks a free port."""

    def __init__(self, app: Any, host: str = DEFAULT_HOST, port: int = 0, log_level: str = "warning"):
        import uvicorn

        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port = self._socket.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="off"))
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
