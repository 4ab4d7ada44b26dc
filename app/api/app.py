"""The local HTTP API (FastAPI): ``POST /analyze`` and friends, over one service.

* ``POST /analyze`` (multipart: ``image``, ``advisor``, ``mode``) returns the critique JSON
  (:meth:`CritiqueResult.to_dict`) with ``X-Analysis-Mode`` (effective), ``X-Requested-Mode``,
  ``X-Advisor-ID``, ``X-Model-Used``, ``X-Job-ID`` and, when an adapter is involved,
  ``X-Adapter-Version`` headers.
* ``GET /health``, ``GET /advisors``, ``GET /jobs``, ``GET /jobs/{id}``, ``POST /jobs/{id}/rating``;
  a job is the same critique JSON plus the job's own fields (:func:`job_dict`).

Every error is JSON ``{"error": "..."}`` with a 4xx/5xx status, and the server stays up. A
generation that produced no report (cut at a user's token cap, or unreadable when unconstrained)
is 502 with the error and the whole result (``partial_report``, ``parse_problems``, ``raw_text``);
a generation that raised is 500. The handlers call the blocking service on worker threads
(FastAPI's thread pool, or anyio's for ``/analyze``); the service queues all model work to its
model host's one thread, so concurrent requests never
touch the model at once and there is only ever one model in memory. A bounded number of critiques
may wait (``max_queue``); beyond that the API answers 503 rather than piling up.

As served (:func:`build_asgi`), the app sits inside the access guard (security.py: Host and Origin
allow-lists, the bearer token off loopback), CORS for the allowed origins, and the upload limit
(limits.py: size, uploads in flight). Uploads are admitted, decoded one at a time and cancelled
when the client hangs up (uploads.py); they are not kept (the job keeps a thumbnail, for
``upload_thumbnail_days``, and the hash). Storage faults answer 507/503 (errors.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.compare import register_compare
from app.api.conversations import register_conversations
from app.api.culls import register_culls
from app.api.errors import ERROR_RESPONSES, install_error_handlers
from app.api.limits import (
    DEFAULT_MAX_UPLOADS,
    MAX_COMMENT_CHARS,
    MB,
    RATING_BODY,
    UploadLimit,
    check_text,
    read_json,
)
from app.api.retention import jobs_router, prune_upload_thumbnails
from app.api.reviews import register_reviews
from app.api.security import AccessGuard, AccessRules, is_loopback
from app.api.server import DEFAULT_HOST, BackgroundServer
from app.api.uploads import Admission, Busy, FormError, advisor_and_mode, critique_upload
from app.engine.adapters.manager import AdapterError
from app.engine.critique.result import job_dict
from app.engine.model.host import CancelledError
from app.engine.photos.decode import ImageLoadError
from app.engine.service import MondrianService
from app.engine.store.path_text import json_safe
from app.engine.vocabulary import UnknownModeError

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_HOST", "BackgroundServer", "build_asgi", "create_app", "is_loopback"]

DEFAULT_MAX_QUEUE = 16


class SafeJSONResponse(JSONResponse):
    """JSON whose strings are always valid UTF-8: a file name that is not (``caf\\xe9.jpg`` on
    Linux) is written readable as ``caf\\\\xe9.jpg``, with ``<field>_b64`` beside it holding its exact
    bytes (app/engine/store/path_text.py). Every route answers through it."""

    def render(self, content: Any) -> bytes:
        return super().render(json_safe(content))


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return SafeJSONResponse({"error": message}, status_code=status, headers=headers)


def _header_text(value: Any) -> str:
    """Header values must be latin-1; ours are ids and mode names, but never let one break a response."""
    return str(value if value is not None else "").encode("ascii", "replace").decode("ascii")


# --------------------------------------------------------------------------- the app


def create_app(service: MondrianService, *, max_queue: int = DEFAULT_MAX_QUEUE, docs: bool = False) -> FastAPI:
    """The FastAPI app over ``service`` (serve it through :func:`build_asgi`). ``docs``: the
    interactive /docs and /redoc pages and /openapi.json (off by default: the pages load scripts
    from the web and show every route to any page that can reach the port)."""
    from app import __version__

    app = FastAPI(title="Mondrian", version=__version__,
                  description="Private, offline photo critique from a local vision-language model.",
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None, responses=ERROR_RESPONSES,
                  default_response_class=SafeJSONResponse)
    app.state.service = service
    admission = app.state.admission = Admission(max_queue)
    install_error_handlers(app)
    app.include_router(jobs_router(service))
    prune_upload_thumbnails(service)

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
        policy = service.weights_policy
        waiting = admission.pending
        return {
            "status": "ok", "version": __version__, "model": service.settings.model,
            "model_loaded": service.model_loaded, "model_available": service.model_available(),
            "model_mode": policy.name.value if policy else "per_request",
            "weights_policy": policy.describe() if policy else {"model_mode": "per_request"},
            "modes": service.modes, "critiques_in_progress": waiting,
            "history": service.recorder.store is not None,
        }

    @app.get("/advisors")
    def advisors() -> dict[str, Any]:
        found = service.advisors()
        return {"advisors": [a.to_dict() for a in found.values()], "modes": service.modes,
                "default_advisor": service.settings.default_advisor, "default_mode": service.settings.default_mode}

    @app.post("/analyze")
    async def analyze(request: Request,
                      image: Annotated[UploadFile, File(description="the photo (JPEG, PNG, TIFF, WebP, HEIC)")],
                      advisor: Annotated[str | None, Form(max_length=200)] = None,
                      mode: Annotated[str | None, Form(max_length=200)] = None) -> Any:
        try:
            chosen, requested = advisor_and_mode(service, advisor, mode)
        except FormError as exc:
            return error(exc.status, str(exc))
        name = Path(image.filename or "upload").name or "upload"
        try:
            result = await critique_upload(request, service, admission, image, name, chosen, requested)
        except Busy as exc:
            return error(503, str(exc), {"Retry-After": "5"})
        except ImageLoadError as exc:
            return error(400, str(exc))
        except UnknownModeError as exc:
            return error(400, str(exc))
        except AdapterError as exc:  # the fine-tuned model was asked for explicitly and cannot be used
            return error(409, str(exc))
        except CancelledError:
            return error(503, "the critique was cancelled (the client hung up or the service is shutting down)")
        except Exception as exc:  # one failed critique must not take the server down
            log.exception("critique of %s failed", name)
            return error(500, f"the critique failed: {type(exc).__name__}: {exc}")
        prune_upload_thumbnails(service)
        headers = {
            "X-Analysis-Mode": result.effective_mode, "X-Requested-Mode": result.requested_mode,
            "X-Advisor-ID": result.advisor_id, "X-Model-Used": result.model_used,
            "X-Job-ID": result.job_id or "",
        }
        if result.adapter_version:
            headers["X-Adapter-Version"] = result.adapter_version
        if result.fallback_reason:
            headers["X-Fallback-Reason"] = result.fallback_reason
        body, status = result.to_dict(), 200
        if not result.ok:  # the model answered but no report came of it: 502, the result kept beside the error
            body, status = {"error": "no report: " + ("; ".join(result.parse_problems) or "no output"), **body}, 502
        return JSONResponse(body, status_code=status, headers={k: _header_text(v) for k, v in headers.items()})

    def _store() -> Any:
        store = service.recorder.store
        if store is None:
            raise StarletteHTTPException(503, "job history is off for this service")
        return store

    @app.get("/jobs")
    def jobs(limit: int = 20, advisor: str | None = None) -> Any:
        if not 1 <= limit <= 500:
            return error(400, f"limit must be from 1 to 500, not {limit}")
        rows = _store().jobs.list_jobs(advisor_id=advisor, limit=limit)
        return {"jobs": [job_dict(row, brief=True) for row in rows]}

    @app.get("/jobs/{job_id}")
    def job(job_id: str) -> Any:
        row = _store().jobs.find_job(job_id)
        if row is None:
            return error(404, f"no job {job_id!r}")
        return job_dict(row)

    @app.post("/jobs/{job_id}/rating", openapi_extra=RATING_BODY)
    async def rate(job_id: str, request: Request) -> Any:
        payload = await read_json(request)
        if not isinstance(payload, dict):
            return error(400, 'the body must be a JSON object like {"rating": 4}')
        unknown = set(payload) - {"rating", "comment", "winner"}
        if unknown:
            return error(400, f"unknown field(s): {', '.join(sorted(unknown))} (use rating, comment, winner)")
        store = _store()
        if store.jobs.find_job(job_id) is None:
            return error(404, f"no job {job_id!r}")
        comment = check_text("comment", payload.get("comment"), MAX_COMMENT_CHARS)
        try:
            rating = store.ratings.add_rating(job_id, payload.get("rating"), winner=payload.get("winner"), comment=comment)
        except ValueError as exc:
            return error(400, str(exc))
        return {"job": job_dict(store.jobs.get_job(job_id)), "rating": rating.__dict__}

    register_reviews(app, service)  # POST /reviews, GET /reviews/{id} (app/api/reviews.py)
    register_culls(app, service)  # GET/POST /reviews/{id}/cull: the window's culling keys (app/api/culls.py)
    register_conversations(app, service)  # /jobs/{id}/messages and /crop (app/api/conversations.py)
    register_compare(app, service, admission)  # POST /compare: base vs fine-tuned, blind A/B (app/api/compare.py)
    return app


def build_asgi(service: MondrianService, *, max_queue: int = DEFAULT_MAX_QUEUE,
               max_upload_mb: float | None = None, access: AccessRules | None = None,
               max_uploads: int = DEFAULT_MAX_UPLOADS, docs: bool = False) -> AccessGuard:
    """The app as served: the access guard, CORS for the allowed origins, the upload limit, FastAPI.

    ``access`` defaults to loopback rules from the settings (no token)."""
    settings = service.settings
    rules = access or AccessRules.for_bind(DEFAULT_HOST, allowed_hosts=settings.allowed_hosts,
                                           allowed_origins=settings.allowed_origins)
    limit = settings.max_upload_mb if max_upload_mb is None else max_upload_mb
    inner = UploadLimit(create_app(service, max_queue=max_queue, docs=docs), int(limit * MB), max_uploads)
    everyone = "*" in rules.allowed_origins
    cors = CORSMiddleware(inner, allow_origins=["*"] if everyone else rules.allowed_origins,
                          allow_origin_regex=r"https?://(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?",
                          allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"],
                          expose_headers=["X-Analysis-Mode", "X-Requested-Mode", "X-Advisor-ID", "X-Model-Used",
                                          "X-Job-ID", "X-Adapter-Version", "X-Fallback-Reason"])
    return AccessGuard(cors, rules)
