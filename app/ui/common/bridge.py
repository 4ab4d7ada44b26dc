"""The inference bridge: blocking engine calls on a worker thread, results back as Qt signals.

The engine's calls (``MondrianService.critique`` and friends) block until the model host's thread
has finished, so they run here on one worker :class:`QThread`; the model itself stays on the
model host's thread. The UI thread never waits on MLX.

Every request gets an id and a :class:`Request` object of its own (:meth:`InferenceBridge.run`):
its signals are about that request only, so a caller connects to what it submitted instead of
filtering a broadcast by id. The signals form a small fixed set, always in this order per
request: ``started``, then any ``token`` / ``progress``, then ``result`` or ``failed``, then
``finished``. There is no broadcast of results filtered by id: an observer that watches every
request (the benchmark, the screenshots) hears of each new one through ``submitted`` and connects
to that request's own signals. Cancelling a request emits its ``failed(CANCELLED)`` and
``finished`` at once and drops whatever the worker still sends for it (late tokens, a late
result): the main thread decides what is current, so there is no race between a cancel and a
result already queued.

Tokens arrive on the model thread, often faster than the screen refreshes; they are buffered and
delivered as one ``token`` signal per main-loop turn (nothing is lost, the UI is not flooded).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QThread, Signal

from app.engine.model.cancel import CancelScope
from app.engine.model.host import CancelledError

if TYPE_CHECKING:
    from app.engine.service import MondrianService

from .qt_compat import emit

log = logging.getLogger(__name__)

CANCELLED = "Cancelled."
_ids = itertools.count(1)


@dataclass
class TaskContext:
    """What a task function gets: its id, its cancel scope and the way to report back."""

    request_id: str
    kind: str
    scope: CancelScope
    _bridge: InferenceBridge = field(repr=False)

    def token(self, text: str) -> None:
        """Report a chunk of generated text (any thread)."""
        self._bridge._push_tokens(self.request_id, text)

    def on_token(self, _request_id: str, text: str) -> None:
        """A ``TokenCallback`` for the engine (called on the model thread)."""
        self._bridge._push_tokens(self.request_id, text)

    def progress(self, message: str, fraction: float = -1.0) -> None:
        """Report a stage; ``fraction`` in 0..1, or -1 when the length is unknown."""
        emit(self._bridge._w_progress, self.request_id, message, float(fraction))

    def preview(self, image: object) -> None:
        """Report the photo's preview, decoded by the task itself (any thread; a QImage)."""
        emit(self._bridge._w_preview, self.request_id, image)

    def check(self) -> None:
        """Raise CancelledError if the request was cancelled (call between steps)."""
        self.scope.check()


TaskFn = Callable[[TaskContext], Any]


class Request(QObject):
    """One submitted task, seen from the UI thread: its own signals, its id, its cancel.

    The bridge emits these on the UI thread in the fixed order; after ``finished`` nothing more
    arrives. Connect right after :meth:`InferenceBridge.run` returns: nothing is emitted before
    the event loop runs again.
    """

    started = Signal()
    token = Signal(str)  # one or more generated chunks
    progress = Signal(str, float)  # message, fraction 0..1 or -1
    preview = Signal(object)  # the photo's preview (a QImage) from the task's own decode
    result = Signal(object)  # the value the task returned
    failed = Signal(str)  # a message for the user (CANCELLED when cancelled)
    finished = Signal()

    def __init__(self, request_id: str, kind: str, bridge: InferenceBridge):
        super().__init__()  # owned by Python: freed once neither the bridge nor the caller holds it
        self.id = request_id
        self.kind = kind
        self._bridge = bridge
        self.done = False

    def cancel(self) -> None:
        """Cancel this request (a no-op once it has finished)."""
        self._bridge.cancel(self.id)

    @property
    def live(self) -> bool:
        return self._bridge.is_live(self.id)


@dataclass
class _Task:
    ctx: TaskContext
    fn: TaskFn
    submitted: float = field(default_factory=time.perf_counter)


_STOP = object()


class _Worker(QThread):
    """Runs tasks one at a time, in order; reports through the bridge's internal signals."""

    def __init__(self, bridge: InferenceBridge):
        super().__init__()
        self.setObjectName("mondrian-ui-worker")
        self.tasks: queue.Queue[Any] = queue.Queue()
        self._bridge = bridge

    def run(self) -> None:
        b = self._bridge
        while True:
            task = self.tasks.get()
            if task is _STOP:
                return
            rid = task.ctx.request_id
            if task.ctx.scope.cancelled:
                emit(b._w_finished, rid)
                continue
            emit(b._w_started, rid)
            try:
                value = task.fn(task.ctx)
            except CancelledError:
                emit(b._w_failed, rid, CANCELLED)
            except Exception as exc:  # every failure becomes a message for the user
                log.exception("task %s (%s) failed", rid, task.ctx.kind)
                emit(b._w_failed, rid, user_message(exc))
            else:
                emit(b._w_result, rid, value)
            emit(b._w_finished, rid)


def user_message(exc: BaseException) -> str:
    """A readable one-liner: our engine errors already name the file/field and what is wrong."""
    text = str(exc).strip()
    if isinstance(exc, (ValueError, KeyError, FileNotFoundError, RuntimeError, OSError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class InferenceBridge(QObject):
    """Queue engine work on one worker thread; each request reports through its own :class:`Request`."""

    submitted = Signal(object)  # a new Request, for observers that watch every request

    # Internal: emitted on the worker/model threads, delivered queued on this object's thread.
    _w_started = Signal(str)
    _w_tokens = Signal(str)
    _w_progress = Signal(str, str, float)
    _w_preview = Signal(str, object)
    _w_result = Signal(str, object)
    _w_failed = Signal(str, str)
    _w_finished = Signal(str)

    def __init__(self, service: MondrianService | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.service = service
        self._live: dict[str, TaskContext] = {}
        self._requests: dict[str, Request] = {}
        self._buffers: dict[str, list[str]] = {}
        self._buffer_lock = threading.Lock()
        self._closed = False
        q = Qt.ConnectionType.QueuedConnection
        self._w_started.connect(self._on_started, q)
        self._w_tokens.connect(self._on_tokens, q)
        self._w_progress.connect(self._on_progress, q)
        self._w_preview.connect(self._on_preview, q)
        self._w_result.connect(self._on_result, q)
        self._w_failed.connect(self._on_failed, q)
        self._w_finished.connect(self._on_finished, q)
        self._worker = _Worker(self)
        self._worker.start()

    # ---- public API -------------------------------------------------------------------------
    def run(self, kind: str, fn: TaskFn) -> Request:
        """Queue ``fn(ctx)`` on the worker; returns the request, whose signals are about it alone."""
        if self._closed:
            raise RuntimeError("the inference bridge is shut down")
        rid = f"{kind}-{next(_ids)}"
        ctx = TaskContext(rid, kind, CancelScope(), self)
        request = Request(rid, kind, self)
        self._live[rid] = ctx
        self._requests[rid] = request
        self._worker.tasks.put(_Task(ctx, fn))
        emit(self.submitted, request)
        return request

    def cancel(self, request_id: str | None = None) -> None:
        """Cancel one request (or all with None). Its signals end now; late output is dropped."""
        ids = list(self._live) if request_id is None else [request_id]
        for rid in ids:
            ctx = self._live.pop(rid, None)
            if ctx is None:
                continue
            ctx.scope.cancel()
            with self._buffer_lock:
                self._buffers.pop(rid, None)
            self._emit_failed(rid, CANCELLED)
            self._emit_finished(rid)

    def is_live(self, request_id: str) -> bool:
        return request_id in self._live

    @property
    def busy(self) -> bool:
        return bool(self._live)

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Cancel everything, stop the worker, then the model thread. True if all stopped in time."""
        if self._closed:
            return True
        self._closed = True
        deadline = time.monotonic() + timeout_s
        for ctx in list(self._live.values()):
            ctx.scope.cancel()
        self._live.clear()
        self._requests.clear()
        self._worker.tasks.put(_STOP)
        self._worker.quit()
        stopped = self._worker.wait(max(1, int(1000 * (deadline - time.monotonic()))))
        if self.service is not None:
            try:
                self.service.close()
            except Exception:  # quitting must not fail
                log.exception("closing the service failed")
        return bool(stopped)

    # ---- worker side ------------------------------------------------------------------------
    def _push_tokens(self, rid: str, text: str) -> None:
        if not text:
            return
        with self._buffer_lock:
            buf = self._buffers.get(rid)
            if buf is None:
                self._buffers[rid] = [text]
                notify = True
            else:
                buf.append(text)
                notify = False
        if notify:
            emit(self._w_tokens, rid)

    # ---- main-thread side ---------------------------------------------------------------------
    def _drain(self, rid: str) -> str:
        with self._buffer_lock:
            parts = self._buffers.pop(rid, None)
        return "".join(parts) if parts else ""

    def _on_started(self, rid: str) -> None:
        ctx = self._live.get(rid)
        if ctx is not None:
            request = self._requests.get(rid)
            if request is not None:
                emit(request.started)

    def _on_tokens(self, rid: str) -> None:
        text = self._drain(rid)
        if text and rid in self._live:
            request = self._requests.get(rid)
            if request is not None:
                emit(request.token, text)

    def _on_progress(self, rid: str, message: str, fraction: float) -> None:
        if rid in self._live:
            request = self._requests.get(rid)
            if request is not None:
                emit(request.progress, message, fraction)

    def _on_preview(self, rid: str, image: object) -> None:
        if rid in self._live:
            request = self._requests.get(rid)
            if request is not None:
                emit(request.preview, image)

    def _on_result(self, rid: str, value: object) -> None:
        self._on_tokens(rid)
        if rid in self._live:
            request = self._requests.get(rid)
            if request is not None:
                emit(request.result, value)

    def _on_failed(self, rid: str, message: str) -> None:
        self._on_tokens(rid)
        if rid in self._live:
            self._emit_failed(rid, message)

    def _on_finished(self, rid: str) -> None:
        if self._live.pop(rid, None) is not None:
            self._emit_finished(rid)
        with self._buffer_lock:
            self._buffers.pop(rid, None)

    def _emit_failed(self, rid: str, message: str) -> None:
        request = self._requests.get(rid)
        if request is not None:
            emit(request.failed, message)

    def _emit_finished(self, rid: str) -> None:
        request = self._requests.pop(rid, None)
        if request is not None:
            request.done = True
            emit(request.finished)
