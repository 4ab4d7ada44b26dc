"""One uploaded photo through the queue: admitted first, decoded one at a time, cancelled on hang-up.

Decoding a 24 MP JPEG costs ~100 MB for a moment; six of them decoded side by side before the
queue said "busy" was what took the server from 119 MB to 941 MB. So a request first takes a
queue slot (no slot: 503, nothing decoded), then decodes and measures under a one-at-a-time
lock (what stays in memory afterwards is the photo scaled to the model's size and its facts). While the model works, the
request listens for the client hanging up and then cancels the generation through the service's
:class:`CancelScope` (the model host checks it at every token), instead of running to the limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import anyio
from fastapi import UploadFile
from starlette.requests import Request

from app.engine.advisors import Advisor, AdvisorError, UnknownAdvisorError, get_advisor
from app.engine.critique.result import CritiqueResult
from app.engine.model.cancel import CancelScope
from app.engine.photos.decode import decode_bytes
from app.engine.photos.exif import read_shooting_data
from app.engine.photos.prepare import ANALYSIS_EDGE, PreparedPhoto, prepare_image
from app.engine.service import MondrianService
from app.engine.settings import Settings

T = TypeVar("T")
DECODERS = 1  # photos decoded at once; each full-size decode is the big transient allocation


class FormError(ValueError):
    """A form field of an upload route that is wrong; ``status`` is the HTTP answer (404: no such advisor)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def advisor_and_mode(service: MondrianService, advisor: str | None, mode: str | None) -> tuple[Advisor, str]:
    """The form's advisor and mode (the settings' defaults when absent), checked the same way for every
    upload route (/analyze, /compare); raises :class:`FormError` naming what is wrong."""
    advisor_id = (advisor or service.settings.default_advisor).strip()
    requested = (mode or service.settings.default_mode).strip().lower()
    try:
        chosen = get_advisor(advisor_id)
    except UnknownAdvisorError as exc:
        raise FormError(404, str(exc)) from None
    except AdvisorError as exc:
        raise FormError(400, str(exc)) from None
    if requested not in service.modes:
        raise FormError(400, f"unknown mode {mode!r}; choose one of: {', '.join(service.modes)}")
    return chosen, requested


class Busy(Exception):
    """Every queue slot is taken: the caller answers 503 with Retry-After."""


class Admission:
    """The queue's admission: ``max_queue`` critiques in the building at once, one decoding."""

    def __init__(self, max_queue: int, decoders: int = DECODERS):
        self.max_queue = max_queue
        self._slots = threading.BoundedSemaphore(max_queue)
        # Dedicated decoder threads, not the shared pool: each thread that allocates a 100 MB
        # transient keeps its malloc arena, so six pool threads decoding in turn held six of them.
        self._decoders = ThreadPoolExecutor(decoders, thread_name_prefix="mondrian-decode")
        self._lock = threading.Lock()
        self._pending = 0

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    @contextmanager
    def admit(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            raise Busy(f"busy: {self.max_queue} critiques are already waiting; try again shortly")
        with self._lock:
            self._pending += 1
        try:
            yield
        finally:
            with self._lock:
                self._pending -= 1
            self._slots.release()

    def prepare(self, upload: UploadFile, name: str, settings: Settings) -> tuple[PreparedPhoto, str]:
        """The photo decoded, scaled and measured, and the upload's SHA-256: one at a time, since
        the full-size decode and the float arrays of the measurements are the big transients."""
        upload.file.seek(0)
        data = upload.file.read()
        digest = hashlib.sha256(data).hexdigest()
        photo = decode_bytes(data, name, max_edge=max(ANALYSIS_EDGE, settings.max_image_edge),
                             min_raw_preview_edge=settings.max_image_edge)
        shooting = read_shooting_data(data)
        del data
        return prepare_image(photo, settings, shooting=shooting, name=name), digest

    async def prepare_async(self, upload: UploadFile, name: str, settings: Settings) -> tuple[PreparedPhoto, str]:
        return await asyncio.wrap_future(self._decoders.submit(self.prepare, upload, name, settings))


async def run_until_disconnect(request: Request, scope: CancelScope, work: Callable[[], T]) -> T:
    """Run blocking ``work`` on a worker thread; if the client hangs up meanwhile, cancel ``scope``."""

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                scope.cancel()
                return

    result: list[T] = []
    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            result.append(await anyio.to_thread.run_sync(work))
        finally:
            group.cancel_scope.cancel()
    return result[0]


async def critique_upload(request: Request, service: MondrianService, admission: Admission, upload: UploadFile,
                          name: str, advisor: Advisor, mode: str) -> CritiqueResult:
    """Admit, decode and critique one upload. Raises Busy, ImageLoadError and the service's errors."""
    with admission.admit():
        photo, digest = await admission.prepare_async(upload, name, service.settings)
        scope = CancelScope()

        def work() -> CritiqueResult:
            return service.critique_image(photo, f"upload:{name}", advisor, mode, photo_hash=digest, scope=scope)

        return await run_until_disconnect(request, scope, work)

