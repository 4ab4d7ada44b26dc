"""Prepare the next frames while the model works on these (issue 21, "overlap").

Preparing a 24 MP JPEG (decode, measure, EXIF, thumbnail) costs ~0.3 s a frame on a laptop CPU,
as much as a triage pass: done in series the model waits for it. Preparing threads (one per four
cores, at most three: :func:`prepare_workers`), fed only the frames the caller says come next (a
batch ahead), so at most two batches of prepared photos are held at once: memory stays flat however
long the review. Decoding releases the GIL (Pillow, LibRaw; exiv2 runs under its own lock), so the
preparing threads and the model thread really run side by side.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


def prepare_workers(cores: int | None = None) -> int:
    """Preparing threads: one per four cores, 1 to 3 (the model and the window keep the rest)."""
    return max(1, min(3, (cores if cores is not None else os.cpu_count() or 1) // 4))


class Prefetch(Generic[T]):
    """``ahead(paths)`` starts preparing them in order on the preparing threads; ``take(path)``
    waits for (or, if never asked for, does) that frame's preparation and returns it, raising the
    frame's own error. ``close`` drops what is still waiting."""

    def __init__(self, prepare: Callable[[Path], T], workers: int | None = None):
        self._prepare = prepare
        self._pool = ThreadPoolExecutor(max_workers=workers or prepare_workers(), thread_name_prefix="prepare")
        self._futures: dict[Path, Future[T]] = {}

    def ahead(self, paths: Iterable[Path]) -> None:
        for path in paths:
            if path not in self._futures:
                self._futures[path] = self._pool.submit(self._prepare, path)

    def take(self, path: Path) -> T:
        future = self._futures.pop(path, None)
        if future is None:
            return self._prepare(path)
        return future.result()

    def close(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
