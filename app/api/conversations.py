"""HTTP routes for talking to the advisor about a stored critique (JSON bodies only).

* ``POST /jobs/{id}/messages`` ``{"question": "...", "max_tokens": 200, "stream": false}``: the
  answer and the stored turn. Answers share the generation bound of ``/analyze`` (``max_queue``):
  beyond it, 503 with Retry-After and no turn stored. A client that hangs up stops the answer,
  streamed or not. With ``"stream": true`` or ``Accept: text/event-stream`` the answer
  streams as server-sent events: ``token`` events (``{"text"}``), then one ``done`` (the answer
  object) or ``error`` (``{"error"}``) event. A client that hangs up cancels the answer at the
  next token (what streamed is stored, marked cancelled).
* ``GET /jobs/{id}/messages``: the conversation so far.
* ``POST /jobs/{id}/crop`` ``{"aspect": "4:5", "export": false}``: the suggested crop in the
  original's pixels; ``export`` writes it beside the original (never over a file).

A photo that moved is 409 with the reason; from loopback a ``"photo"`` path locates it. Bad input
is a 400 naming the field, an unknown job 404; the conversation so far is always kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.limits import CROP_BODY, MESSAGE_BODY, read_json
from app.api.security import is_loopback
from app.api.uploads import Admission, Busy, run_until_disconnect
from app.engine.conversation.context import ConversationError, PhotoMissingError
from app.engine.conversation.crop import CropError
from app.engine.conversation.session import MAX_QUESTION_CHARS, Conversations, check_question
from app.engine.model.cancel import CancelScope
from app.engine.model.host import CancelledError
from app.engine.photos.decode import ImageLoadError
from app.engine.service import MondrianService
from app.engine.store.rows import JobNotFoundError

log = logging.getLogger(__name__)

_EXAMPLE = '{"question": "Why only 5 for composition?"}'
MAX_ANSWER_TOKENS = 4096


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _fields(payload: Any, allowed: set[str], example: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ConversationError(f"the body must be a JSON object like {example}")
    unknown = set(payload) - allowed
    if unknown:
        raise ConversationError(f"unknown field(s): {', '.join(sorted(unknown))} (use {', '.join(sorted(allowed))})")
    return payload


def _photo(request: Request, payload: dict[str, Any]) -> str | None:
    photo = payload.get("photo")
    if photo is None:
        return None
    if not isinstance(photo, str) or not photo.strip():
        raise ConversationError("photo must be a path on this machine")
    if not is_loopback(request.client.host if request.client else ""):
        raise PermissionError("photo (a path on this machine) is only accepted from this machine")
    return photo


def _failure(exc: BaseException) -> JSONResponse:
    if isinstance(exc, StarletteHTTPException):  # read_json's 415/413/400
        return _error(exc.status_code, str(exc.detail))
    if isinstance(exc, JobNotFoundError):
        return _error(404, str(exc))
    if isinstance(exc, PhotoMissingError):
        return _error(409, str(exc))
    if isinstance(exc, PermissionError):
        return _error(403, str(exc))
    if isinstance(exc, ConversationError | CropError | ImageLoadError):
        return _error(400, str(exc))
    if isinstance(exc, CancelledError):
        return _error(503, "the answer was cancelled (the client hung up or the service is shutting down)")
    log.exception("follow-up failed", exc_info=exc)
    return _error(500, f"the answer failed: {type(exc).__name__}: {exc}")


class _AdmittedStream(StreamingResponse):
    """A stream that gives its admission slot back when it ends, however it ends (finished, the
    client gone before the first byte, or mid-answer)."""

    def __init__(self, content: AsyncIterator[bytes], release: Callable[[], None], **kwargs: Any):
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def _slot(admission: Admission) -> Callable[[], None]:
    """Take a generation slot (Busy when none is free); returns its idempotent release."""
    held = admission.admit()
    held.__enter__()
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            held.__exit__(None, None, None)

    return release


def register_conversations(app: FastAPI, service: MondrianService) -> None:
    talk = Conversations(service)
    admission: Admission = app.state.admission  # the same bound as /analyze (app.py)

    @app.get("/jobs/{job_id}/messages")
    def messages(job_id: str) -> Any:
        try:
            return {"job_id": job_id, "messages": [t.to_dict() for t in talk.turns(job_id)]}
        except (JobNotFoundError, ConversationError) as exc:
            return _failure(exc)

    @app.post("/jobs/{job_id}/messages", openapi_extra=MESSAGE_BODY)
    async def ask(job_id: str, request: Request) -> Any:
        try:
            payload = _fields(await read_json(request, example=_EXAMPLE),
                              {"question", "max_tokens", "stream", "photo"}, _EXAMPLE)
            question = check_question(payload.get("question"))
            cap = payload.get("max_tokens")
            if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_ANSWER_TOKENS):
                raise ConversationError(f"max_tokens must be an integer from 1 to {MAX_ANSWER_TOKENS}")
            stream = payload.get("stream", "text/event-stream" in request.headers.get("accept", ""))
            if not isinstance(stream, bool):
                raise ConversationError("stream must be true or false")
            photo = _photo(request, payload)
            await run_in_threadpool(talk.context, job_id, photo)  # unknown job, moved photo: before any answer
        except Exception as exc:  # noqa: BLE001 - each becomes its status
            return _failure(exc)
        try:  # the generation bound shared with /analyze: refused here, nothing is stored
            release = _slot(admission)
        except Busy as exc:
            return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "5"})
        if not stream:
            scope = CancelScope()
            try:
                answer = await run_until_disconnect(
                    request, scope, lambda: talk.ask(job_id, question, scope=scope, photo=photo, max_tokens=cap))
            except Exception as exc:  # noqa: BLE001 - each becomes its status
                return _failure(exc)
            finally:
                release()
            return answer.to_dict()
        return _AdmittedStream(_stream(talk, request, job_id, question, photo, cap), release,
                               media_type="text/event-stream",
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.post("/jobs/{job_id}/crop", openapi_extra=CROP_BODY)
    async def crop(job_id: str, request: Request) -> Any:
        example = '{"aspect": "4:5", "export": false}'
        try:
            payload = _fields(await read_json(request, example=example), {"aspect", "export", "photo"}, example)
            aspect = payload.get("aspect")
            if aspect is not None and not isinstance(aspect, str):
                raise ConversationError("aspect must be text like \"4:5\"")
            export = payload.get("export", False)
            if not isinstance(export, bool):
                raise ConversationError("export must be true or false")
            photo = _photo(request, payload)
            answer = await run_in_threadpool(talk.suggest_crop, job_id, aspect, photo=photo)
            out = answer.to_dict()
            if export and answer.crop is not None:
                out["exported"] = str(await run_in_threadpool(talk.export_crop, job_id, answer.crop, None, photo))
            return out
        except Exception as exc:  # noqa: BLE001 - each becomes its status
            return _failure(exc)


async def _stream(talk: Conversations, request: Request, job_id: str, question: str, photo: str | None,
                  cap: int | None) -> AsyncIterator[bytes]:
    """Run the answer on a thread; forward its tokens as events; a hang-up cancels it."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    scope = CancelScope()

    def token(_rid: str, text: str) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, ("token", {"text": text}))

    def work() -> None:
        try:
            answer = talk.ask(job_id, question, on_token=token, scope=scope, photo=photo, max_tokens=cap)
            loop.call_soon_threadsafe(queue.put_nowait, ("done", answer.to_dict()))
        except BaseException as exc:  # noqa: BLE001 - reported as the stream's last event
            body = json.loads(bytes(_failure(exc).body))
            loop.call_soon_threadsafe(queue.put_nowait, ("error", body))

    worker = threading.Thread(target=work, name="mondrian-ask", daemon=True)
    worker.start()
    try:
        while True:
            try:
                event, data = await asyncio.wait_for(queue.get(), timeout=0.5)
            except TimeoutError:
                if await request.is_disconnected():
                    scope.cancel()
                    return
                continue
            yield _sse(event, data)
            if event in ("done", "error"):
                return
    finally:
        if worker.is_alive():  # the client went away mid-answer
            scope.cancel()


__all__ = ["MAX_QUESTION_CHARS", "register_conversations"]
