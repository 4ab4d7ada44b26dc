"""The pipeline axis: how a report is made, on whatever weights the plan chose.

* one pass: photo + the advisor's critique prompt (+ measured facts) -> report;
* RAG: pass 1 drafts the photo's profile on the *base* model (:func:`~app.engine.rag.draft.draft_profile`,
  the way the references were profiled, so the scores compare), the nearest reference profiles
  are retrieved, and pass 2 critiques with them as a yardstick, on the plan's weights. Pass 1 is
  not streamed (the user watches the report, pass 2). If it does not parse, pass 2 still runs,
  without references, and ``extra['profile_problems']`` says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.engine.advisors import Advisor
from app.engine.critique.budget import TokenBudget
from app.engine.critique.prompts import critique_prompt
from app.engine.critique.report import Report
from app.engine.model.cancel import CancelScope
from app.engine.model.generate import ReportPass, generate_report
from app.engine.model.host import GenerationStats, ModelHost, TokenCallback, new_request_id
from app.engine.modes.presets import Pipeline
from app.engine.modes.weights import Weights
from app.engine.photos.prepare import PreparedPhoto
from app.engine.rag.draft import draft_profile
from app.engine.rag.index import DEFAULT_K, nearest_profiles
from app.engine.settings import Settings
from app.engine.store.database import ProfileRow

ProfileSource = Callable[[str], list[ProfileRow]]  # advisor id -> its reference profiles


@dataclass
class CritiqueRequest:
    """One critique to run: the prepared photo, the advisor, and per-request callbacks."""

    prepared: PreparedPhoto
    advisor: Advisor
    on_token: TokenCallback | None = None
    scope: CancelScope = field(default_factory=CancelScope)
    request_id: str | None = None


@dataclass
class PipelineOutcome:
    """What a pipeline produced. ``report`` is None when the model output did not parse."""

    report: Report | None
    raw_text: str
    stats: GenerationStats
    model_id: str
    parse_problems: list[str] = field(default_factory=list)
    references: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    partial_report: Report | None = None  # what a generation cut at its token limit completed
    budget: TokenBudget | None = None

    @classmethod
    def of(cls, done: ReportPass) -> PipelineOutcome:
        return cls(report=done.report, raw_text=done.raw_text, stats=done.output.stats,
                   model_id=done.output.model_id, parse_problems=list(done.problems),
                   partial_report=done.partial, budget=done.budget)


def combine_stats(first: GenerationStats, second: GenerationStats) -> GenerationStats:
    """Both passes as one: token counts and time add up; first-token time is that of the report."""
    return GenerationStats(
        prompt_tokens=first.prompt_tokens + second.prompt_tokens,
        generation_tokens=first.generation_tokens + second.generation_tokens,
        time_to_first_token_s=first.total_s + second.time_to_first_token_s,
        total_s=first.total_s + second.total_s,
        prompt_tps=second.prompt_tps, generation_tps=second.generation_tps,
        peak_memory_gb=max(first.peak_memory_gb, second.peak_memory_gb),
        cached_prompt_tokens=first.cached_prompt_tokens + second.cached_prompt_tokens,
        forward_passes=first.forward_passes + second.forward_passes,
        sampled_tokens=first.sampled_tokens + second.sampled_tokens,
        batch_passes=first.batch_passes + second.batch_passes,
    )


def run_pipeline(pipeline: Pipeline, weights: Weights, req: CritiqueRequest, host: ModelHost,
                 settings: Settings, profiles: ProfileSource, k: int = DEFAULT_K) -> PipelineOutcome:
    """Run ``pipeline`` for ``req``; its report pass answers on ``weights``."""
    if pipeline is Pipeline.RAG:
        return _rag(weights, req, host, settings, profiles, k)
    prompt = critique_prompt(req.advisor, facts=req.prepared.facts)
    return PipelineOutcome.of(generate_report(
        host, settings, req.prepared.image, prompt, adapter=weights.adapter, on_token=req.on_token,
        scope=req.scope, request_id=req.request_id or new_request_id("critique")))


def _rag(weights: Weights, req: CritiqueRequest, host: ModelHost, settings: Settings,
         profiles: ProfileSource, k: int) -> PipelineOutcome:
    start = time.perf_counter()
    base_id = req.request_id or new_request_id("rag")
    pass1 = draft_profile(host, settings, req.prepared, scope=req.scope, request_id=f"{base_id}-profile")
    req.scope.check()
    neighbors = nearest_profiles(profiles(req.advisor.id), pass1.report, k) if pass1.report is not None else []
    prompt = critique_prompt(req.advisor, facts=req.prepared.facts,
                             references=[n.to_reference() for n in neighbors])
    pass2 = generate_report(host, settings, req.prepared.image, prompt, adapter=weights.adapter,
                            on_token=req.on_token, scope=req.scope, request_id=base_id)
    outcome = PipelineOutcome.of(pass2)
    extra: dict[str, Any] = {"passes": {"profile": pass1.output.stats.to_dict(), "critique": outcome.stats.to_dict()},
                             "photo_profile": pass1.report.scores if pass1.report else None,
                             "wall_s": time.perf_counter() - start}
    if pass1.report is None:
        extra["profile_problems"] = ["pass 1 (profile) did not parse, so no references were used",
                                     *pass1.problems[:3]]
    outcome.stats = combine_stats(pass1.output.stats, outcome.stats)
    outcome.references = [n.to_dict() for n in neighbors]
    outcome.extra = extra
    return outcome
