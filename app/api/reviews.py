"""HTTP routes for folder reviews, so a script or a Lightroom plug-in can drive one.

* ``POST /reviews`` with JSON ``{"folder": "/path/on/this/machine", "advisor": "ansel", "mode": "auto",
  "recursive": false}``: 202 at once with the review in state ``scanning`` (its id); listing the
  folder, hashing each file and reading its EXIF happen on the review's own thread, never on the
  event loop, so the server answers everything else meanwhile. A folder whose name is not UTF-8
  is sent as ``folder_b64`` (base64 of its bytes). Only from loopback: the folder is a path on this
  machine, which no other machine should name.
* ``GET /reviews/{id}``: the review (state ``scanning`` with a ``scan`` object while the folder is
  read, then ``running`` / ``completed`` / ``cancelled`` / ``failed``; total, finished, progress),
  the subfolders skipped (and why) and its ranked summary. A path that is not UTF-8 appears in its
  readable form (``caf\\xe9.jpg``) with ``<field>_b64`` beside it holding its exact bytes.
* Two stages: ``"triage_only": true`` scores every frame with the triage pass and stops;
  ``"critique": "top:10"`` (``all``, ``none``, ``picks``, ``bursts``, joined by ``+``) says which
  frames get a full critique after it (default: the ``review_critique`` setting). Each frame of
  ``GET /reviews/{id}`` says which score it shows (``stage``: ``triage`` or ``full``) and carries its
  ``triage`` result. ``POST /reviews/{id}/jump`` ``{"path": ...}``: that frame's critique runs next
  (or, once the review is over, that frame alone, at once: 202 ``{"queued": true, "alone": true}``).
* ``GET /reviews``: the latest reviews. ``DELETE /reviews/{id}/run``: cancel a review, scanning or
  running.
  Or ``{"files": ["/abs/IMG_1.CR3", {"path": "/abs/IMG_2.JPG", "flag": "pick", "stars": 3}], ...}``:
  a review of exactly these files (a Lightroom selection); ``flag``/``stars`` are the user's own cull
  from the catalog. A missing file is a frame that fails with the reason, not a refused request.

A second POST for a folder this server is already reviewing returns that review; a folder another
process is reviewing (the CLI, another server) is 409 (one review of a folder at a time:
app/engine/review/folder_lock.py).
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.api.limits import JUMP_BODY, MAX_REVIEW_JSON_BYTES, REVIEW_BODY, read_json
from app.engine.model.cancel import CancelScope
from app.engine.model.host import CancelledError
from app.engine.review.folder_review import (
    MAX_FILES,
    ListedFile,
    ReviewBusyError,
    ReviewError,
    critique_on_demand,
    files_key,
    listed_review,
    open_file_review,
    open_folder_review,
    release_folder,
    review_payload,
    run_review,
    scan_progress,
    scan_review,
)
from app.engine.review.stages import jump_frame
from app.engine.store.path_text import json_safe

if TYPE_CHECKING:
    from app.engine.service import MondrianService

log = logging.getLogger(__name__)

_EXAMPLE = '{"folder": "/path", "advisor": "ansel"}'


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(json_safe({"error": message}), status_code=status)


MAX_FOLDER_CHARS = 4096  # PATH_MAX on Linux


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
        self._folders: dict[str, str] = {}  # review id -> its folder (to join a second POST)

    def running(self, review_id: str) -> bool:
        with self._lock:
            entry = self._running.get(review_id)
            return entry is not None and entry[0].is_alive()

    def running_for(self, folder: str) -> str | None:
        """The id of the review of ``folder`` (its real path) this server is running, if any."""
        with self._lock:
            for review_id, where in self._folders.items():
                entry = self._running.get(review_id)
                if where == folder and entry is not None and entry[0].is_alive():
                    return review_id
        return None

    def start(self, review_id: str, folder: str = "") -> None:
        with self._lock:
            self._folders[review_id] = folder
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
            scan_review(store, review_id, scope=scope)  # the folder is read here, off the event loop
            run_review(self.service, store, review_id, scope=scope)
        except (CancelledError, ReviewError) as exc:  # recorded on the review row by scan_review
            log.info("review %s stopped: %s", review_id, exc)
        except Exception:
            log.exception("review %s failed", review_id)
        finally:
            release_folder(review_id)

    def start_frame(self, review_id: str, path: str) -> None:
        """One frame's full critique in the background while its review is not running (the user
        opened it): the engine's :func:`critique_on_demand`; ``running`` and cancel cover it."""
        with self._lock:
            if review_id in self._running and self._running[review_id][0].is_alive():
                return
            scope = CancelScope()
            thread = threading.Thread(target=self._run_frame, args=(review_id, path, scope),
                                      name=f"frame-{review_id[:8]}", daemon=True)
            self._running[review_id] = (thread, scope)
            thread.start()

    def _run_frame(self, review_id: str, path: str, scope: CancelScope) -> None:
        store = self.service.store
        if store is None:
            return
        try:
            critique_on_demand(self.service, store, review_id, path, scope=scope)
        except (CancelledError, ReviewError) as exc:
            log.info("review %s: the critique of %s stopped: %s", review_id, path, exc)
        except Exception:
            log.exception("review %s: the critique of %s failed", review_id, path)

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


def _with_scan(runner: ReviewRunner, review: dict[str, Any]) -> dict[str, Any]:
    """The review's dict, ``scanning`` (with the scan's progress) while its folder is being read."""
    scan = scan_progress(review["id"])
    if scan is not None or (review["state"] == "queued" and runner.running(review["id"])):
        review = review | {"state": "scanning", "scan": scan.to_dict() if scan else None}
    review["skipped"] = review.get("settings", {}).get("skipped", [])
    return review


ACCEPTED = {"folder", "folder_b64", "files", "advisor", "mode", "recursive", "triage_only", "critique"}


def _critique(payload: dict[str, Any]) -> str | None:
    """The second-stage policy asked for (None: the setting's), or ``error: ...`` naming the field."""
    triage_only, critique = payload.get("triage_only", False), payload.get("critique")
    if not isinstance(triage_only, bool):
        return "error: triage_only must be true or false"
    if critique is not None and (not isinstance(critique, str) or not critique.strip() or len(critique) > 64):
        return "error: critique must be a policy like all, none, top:10, picks, bursts or picks+top:20"
    if triage_only and critique is not None and critique.strip().lower() != "none":
        return f"error: give triage_only or critique ({critique!r}), not both"
    return "none" if triage_only else critique


def _folder(payload: dict[str, Any]) -> str:
    """The folder asked for: ``folder`` (text) or ``folder_b64`` (the exact bytes of a non-UTF-8 name)."""
    if "folder_b64" in payload:
        raw = payload["folder_b64"]
        try:
            name = base64.b64decode(raw, validate=True) if isinstance(raw, str) else b""
        except ValueError:
            name = b""
        if not name or b"\0" in name:
            raise ReviewError("folder_b64: give the base64 of a folder's path on this machine")
        return os.fsdecode(name)
    folder = payload.get("folder")
    if not isinstance(folder, str) or not folder.strip():
        raise ReviewError("folder: give the path of a folder on this machine")
    if len(folder) > MAX_FOLDER_CHARS or "\0" in folder:
        raise ReviewError(f"folder: not a path (over {MAX_FOLDER_CHARS} characters or holding a NUL)")
    return folder


def register_reviews(app: FastAPI, service: MondrianService) -> ReviewRunner:
    runner = ReviewRunner(service)
    app.state.reviews = runner
    service.before_close(runner.cancel_all)  # `serve` stopping cancels running reviews (resumable)

    @app.post("/reviews", status_code=202, openapi_extra=REVIEW_BODY)
    async def create_review(request: Request) -> Any:
        client = request.client.host if request.client else None
        if not _loopback(client):
            return _error(403, "reviews name a folder on this machine: only loopback clients may start one")
        payload = await read_json(request, example=_EXAMPLE, max_bytes=MAX_REVIEW_JSON_BYTES)
        if not isinstance(payload, dict):
            return _error(400, f"the body must be a JSON object like {_EXAMPLE}")
        unknown = set(payload) - ACCEPTED
        if unknown:
            return _error(400, f"unknown field(s): {', '.join(sorted(unknown))} "
                               "(use folder, folder_b64 or files; advisor, mode, recursive, triage_only, critique)")
        critique = _critique(payload)
        if critique is not None and critique.startswith("error:"):
            return _error(400, critique[len("error:"):].strip())
        files = listed_files(payload["files"]) if "files" in payload else None
        if isinstance(files, str):
            return _error(400, files)
        if files is not None and ("folder" in payload or "folder_b64" in payload):
            return _error(400, "give either folder or files, not both")
        advisor = payload.get("advisor", service.settings.default_advisor)
        mode = payload.get("mode", service.settings.default_mode)
        recursive = payload.get("recursive", False)
        if not isinstance(advisor, str) or not isinstance(mode, str) or len(advisor) > 200 or len(mode) > 200:
            return _error(400, "advisor and mode must be short text")
        if not isinstance(recursive, bool):
            return _error(400, "recursive must be true or false")
        store = service.store
        if store is None:
            return _error(503, "job history is off for this service: reviews need it")
        try:
            if files is not None:
                folder = files_key([str(Path(f.path)) for f in files])
                running = runner.running_for(folder)  # the same selection again joins its running review
                review = store.reviews.get_review(running) if running else await run_in_threadpool(
                    open_file_review, service, store, files, advisor, mode, critique=critique)
            else:
                folder = _folder(payload)
                # A quick check of the folder (it may be on a slow share): on a worker thread too.
                review = await run_in_threadpool(open_folder_review, service, store, folder, advisor, mode,
                                                 recursive=recursive, critique=critique)
        except ReviewBusyError as exc:
            joined = await run_in_threadpool(_joinable, runner, folder)
            if joined is None:
                return _error(409, str(exc))
            review = store.reviews.get_review(joined)
        except ReviewError as exc:
            return _error(404 if "not found" in str(exc) else 400, str(exc))
        runner.start(review.id, review.folder)
        body = {"review": _with_scan(runner, review.to_dict()), "url": f"/reviews/{review.id}"}
        return JSONResponse(json_safe(body), status_code=202)

    @app.get("/reviews")
    def list_reviews(limit: int = 20) -> Any:
        store = service.store
        if store is None:
            return _error(503, "job history is off for this service")
        if not 1 <= limit <= 500:
            return _error(400, f"limit must be from 1 to 500, not {limit}")
        rows = [_with_scan(runner, listed_review(r)) | {"running": runner.running(r.id)}
                for r in store.reviews.list_reviews(limit)]
        return JSONResponse(json_safe({"reviews": rows}))

    @app.get("/reviews/{review_id}")
    def get_review(review_id: str) -> Any:
        store = service.store
        if store is None:
            return _error(503, "job history is off for this service")
        if store.reviews.find_review(review_id) is None:
            return _error(404, f"no review {review_id!r}")
        payload = review_payload(store, review_id)
        payload["review"] = _with_scan(runner, payload["review"])
        payload["running"] = runner.running(review_id)
        return JSONResponse(json_safe(payload))

    @app.post("/reviews/{review_id}/jump", openapi_extra=JUMP_BODY)
    async def jump(review_id: str, request: Request) -> Any:
        """A frame the user opened: its full critique runs next (while the review runs), or now, alone
        (once the review is over; 202, ``alone``); a frame with an outcome already is left as it is."""
        store = service.store
        if store is None or store.reviews.find_review(review_id) is None:
            return _error(404, f"no review {review_id!r}")
        payload = await read_json(request, example='{"path": "/abs/IMG_1.CR3"}')
        path = payload.get("path") if isinstance(payload, dict) else None
        if not isinstance(payload, dict) or set(payload) - {"path"} or not isinstance(path, str) or not path:
            return _error(400, 'the body must be {"path": "<a frame of the review>"}')
        frame = next((f for f in store.reviews.list_frames(review_id) if f.path == path), None)
        if frame is None:
            return _error(404, f"review {review_id!r} has no frame {path!r}")
        if jump_frame(review_id, path):
            return JSONResponse(json_safe({"queued": True}))
        if runner.running(review_id) or frame.status in ("done", "reused", "failed"):
            return JSONResponse(json_safe({"queued": False, "status": frame.status}))
        runner.start_frame(review_id, path)  # the review is over: this frame alone, now
        return JSONResponse(json_safe({"queued": True, "alone": True}), status_code=202)

    @app.delete("/reviews/{review_id}/run")
    def cancel_review(review_id: str) -> Any:
        store = service.store
        if store is None or store.reviews.find_review(review_id) is None:
            return _error(404, f"no review {review_id!r}")
        return {"cancelled": runner.cancel(review_id)}

    return runner


def _joinable(runner: ReviewRunner, folder: str) -> str | None:
    """The review of ``folder`` this server runs already (a second POST joins it), else None."""
    return runner.running_for(os.path.realpath(os.path.expanduser(folder)))
