"""The preview beside a report reopened from History, decoded on the quick-query worker and never on
the UI thread (a RAW or HEIC file goes through the engine's full decoder: seconds).

A dropped photo needs none of this: its critique task decodes it once, for the engine and for the
preview it sends (``operations.prepare_shown``, ``Request.preview``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QImage

from ..common.pixmaps import load_preview

if TYPE_CHECKING:
    from ..common.bridge import InferenceBridge, TaskContext, TaskFn


def preview_task(*candidates: str | Path | None) -> TaskFn:
    """The first readable candidate's preview (the photo, then its stored thumbnail), decoded on a
    worker; None when none can be read."""

    def run(ctx: TaskContext) -> QImage | None:
        return first_preview(candidates)

    return run


def first_preview(candidates: tuple[str | Path | None, ...]) -> QImage | None:
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            image = load_preview(candidate)
            if image is not None:
                return image
    return None


def decode_preview(queries: InferenceBridge | None, candidates: tuple[str | Path | None, ...],
                   on_ready: Callable[[QImage | None], None]) -> None:
    """Decode on ``queries`` and hand the image to ``on_ready`` on the UI thread. Without a query
    worker (a bare panel in a test) it decodes here."""
    if queries is None:
        on_ready(first_preview(candidates))
        return
    decoding = queries.run("preview", preview_task(*candidates))
    decoding.result.connect(lambda image: on_ready(image if isinstance(image, QImage) else None))
