"""One generation of a report: prompt + image (+ the weights) in, a parsed report (or the problems) out.

Every pass that produces a report goes through :func:`generate_report`: the one-pass critique,
both RAG passes, reference and portfolio drafts, and training's evaluation. Which weights answer
is part of the call (``adapter``: None is the base model), so it travels with the request.
:func:`generate_reports` is the same for several photos or prompts decoded together (greedy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from app.engine.critique.budget import TokenBudget, read_report, report_schema
from app.engine.critique.prompts import Prompt
from app.engine.critique.report import Report
from app.engine.model.cancel import CancelScope
from app.engine.model.host import (
    GenerationOutput,
    GenerationRequest,
    ModelHost,
    TokenCallback,
    new_request_id,
)
from app.engine.settings import Settings


@dataclass
class ReportPass:
    """One generation: the report (None when the output did not parse) and what the model did."""

    report: Report | None
    output: GenerationOutput
    problems: list[str] = field(default_factory=list)
    partial: Report | None = None  # the dimensions a generation cut at its token limit completed

    @property
    def budget(self) -> TokenBudget | None:
        """How the generation's token limit was derived (None: unconstrained with a fixed limit)."""
        return self.output.budget

    @property
    def raw_text(self) -> str:
        return self.output.text


def _request(settings: Settings, image: Image.Image, prompt: Prompt, *, temperature: float, adapter: Any,
             on_token: TokenCallback | None, request_id: str) -> GenerationRequest:
    """The generation of one report as the settings ask for it (schema, limit, constraint)."""
    return GenerationRequest(prompt=prompt, image=image, max_tokens=settings.max_tokens or None,
                             temperature=temperature, schema=report_schema(settings.max_text_chars),
                             constrain=settings.constrained_decoding, on_token=on_token,
                             request_id=request_id, adapter=adapter)


def _read(settings: Settings, output: GenerationOutput) -> ReportPass:
    """The output parsed against the limit it ran with."""
    limit = output.budget.max_tokens if output.budget else settings.max_tokens
    report, partial, problems = read_report(output.text, output.finish_reason, output.budget, limit)
    return ReportPass(report, output, problems, partial)


def generate_report(host: ModelHost, settings: Settings, image: Image.Image, prompt: Prompt, *,
                    adapter: Any = None, on_token: TokenCallback | None = None,
                    scope: CancelScope | None = None, request_id: str | None = None) -> ReportPass:
    """Generate a report with ``prompt`` on ``adapter``'s weights (None = base), constrained to the
    report schema when the settings say so, and parse it. Raises CancelledError when cancelled."""
    request = _request(settings, image, prompt, temperature=settings.temperature, adapter=adapter,
                       on_token=on_token, request_id=request_id or new_request_id("report"))
    return _read(settings, (scope or CancelScope()).wait(host.generate(request)))


def generate_reports(host: ModelHost, settings: Settings, items: Sequence[tuple[Image.Image, Prompt]], *,
                     adapter: Any = None, on_tokens: Sequence[TokenCallback | None] | None = None,
                     scope: CancelScope | None = None, request_ids: Sequence[str] | None = None) -> list[ReportPass]:
    """:func:`generate_report` for several (photo, prompt) pairs decoded together in one batch on
    ``adapter``'s weights (greedy); each streams to its own ``on_tokens[i]``. Cancelling ``scope``
    cancels every row. Raises CancelledError when cancelled."""
    scope = scope or CancelScope()
    requests = [_request(settings, image, prompt, temperature=0.0, adapter=adapter,
                         on_token=on_tokens[i] if on_tokens else None,
                         request_id=request_ids[i] if request_ids else new_request_id("batch"))
                for i, (image, prompt) in enumerate(items)]
    handles = host.generate_batch(requests)
    outputs: list[GenerationOutput] = []
    try:
        for handle in handles:
            outputs.append(scope.wait(handle))
    except BaseException:
        for handle in handles:
            handle.cancel()
        raise
    return [_read(settings, output) for output in outputs]
