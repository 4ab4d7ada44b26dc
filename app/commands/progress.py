"""Progress of ``index`` and ``download`` (stdout keeps the result; progress goes to stderr).

On a terminal: a tqdm bar with an ETA (the library ``review`` uses). With ``--json``, or when
stderr is not a terminal: one JSON line per step, the training commands' typed ``progress``
event (``{"event": "progress", "task", "done", "total", "unit", "item", "eta_s"}``).
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any


class ProgressOut:
    """``update(done, total, item)`` and ``close()``; nothing at all when ``quiet``."""

    def __init__(self, task: str, unit: str, *, as_json: bool, quiet: bool = False, stream: IO[str] | None = None,
                 unit_scale: bool = False):
        self.task, self.unit, self.quiet = task, unit, quiet
        self.stream = stream if stream is not None else sys.stderr
        self.json = as_json or not (hasattr(self.stream, "isatty") and self.stream.isatty())
        self.unit_scale = unit_scale
        self._bar: Any = None
        self._started = time.monotonic()

    def update(self, done: int, total: int, item: str = "") -> None:
        if self.quiet:
            return
        if self.json:
            from training.events import make

            elapsed = time.monotonic() - self._started
            eta = elapsed / done * (total - done) if done else None
            event = make("progress", task=self.task, done=done, total=total, unit=self.unit, item=item, eta_s=eta)
            print(event.to_json(), file=self.stream, flush=True)
            return
        if self._bar is None or self._bar.total != total:
            from tqdm import tqdm

            if self._bar is not None:
                self._bar.close()
            self._bar = tqdm(total=total, unit=self.unit, desc=self.task, file=self.stream, dynamic_ncols=True,
                             smoothing=0.1, unit_scale=self.unit_scale)
        if item:
            self._bar.set_postfix_str(item[-40:], refresh=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()  # tqdm prints its final line once, here
            self._bar = None
