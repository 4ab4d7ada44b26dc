"""Triage many photos: what a review calls to rank a shoot before (or instead of) full critiques.

Each photo is prepared as for a critique (the same decode, measured facts and EXIF), then scored
in batches by :func:`~app.engine.model.triage.triage_frames` at the triage edge, on the weights
the chosen advisor and mode would critique with (the personal advisor's adapter when it is
chosen). Nothing is recorded: the caller (the review) decides what to store and show; a triage
score says it is one (``TriageScores.kind``) wherever it appears.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.engine.advisors import Advisor, get_advisor
from app.engine.critique.triage import TriageScores
from app.engine.model.cancel import CancelScope
from app.engine.model.triage import triage_frames
from app.engine.model.weights_ref import AdapterRef
from app.engine.photos.prepare import PreparedPhoto, prepare_photo
from app.engine.review.prefetch import Prefetch
from app.engine.store.path_text import db_text
from app.engine.vocabulary import Mode, parse_mode

if TYPE_CHECKING:
    from app.engine.service import MondrianService
    from app.engine.store.reviews import FrameRow, ReviewRow

# (index in ``photos``, the photo, its scores or None, the per-photo error or None)
TriageCallback = Callable[[int, Path, "TriageScores | None", "Exception | None"], None]


def content_key(frame: FrameRow) -> str:
    """What a frame's triage is kept by: its content hash, or the path of a file that was not hashed."""
    return frame.content_hash or f"path:{db_text(frame.path)}"  # storable when the name is not UTF-8


def triage_key(review: ReviewRow) -> str:
    """The review's key (advisor, mode, model, adapter, prompt settings) and its triage edge setting."""
    edge = review.settings.get("triage_image_edge", 0)
    return hashlib.sha256(f"triage|{review.resume_key}|{edge}".encode()).hexdigest()[:16]


def triage_weights(service: MondrianService, advisor_id: str, mode: str) -> AdapterRef | None:
    """The adapter a critique with ``advisor_id`` and ``mode`` would run on (None: the base)."""
    requested = parse_mode(mode)
    if requested is Mode.TECHNICAL or not service.model_available():
        raise ValueError(f"triage needs a model; mode '{mode}' or this setup has none")
    plan = service.runner.plan(requested, get_advisor(advisor_id))  # the service's own planning
    return plan.weights.adapter if plan is not None else None


def triage_many(service: MondrianService, photos: Sequence[str | Path], advisor_id: str, mode: str = "auto", *,
                on_result: TriageCallback | None = None, scope: CancelScope | None = None,
                batch_size: int = 8, prepare: Callable[[Path], PreparedPhoto] | None = None,
                ) -> list[TriageScores | Exception]:
    """Triage scores for ``photos`` (one entry per photo: its scores or its error), ``batch_size``
    decoded together while the next batch is prepared on the preparing thread (``prepare``: the
    engine's :func:`prepare_photo` unless the caller adds to it). Raises CancelledError when
    ``scope`` is cancelled (results so far delivered) and AdvisorError / UnknownModeError on bad
    input before anything runs."""
    scope = scope or CancelScope()
    advisor = get_advisor(advisor_id)
    adapter = triage_weights(service, advisor_id, mode)
    out: list[TriageScores | Exception] = []
    paths = [Path(p) for p in photos]
    size = max(1, batch_size)
    chunks = [paths[start:start + size] for start in range(0, len(paths), size)]
    with Prefetch(prepare or (lambda path: prepare_photo(path, service.settings))) as prefetch:
        for number, chunk in enumerate(chunks):
            prefetch.ahead(chunk)
            if number + 1 < len(chunks):
                prefetch.ahead(chunks[number + 1])  # prepared while the model scores this batch
            out += _triage_chunk(service, prefetch, chunk, number * size, paths, advisor, adapter, on_result, scope)
    return out


def _triage_chunk(service: MondrianService, prefetch: Prefetch[PreparedPhoto], chunk: list[Path], start: int,
                  paths: list[Path], advisor: Advisor, adapter: AdapterRef | None, on_result: TriageCallback | None,
                  scope: CancelScope) -> list[TriageScores | Exception]:
    out: list[TriageScores | Exception] = []
    prepared: list[tuple[int, PreparedPhoto]] = []
    errors: dict[int, Exception] = {}
    for i, path in enumerate(chunk, start):
        scope.check()
        try:
            prepared.append((i, prefetch.take(path)))
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
