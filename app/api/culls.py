"""``/reviews/{id}/cull``: the window's culling keys over HTTP (a script, the Lightroom plug-in).

* ``GET /reviews/{id}/cull``: every frame's flag, stars and colour label as set in Mondrian.
* ``POST /reviews/{id}/cull`` ``{"files": ["IMG_1.CR3"], "flag": "pick", "stars": 4, "label": "Green"}``
  sets them (``"none"`` removes a flag or label, ``0`` stars removes the rating), one undoable step
  per field; ``{"undo": true}`` / ``{"redo": true}`` undoes or redoes the review's last step,
  wherever it was made. The same engine call as the window and ``mondrian cull``
  (``app.engine.review.culling``), so the culls are what ``train learn --from-review`` learns from.
  A frame is named by its path, by its path relative to the reviewed folder, or by a file name only
  one frame has; a name that is not UTF-8 goes in ``files_b64``.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.api.limits import CULL_BODY, read_json
from app.engine.review.culling import CullError, cull, cull_state, undo_cull
from app.engine.store.path_text import json_safe

if TYPE_CHECKING:
    from app.engine.service import MondrianService
    from app.engine.store.database import Store

_EXAMPLE = '{"files": ["IMG_0001.CR3"], "flag": "pick", "stars": 4}'
FIELDS = {"files", "files_b64", "flag", "stars", "label", "undo", "redo"}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(json_safe({"error": message}), status_code=status)


def _names(payload: dict[str, Any]) -> list[str] | str:
    """The frames named in the body, or the message saying which entry is wrong."""
    names: list[str] = []
    for key in ("files", "files_b64"):
        value = payload.get(key, [])
        if not isinstance(value, list):
            return f"{key}: a list of strings"
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item or "\0" in item:
                return f"{key}[{i}]: a non-empty string"
            if key == "files_b64":
                try:
                    item = os.fsdecode(base64.b64decode(item, validate=True))
                except (binascii.Error, ValueError):
                    return f"files_b64[{i}]: not base64"
            names.append(item)
    return names


def _apply(store: Store, review_id: str, payload: dict[str, Any], names: list[str]) -> dict[str, Any]:
    if payload.get("undo") or payload.get("redo"):
        step = undo_cull(store, review_id, redo=bool(payload.get("redo")))
        done = [step.to_dict()] if step else []
    else:
        steps = cull(store, review_id, names, flag=payload.get("flag"), stars=payload.get("stars"),
                     label=payload.get("label"))
        done = [s.to_dict() for s in steps]
    return {"review": review_id, "steps": done, "frames": cull_state(store, review_id)}


def register_culls(app: FastAPI, service: MondrianService) -> None:
    @app.get("/reviews/{review_id}/cull")
    def get_cull(review_id: str) -> Any:
        store = service.store
        if store is None or store.reviews.find_review(review_id) is None:
            return _error(404, f"no review {review_id!r}")
        return JSONResponse(json_safe({"review": review_id, "frames": cull_state(store, review_id)}))

    @app.post("/reviews/{review_id}/cull", openapi_extra=CULL_BODY)
    async def post_cull(review_id: str, request: Request) -> Any:
        store = service.store
        if store is None or store.reviews.find_review(review_id) is None:
            return _error(404, f"no review {review_id!r}")
        payload = await read_json(request, example=_EXAMPLE)
        if not isinstance(payload, dict):
            return _error(400, f"the body must be a JSON object like {_EXAMPLE}")
        unknown = set(payload) - FIELDS
        if unknown:
            return _error(400, f"unknown field(s): {', '.join(sorted(unknown))} (use {', '.join(sorted(FIELDS))})")
        again = [k for k in ("undo", "redo") if k in payload]
        if any(not isinstance(payload[k], bool) for k in again):
            return _error(400, "undo and redo must be true or false")
        if again and (len(again) > 1 or set(payload) - {"undo", "redo"}):
            return _error(400, "undo or redo comes alone, without files or changes")
        names = _names(payload)
        if isinstance(names, str):
            return _error(400, names)
        if not again and not names:
            return _error(400, f"files: name the frames to cull, like {_EXAMPLE}")
        try:
            body = await run_in_threadpool(_apply, store, review_id, payload, names)
        except CullError as exc:
            return _error(404 if "not a frame of review" in str(exc) else 400, str(exc))
        return JSONResponse(json_safe(body))
