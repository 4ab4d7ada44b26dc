"""The one-pass pipeline for several critiques at once: one batch, one encoding per photo.

A batch review (many photos, one advisor) and an advisor panel (one photo, many advisors) both
come here through the facade. The rows share what the caches can share (the photo's features
across a panel, the text before the photo across photos of one advisor and, up to the persona,
across advisors) and decode together. RAG's two passes stay one critique at a time (pass 2's
prompt waits on pass 1's retrieval).
"""

from __future__ import annotations

from collections.abc import Sequence

from app.engine.critique.prompts import critique_prompt
from app.engine.model.cancel import CancelScope
from app.engine.model.generate import generate_reports
from app.engine.model.host import ModelHost, new_request_id
from app.engine.modes.pipelines import CritiqueRequest, PipelineOutcome
from app.engine.modes.weights import Weights
from app.engine.settings import Settings


def run_one_pass_batch(weights: Weights, requests: Sequence[CritiqueRequest], host: ModelHost,
                       settings: Settings, scope: CancelScope) -> list[PipelineOutcome]:
    """One report per request, decoded together on ``weights`` (greedy: same reports as one at a time)."""
    items = [(r.prepared.image, critique_prompt(r.advisor, facts=r.prepared.facts)) for r in requests]
    passes = generate_reports(host, settings, items, adapter=weights.adapter,
                              on_tokens=[r.on_token for r in requests], scope=scope,
                              request_ids=[r.request_id or new_request_id("critique") for r in requests])
    return [PipelineOutcome.of(p) for p in passes]
