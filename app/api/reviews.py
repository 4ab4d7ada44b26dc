"""HTTP routes for folder reviews, so a script or a Lightroom plug-in can drive one.

* ``POST /reviews`` with JSON ``{"folder": "/path/on/this/machine", "advisor": "ansel", "mode": "auto",
  "recursive": false}``: 202 with the review (its id and counts); the review runs in the background.
  Only from loopback: the folder is a path on this machine, which no other machine should name.
* ``GET /reviews/{id}``: the review (state, total, finished, progress) and its ranked summary.
* ``GET /reviews``: the latest reviews. ``DELETE /reviews/{id}/run``: cancel a running review.

Reviews run one at a time on one background thread each (the model host serializes the model work
anyway); a second POST for a folder already running returns the running review.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.engine.model.cancel import CancelScope
from app.engine.review.folder_review import ReviewError, review_payload, run_review, start_review

if TYPE_CHECKING:
    from app.engine.service import MondrianService

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ReviewRunner:
    """The background reviews of one API app: one thread per running review, cancellable."""

    def __init__(self, service: MondrianService):
        self.service = service
        self._lock = threading.Lock()
        self._running: dict[str, tuple[threading.Thread, CancelScope]] = {}

    def running(self, review_id: str) -> bool:
        with self._lock:
            entry = self._running.get(review_id)
            return entry is not None and entry[0].is_alive()

    def start(self, review_id: str) -> None:
        with self._lock:
            if review_id in self._running and self._running[review_id][0].is_alive():
                return
            scope = CancelScope()
            thread = threading.Thread(target=self._run, args=(review_id, scope), name=f"review-{review_id[:8]}",
                                      daemon=True)
            self._running[review_id] = (thread, scope)
            thread.start()

    def _run(self, review_id: str, scope: CancelScope) -> None:
        store = self.service.store
        if store is None:  # the route refuses reviews when history is off; a race with close lands here
            log.warning("review %s not run: the history database is not open", review_id)
            return
        try:
            run_review(self.service, store, review_id, scope=scope)
        except Exception:  # recorded on the review row by run_review
            log.exception("review %s failed", review_id)

    def cancel(self, review_id: str) -> bool:
        with self._lock:
            entry = self._running.get(review_id)
        if entry is None or not entry[0].is_alive():
            return False
        entry[1].cancel()
        return True

    def cancel_all(self, timeout: float = 10.0) -> None:
        with self._lock:
            entries = list(self._running.values())
        for _thread, scope in entries:
            scope.cancel()
        for thread, _ in entries:
            thread.join(timeout)


def register_reviews(app: FastAPI, service: MondrianService) -> ReviewRunner:
    runner = ReviewRunner(service)
    app.state.reviews = runner
    service.before_close(runner.cancel_all)  # `serve` stopping cancels running reviews (resumable)

    def store_or_error() -> Any:
        store = service.store
        if store is None:
            return None
        return store

    @app.post("/reviews", status_code=202)
    async def create_review(request: Request) -> Any:
        client = request.client.host if request.client else None
        if not _loopback(client):
            return _error(403, "reviews name a folder on this machine: only loopback clients may start one")
        try:
            payload = json.loads(await request.body() or b"{}")
        except ValueError:
            return _error(400, 'the body must be JSON like {"folder": "/path", "advisor": "ansel"}')
        if not isinstance(payload, dict):
            return _error(400, 'the body must be a JSON object like {"folder": "/path", "advisor": "ansel"}')
        unknown = set(payload) - {"folder", "advisor", "mode", "recursive"}
        if unknown:
            return _error(400, f"unknown field(s): {', '.join(sorted(unknown))} (use folder, advisor, mode, recursive)")
        folder = payload.get("folder")
        if not isinstance(folder, str) or not folder.strip():
            return _error(400, "folder: give the path of a folder on this machine")
        advisor = payload.get("advisor", service.settings.default_advisor)
        mode = payload.get("mode", service.settings.default_mode)
        recursive = payload.get("recursive", False)
        if not isinstance(advisor, str) or not isinstance(mode, str):
            return _error(400, "advisor and mode must be text")
        if not isinstance(recursive, bool):
            return _error(400, "recursive must be true or false")
        store = store_or_error()
        if store is None:
            return _error(503, "job history is off for this service: reviews need it")
        try:
            review = start_review(service, store, folder, advisor, mode, recursive=recursive)
        except ReviewError as exc:
            return _error(404 if "not found" in str(exc) else 400, str(exc))
        runner.start(review.id)
        return JSONResponse({"review": store.get_review(review.id).to_dict(), "url": f"/reviews/{review.id}"},
                            status_code=202)

    @app.get("/reviews")
    def list_reviews(limit: int = 20) -> Any:
        store = store_or_error()
        if store is None:
            return _error(503, "job history is off for this service")
        if not 1 <= limit <= 500:
            return _error(400, f"limit must be from 1 to 500, not {limit}")
        return {"reviews": [r.to_dict() | {"running": runner.running(r.id)} for r in store.list_reviews(limit)]}

    @app.get("/reviews/{review_id}")
    def get_review(review_id: str) -> Any:
        store = store_or_error()
        if store is None:
            return _error(503, "job history is off for this service")
        if store.find_review(review_id) is None:
            return _error(404, f"no review {review_id!r}")
        payload = review_payload(store, review_id)
        payload["running"] = runner.running(review_id)
        return payload

    @app.delete("/reviews/{review_id}/run")
    def cancel_review(review_id: str) -> Any:
        store = store_or_error()
        if store is None or store.find_review(review_id) is None:
            return _error(404, f"no review {review_id!r}")
        return {"cancelled": runner.cancel(review_id)}

    return runner
