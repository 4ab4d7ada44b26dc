"""The one engine entry point for critiquing many photos, and the key a review resumes by.

:func:`critique_many` is what a folder review (CLI, HTTP, window) calls. It runs on the service
facade's :meth:`~app.engine.service.MondrianService.critique_many`: photos decoded together in
batches on the batched generation path, one job per photo, each outcome delivered per photo.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine.model.cancel import CancelScope

if TYPE_CHECKING:
    from app.engine.photos.prepare import PreparedPhoto
    from app.engine.service import CritiqueResult, MondrianService

BATCHED = True  # critique_many runs on the batched generation path (bench/review.py reports it)

# (index in ``photos``, the photo, its result or None, the per-photo error or None)
ResultCallback = Callable[[int, Path, "CritiqueResult | None", "Exception | None"], None]

def critique_many(service: MondrianService, photos: Sequence[str | Path], advisor_id: str, mode: str = "auto", *,
                  on_result: ResultCallback | None = None,
                  scope: CancelScope | None = None, batch_size: int = 4,
                  prepare: Callable[[Path], PreparedPhoto] | None = None) -> list[CritiqueResult | Exception]:
    """Critique ``photos`` with one advisor and mode; each outcome goes to ``on_result`` as it is known.

    ``batch_size`` photos are decoded together. Returns one entry per photo started (a result, or the
    photo's error). Raises CancelledError when
    ``scope`` is cancelled (the results so far were already delivered) and the service's input errors
    (AdvisorError, UnknownModeError, AdapterError) at the first photo.
    """
    return service.critique_many([Path(p) for p in photos], advisor_id, mode, on_result=on_result,
                                 scope=scope or CancelScope(), batch_size=batch_size, prepare=prepare)


def resume_settings(service: MondrianService, advisor_id: str, mode: str) -> dict[str, Any]:
    """What decides a frame's critique besides its pixels: advisor, mode, model, the advisor's active
    adapter (when the mode may use it) and the settings that change the prompt or the image."""
    from app.engine.adapters.versions import active_version

    settings = service.settings
    adapter = None
    if mode in ("auto", "lora"):
        try:
            active = active_version(advisor_id)
        except (OSError, ValueError):
            active = None
        adapter = active.version if active else None
    return {"advisor": advisor_id, "mode": mode, "model": settings.model, "adapter": adapter,
            "max_image_edge": settings.max_image_edge, "grounding": settings.grounding,
            "constrained_decoding": settings.constrained_decoding, "max_text_chars": settings.max_text_chars,
            "model_available": service.model_available()}


def resume_key(settings: dict[str, Any]) -> str:
    """A short stable digest of :func:`resume_settings`: frames reviewed under the same key are skipped."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
