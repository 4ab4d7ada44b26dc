"""HTTP routes for folder reviews, so a script or a Lightroom plug-in can drive one.

* ``POST /reviews`` with JSON ``{"folder": "/path/on/this/machine", "advisor": "ansel", "mode": "auto",
  "recursive": false}``: 202 with the review (its id and counts); the review runs in the background.
  Only from loopback: the folder is a path on this machine, which no other machine should name.
  Or ``{"files": ["/abs/IMG_1.CR3", {"path": "/abs/IMG_2.JPG", "flag": "pick", "stars": 3}], ...}``:
  a review of exactly these files (a Lightroom selection); ``flag``/``stars`` are the user's own cull
  from the catalog. A missing file is a frame that fails with the reason, not a refused request.
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
from app.engine.review.folder_review import (
    MAX_FILES,
    ListedFile,
    ReviewError,
    review_payload,
    run_review,
    start_file_review,
    start_review,
)

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


def listed_files(value: Any) -> list[ListedFile] | str:
    """``files`` of ``POST /reviews``: paths, or objects ``{"path", "flag", "stars"}`` carrying the user's
    own cull from Lightroom's catalog. Returns the list, or the error text naming the entry."""
    if not isinstance(value, list) or not value:
        return "files: give a non-empty list of paths"
    if len(value) > MAX_FILES:
        return f"files: at most {MAX_FILES} paths in one review, not {len(value)}"
    out = []
    for i, item in enumerate(value):
        entry = {"path": item} if isinstance(item, str) else item
        if not isinstance(entry, dict) or set(entry) - {"path", "flag", "stars"}:
            return f"files[{i}]: a path, or an object with path, flag (pick/reject/none) and stars (0-5)"
        path, flag, stars = entry.get("path"), entry.get("flag"), entry.get("stars")
        if not isinstance(path, str) or not path.strip() or "\x00" in path:
            return f"files[{i}]: path must be the text of a file's path"
        if flag is not None and flag not in ("pick", "reject", "none"):
            return f"files[{i}]: flag must be pick, reject or none, not {flag!r}"
        if stars is not None and (isinstance(stars, bool) or not isinstance(stars, int) or not 0 <= stars <= 5):
            return f"files[{i}]: stars must be a whole number from 0 to 5, not {stars!r}"
        out.append(ListedFile(path, flag, stars))
    return out


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
        unknown = set(payload) - {"folder", "files", "advisor", "mode", "recursive"}
        if unknown:
            return _error(400, f"unknown field(s): {', '.join(sorted(unknown))} "
                               "(use folder or files, advisor, mode, recursive)")
        folder = payload.get("folder")
        files = listed_files(payload["files"]) if "files" in payload else None
        if isinstance(files, str):
            return _error(400, files)
        if files is not None and folder is not None:
            return _error(400, "give either folder or files, not both")
        if files is None and (not isinstance(folder, str) or not folder.strip()):
            return _error(400, "folder: give the path of a folder on this machine (or files: a list of paths)")
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
            if files is not None:
                review = start_file_review(service, store, files, advisor, mode)
            else:
                review = start_review(service, store, str(folder), advisor, mode, recursive=recursive)
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
