"""Baseline mode: one pass, photo + critique prompt -> report."""

from __future__ import annotations

from typing import Any

from app.engine.advisors import Advisor
from app.engine.critique.budget import read_report, report_schema
from app.engine.critique.prompts import critique_prompt
from app.engine.model.host import GenerationRequest, ModelHost, new_request_id
from app.engine.settings import Settings
from app.engine.strategies.base import AnalysisInput, AnalysisOutcome, AnalysisStrategy


def run_report_generation(host: ModelHost, settings: Settings, inp: AnalysisInput, prompt,
                          mode: str, *, adapter: Any = None) -> AnalysisOutcome:
    """Generate one report with ``prompt`` and parse it; shared by every mode's final pass.

    ``adapter`` (a folder or AdapterVersion; None = the base) is applied by the host's adapter hook."""
    request = GenerationRequest(prompt=prompt, image=inp.image, max_tokens=settings.max_tokens or None,
                                temperature=settings.temperature, schema=report_schema(settings.max_text_chars),
                                constrain=settings.constrained_decoding, on_token=inp.on_token,
                                request_id=inp.request_id or new_request_id(mode), adapter=adapter)
    output = inp.scope.wait(host.generate(request))
    limit = output.budget.max_tokens if output.budget else settings.max_tokens
    report, partial, problems = read_report(output.text, output.finish_reason, output.budget, limit)
    return AnalysisOutcome(report=report, raw_text=output.text, stats=output.stats, model_id=output.model_id,
                           mode=mode, parse_problems=problems, partial_report=partial, budget=output.budget)


class BaselineStrategy(AnalysisStrategy):
    name = "baseline"
    fallback = None

    def __init__(self, host: ModelHost, settings: Settings):
        self.host = host
        self.settings = settings

    def is_available(self, advisor: Advisor) -> tuple[bool, str]:
        return True, ""

    def analyze(self, inp: AnalysisInput) -> AnalysisOutcome:
        prompt = critique_prompt(inp.advisor, facts=inp.facts)
        return run_report_generation(self.host, self.settings, inp, prompt, self.name)
