"""The one engine entry point for critiquing many photos, and the key a review resumes by.

:func:`critique_many` is what a folder review (CLI, HTTP, window) calls. Today it runs the service
facade's single-photo critique once per photo; the batched generation path replaces the loop
here, behind the same signature, so no front end changes when it lands.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine.model.cancel import CancelScope
from app.engine.model.host import CancelledError
from app.engine.photos.errors import ImageLoadError

if TYPE_CHECKING:
    from app.engine.service import CritiqueResult, MondrianService

BATCHED = False  # True once critique_many runs on the batched generation path (bench/review.py reports it)

# (index in ``photos``, the photo, its result or None, the per-photo error or None)
ResultCallback = Callable[[int, Path, "CritiqueResult | None", "Exception | None"], None]

# Per-photo failures: the photo is reported and the others go on. Anything else (an unknown advisor
# or mode, an adapter asked for by name that cannot load) stops the whole run.
PHOTO_ERRORS: tuple[type[Exception], ...] = (ImageLoadError, FileNotFoundError, PermissionError)


def critique_many(service: MondrianService, photos: Sequence[str | Path], advisor_id: str, mode: str = "auto", *,
                  on_result: ResultCallback | None = None,
                  scope: CancelScope | None = None) -> list[CritiqueResult | Exception]:
    """Critique ``photos`` with one advisor and mode; each outcome goes to ``on_result`` as it is known.

    Returns one entry per photo started (a result, or the photo's error). Raises CancelledError when
    ``scope`` is cancelled (the results so far were already delivered) and the service's input errors
    (AdvisorError, UnknownModeError, AdapterError) at the first photo.
    """
    scope = scope or CancelScope()
    out: list[CritiqueResult | Exception] = []
    for index, photo in enumerate(photos):
        scope.check()
        path = Path(photo)
        try:
            result = service.critique(path, advisor_id, mode, scope=scope)
        except PHOTO_ERRORS as exc:
            out.append(exc)
            if on_result is not None:
                on_result(index, path, None, exc)
            continue
        except CancelledError:
            raise
        out.append(result)
        if on_result is not None:
            on_result(index, path, result, None)
    return out


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
