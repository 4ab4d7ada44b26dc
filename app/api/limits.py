"""Resource bounds on what a client can make the server hold: body size, uploads in flight, JSON.

* :class:`UploadLimit` counts a request body as it streams past (never buffering it): an upload
  over ``max_upload_mb`` is 413 before the multipart parser has seen more than the limit, and at
  most ``max_uploads`` bodies are being received at once (more: 503 without reading them).
  Starlette spools multipart files to a temporary file past 1 MB, so a body in flight costs
  little memory; decoding is bounded separately (see uploads.py).
* :func:`read_json` parses a JSON body with a content type, size and nesting-depth check first,
  so ``[[[[...]]]]`` is a 400 instead of a RecursionError, and a cross-site ``text/plain`` POST
  is a 415.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger(__name__)

MB = 1024 * 1024
DEFAULT_MAX_UPLOADS = 4
MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
MAX_REVIEW_JSON_BYTES = 8 * MB  # POST /reviews with a Lightroom selection: 10,000 paths
MAX_COMMENT_CHARS = 4000
_DRAIN_CAP = 1024 * MB  # read (and drop) at most this much of a refused upload before answering
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


async def _reply(send: Any, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


async def _drain(receive: Any, declared: int | None) -> int:
    """Read the rest of the body so the client gets to read our answer (curl and urllib send first)."""
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


class UploadLimit:
    """ASGI wrapper: size limit (413) and a bound on bodies being received at once (503)."""

    def __init__(self, app: Any, max_bytes: int, max_uploads: int = DEFAULT_MAX_UPLOADS):
        self.app = app
        self.max_bytes = max_bytes
        self.max_uploads = max_uploads
        self.receiving = 0  # bodies in flight (the event loop is one thread: no lock needed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = None
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reply(send, 400, "Content-Length is not a number")
                    return
        if declared is not None and declared > self.max_bytes:
            await _drain(receive, declared)
            await self._too_large(send, declared)
            return
        if self.receiving >= self.max_uploads:
            await _drain(receive, declared)
            await _reply(send, 503, f"busy: {self.max_uploads} uploads are already arriving; try again shortly",
                         [(b"retry-after", b"2")])
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = {"size": 0, "over": False, "done": False}
        self.receiving += 1

        def finish() -> None:
            if not state["done"]:
                state["done"] = True
                self.receiving -= 1

        async def counted_receive() -> Message:
            if state["over"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] != "http.request":
                finish()
                return message
            state["size"] += len(message.get("body", b""))
            if state["size"] > self.max_bytes:
                state["over"] = True
                if message.get("more_body", False):
                    state["size"] += await _drain(receive, None)
                finish()
                return {"type": "http.disconnect"}  # the app stops parsing; our 413 answers
            if not message.get("more_body", False):
                finish()
            return message

        async def guarded_send(message: Message) -> None:
            if not state["over"]:
                await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:  # an app cut off mid-upload may fail any way: the 413 below answers it
            if not state["over"]:
                raise
            log.debug("the app failed on a refused upload", exc_info=True)
        finally:
            finish()
        if state["over"]:
            await self._too_large(send, int(state["size"]))

    async def _too_large(self, send: Any, size: int) -> None:
        limit_mb = self.max_bytes / MB
        await _reply(send, 413, f"the upload is {size / MB:.1f} MB; the limit is {limit_mb:g} MB "
                                "(setting max_upload_mb)")


# --------------------------------------------------------------------------- JSON bodies


def json_depth(data: bytes) -> int:
    """Deepest nesting of ``[``/``{`` in a JSON text, brackets inside strings not counted."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', data)):
        depth += 1 if match.group() in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def is_json_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_json(request: Request, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH,
                    example: str = '{"rating": 4}') -> Any:
    """The request's JSON body, or an HTTPException (415, 413, 400) that names what is wrong."""
    ctype = request.headers.get("content-type")
    if not is_json_type(ctype):
        raise HTTPException(415, f"the body must be JSON sent as Content-Type: application/json, not "
                                 f"{ctype or 'no content type'} (like {example})")
    body = await request.body()
    if len(body) > max_bytes:
        raise HTTPException(413, f"the JSON body is {len(body)} bytes; the limit is {max_bytes}")
    if not body.strip():
        raise HTTPException(400, f"the body is empty; send JSON like {example}")
    depth = json_depth(body)
    if depth > max_depth:
        raise HTTPException(400, f"the JSON body is nested {depth} levels deep; the limit is {max_depth}")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise HTTPException(400, f"the body is not valid JSON; send JSON like {example}") from None
    where = lone_surrogate(payload)
    if where is not None:
        raise HTTPException(400, f"{where}: the text holds a lone surrogate (an escape like \\ud800 without its "
                                 "pair), which is not valid Unicode")
    return payload


def lone_surrogate(value: Any, where: str = "body") -> str | None:
    """Where in a parsed JSON value a string holds a lone surrogate (``json.loads`` lets ``"\\ud800"``
    through; SQLite, UTF-8 output and the model's tokenizer do not), else None. ``value`` is at most
    MAX_JSON_DEPTH deep (checked before parsing), so recursion is bounded."""
    if isinstance(value, str):
        return where if any("\ud800" <= ch <= "\udfff" for ch in value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = lone_surrogate(key, where) or lone_surrogate(item, f"{key}" if where == "body" else f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = lone_surrogate(item, f"{where}[{i}]")
            if found:
                return found
    return None


def check_text(field: str, value: Any, limit: int) -> str | None:
    """``value`` as text of at most ``limit`` characters (None stays None), else a 400 naming the field."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise HTTPException(400, f"{field} must be text")
    if len(value) > limit:
        raise HTTPException(400, f"{field} is {len(value)} characters; the limit is {limit}")
    return value


# The rating body as documented in the OpenAPI schema (the handler parses it itself, with the
# bounds above, so that a deep or huge body never reaches a recursive parser).
RATING_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False, "properties": {
        "rating": {"type": "integer", "minimum": 1, "maximum": 5},
        "comment": {"type": "string", "maxLength": MAX_COMMENT_CHARS},
        "winner": {"type": "string", "enum": ["base", "fine_tuned", "tie"]}}}}}}}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body (the handler reads it with :func:`read_json`)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


REVIEW_BODY = json_body({
    "type": "object", "additionalProperties": False, "properties": {
        "folder": {"type": "string", "maxLength": 4096, "description": "a folder on this machine"},
        "folder_b64": {"type": "string", "description": "the folder's path as base64 of its bytes (non-UTF-8 names)"},
        "files": {"type": "array", "maxItems": 10000, "description": "instead of folder: absolute paths, or objects",
                  "items": {"anyOf": [{"type": "string"}, {
                      "type": "object", "additionalProperties": False, "required": ["path"], "properties": {
                          "path": {"type": "string"}, "flag": {"enum": ["pick", "reject", "none"]},
                          "stars": {"type": "integer", "minimum": 0, "maximum": 5}}}]}},
        "advisor": {"type": "string", "maxLength": 200}, "mode": {"type": "string", "maxLength": 200},
        "recursive": {"type": "boolean"},
        "triage_only": {"type": "boolean", "description": "score every frame with the triage pass only"},
        "critique": {"type": "string", "maxLength": 64, "example": "top:10",
                     "description": "which frames get a full critique after triage: all, none, top:N, picks, "
                                    "bursts, joined by + (picks+top:20), or auto"}}})
JUMP_BODY = json_body({
    "type": "object", "additionalProperties": False, "required": ["path"], "properties": {
        "path": {"type": "string", "description": "a frame of the review: its full critique runs next"}}})
CULL_BODY = json_body({
    "type": "object", "additionalProperties": False, "properties": {
        "files": {"type": "array", "maxItems": 100000, "items": {"type": "string"},
                  "description": "frames: full paths, paths relative to the reviewed folder, or file names"},
        "files_b64": {"type": "array", "items": {"type": "string"},
                      "description": "frames whose names are not UTF-8, as base64 of their path's bytes"},
        "flag": {"type": "string", "enum": ["pick", "reject", "none"]},
        "stars": {"type": "integer", "minimum": 0, "maximum": 5},
        "label": {"type": "string", "enum": ["Red", "Yellow", "Green", "Blue", "none"]},
        "undo": {"type": "boolean"}, "redo": {"type": "boolean"}}})
MESSAGE_BODY = json_body({
    "type": "object", "additionalProperties": False, "required": ["question"], "properties": {
        "question": {"type": "string"}, "max_tokens": {"type": "integer", "minimum": 1, "maximum": 4096},
        "stream": {"type": "boolean"}, "photo": {"type": "string", "description": "loopback only: where the photo is now"}}})
CROP_BODY = json_body({
    "type": "object", "additionalProperties": False, "properties": {
        "aspect": {"type": "string", "example": "4:5"}, "export": {"type": "boolean"},
        "photo": {"type": "string", "description": "loopback only: where the photo is now"}}})
