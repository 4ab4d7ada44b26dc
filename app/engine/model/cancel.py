"""A cancel scope shared by the caller and the request it started.

A critique may run several generations (RAG runs two); cancelling the scope cancels the one in
flight and stops the next from starting.
"""

from __future__ import annotations

import threading
from typing import Any

from app.engine.model.host import CancelledError, Handle


class CancelScope:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._current: Handle | None = None

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            if self._current is not None:
                self._current.cancel()

    def check(self) -> None:
        if self._event.is_set():
            raise CancelledError("cancelled")

    def wait(self, handle: Handle, timeout: float | None = None) -> Any:
        """Wait for ``handle`` under this scope; raises CancelledError if the scope is cancelled."""
        with self._lock:
            if self._event.is_set():
                handle.cancel()
                raise CancelledError("cancelled")
            self._current = handle
        try:
            return handle.result(timeout)
        except Exception as exc:
            if self._event.is_set() and not isinstance(exc, CancelledError):
                raise CancelledError("cancelled") from exc
            raise
        finally:
            with self._lock:
                self._current = None
