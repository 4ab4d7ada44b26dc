"""Triage many photos: what a review calls to rank a shoot before (or instead of) full critiques.

Each photo is prepared as for a critique (the same decode, measured facts and EXIF), then scored
in batches by :func:`~app.engine.model.triage.triage_frames` at the triage edge, on the weights
the chosen advisor and mode would critique with (the personal advisor's adapter when it is
chosen). Nothing is recorded: the caller (the review) decides what to store and show; a triage
score says it is one (``TriageScores.kind``) wherever it appears.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine.advisors import get_advisor
from app.engine.critique.triage import TriageScores
from app.engine.model.cancel import CancelScope
from app.engine.model.triage import triage_frames
from app.engine.photos.prepare import PreparedPhoto, prepare_photo
from app.engine.vocabulary import Mode, parse_mode

if TYPE_CHECKING:
    from app.engine.service import MondrianService

# (index in ``photos``, the photo, its scores or None, the per-photo error or None)
TriageCallback = Callable[[int, Path, "TriageScores | None", "Exception | None"], None]


def triage_weights(service: MondrianService, advisor_id: str, mode: str) -> Any:
    """The adapter a critique with ``advisor_id`` and ``mode`` would run on (None: the base)."""
    requested = parse_mode(mode)
    if requested is Mode.TECHNICAL or not service.model_available():
        raise ValueError(f"triage needs a model; mode '{mode}' or this setup has none")
    # The service's own planning (a private method today: the lead may make it public).
    plan = service._plan(requested, get_advisor(advisor_id), service.weights_policy)
    return plan.weights.adapter if plan is not None else None


def triage_many(service: MondrianService, photos: Sequence[str | Path], advisor_id: str, mode: str = "auto", *,
                on_result: TriageCallback | None = None, scope: CancelScope | None = None,
                batch_size: int = 8) -> list[TriageScores | Exception]:
    """Triage scores for ``photos`` (one entry per photo: its scores or its error), ``batch_size``
    decoded together. Raises CancelledError when ``scope`` is cancelled (results so far delivered)
    and AdvisorError / UnknownModeError on bad input before anything runs."""
    scope = scope or CancelScope()
    advisor = get_advisor(advisor_id)
    adapter = triage_weights(service, advisor_id, mode)
    out: list[TriageScores | Exception] = []
    paths = [Path(p) for p in photos]
    for start in range(0, len(paths), max(1, batch_size)):
        chunk = paths[start:start + max(1, batch_size)]
        prepared: list[tuple[int, PreparedPhoto]] = []
        errors: dict[int, Exception] = {}
        for i, path in enumerate(chunk, start):
            scope.check()
            try:
                prepared.append((i, prepare_photo(path, service.settings)))
            except Exception as exc:  # noqa: BLE001 - one unreadable photo is that photo's result
                errors[i] = exc
        results = triage_frames(service.host, [p.image for _, p in prepared], advisor,
                                facts=[p.facts for _, p in prepared], edge_setting=service.settings.triage_image_edge,
                                adapter=adapter, scope=scope) if prepared else []
        by_index: dict[int, TriageScores | Exception] = dict(errors)
        for (i, _), result in zip(prepared, results, strict=True):
            by_index[i] = result if isinstance(result, TriageScores) else Exception(str(result))
        for i in range(start, start + len(chunk)):
            result = by_index[i]
            out.append(result)
            if on_result is not None:
                if isinstance(result, TriageScores):
                    on_result(i, paths[i], result, None)
                else:
                    on_result(i, paths[i], None, result)
    return out
