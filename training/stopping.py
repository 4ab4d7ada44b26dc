"""Stopping a run at a step boundary: signals set a flag, every process of the run agrees to stop."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

from .common import EXIT_SIGINT, EXIT_SIGTERM


class StopRequested(Exception):
    """Raised in every process of the run at the first step after a stop was asked for."""


class Signals:
    """SIGINT/SIGTERM set a flag (checked at every step) instead of killing the process mid-write."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.received is not None:  # a second signal: the user insists
            raise KeyboardInterrupt
        self.received = signum

    @contextlib.contextmanager
    def installed(self) -> Iterator[Signals]:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        try:
            yield self
        finally:
            for previous, handler in self._previous.items():
                signal.signal(previous, handler)

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else ""

    @property
    def exit_code(self) -> int:
        return EXIT_SIGTERM if self.received == signal.SIGTERM else EXIT_SIGINT
