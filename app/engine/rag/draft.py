"""The one profile draft: pass 1 of RAG, on the base model, from the photo as critiques prepare it.

A *profile* is a report made with the neutral profile prompt (no persona) on the base model. RAG
profiles the user's photo and compares it with the profiles of the advisor's reference photos;
the Training tab and ``prepare_dataset --draft`` draft profiles of a portfolio for review. All of
them call :func:`draft_profile` on a :class:`~app.engine.photos.prepare.PreparedPhoto`, so the
measured facts in a reference's prompt are exactly those of the same file being critiqued.
"""

from __future__ import annotations

from pathlib import Path

from app.engine.critique.prompts import profile_prompt
from app.engine.model.cancel import CancelScope
from app.engine.model.generate import ReportPass, generate_report
from app.engine.model.host import ModelHost, new_request_id
from app.engine.photos.prepare import PreparedPhoto, prepare_photo
from app.engine.settings import Settings


def draft_profile(host: ModelHost, settings: Settings, prepared: PreparedPhoto, *,
                  scope: CancelScope | None = None, request_id: str | None = None) -> ReportPass:
    """Profile a prepared photo on the base model (never an adapter: profiles must compare with the
    reference index), constrained to the report schema when enabled. Not streamed."""
    return generate_report(host, settings, prepared.image, profile_prompt(facts=prepared.facts), adapter=None,
                           scope=scope, request_id=request_id or new_request_id("profile"))


def draft_profile_of_file(host: ModelHost, settings: Settings, path: str | Path, *,
                          scope: CancelScope | None = None, request_id: str | None = None) -> ReportPass:
    """:func:`draft_profile` of a photo file, prepared as a critique of it would be. Raises ImageLoadError."""
    return draft_profile(host, settings, prepare_photo(path, settings), scope=scope, request_id=request_id)
