"""The strategy interface and the result every mode returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from app.engine.advisors import Advisor
from app.engine.critique.budget import TokenBudget
from app.engine.critique.report import Report
from app.engine.model.cancel import CancelScope
from app.engine.model.host import GenerationStats, TokenCallback


@dataclass
class AnalysisOutcome:
    """What a strategy produced. ``report`` is None when the model output did not parse."""

    report: Report | None
    raw_text: str
    stats: GenerationStats
    model_id: str
    mode: str
    parse_problems: list[str] = field(default_factory=list)
    adapter_version: str | None = None
    references: list[dict[str, Any]] = field(default_factory=list)
    extra_stats: dict[str, Any] = field(default_factory=dict)
    partial_report: Report | None = None  # what a generation cut at its token limit completed
    budget: TokenBudget | None = None


@dataclass
class AnalysisInput:
    image: Image.Image
    advisor: Advisor
    facts: list[str] = field(default_factory=list)
    on_token: TokenCallback | None = None
    scope: CancelScope = field(default_factory=CancelScope)
    request_id: str | None = None


class AnalysisStrategy(ABC):
    """One analysis mode. ``fallback`` names the next mode to try when this one is unavailable."""

    name: str = ""
    fallback: str | None = None

    @abstractmethod
    def is_available(self, advisor: Advisor) -> tuple[bool, str]:
        """(available, reason when not)."""

    @abstractmethod
    def analyze(self, inp: AnalysisInput) -> AnalysisOutcome: ...

    def check_explicit(self, advisor: Advisor, reason: str) -> None:
        """Called when this mode was asked for by name and is unavailable (``reason``): raise to make
        that an error instead of a fallback. Default: fall back (e.g. lora without any adapter)."""
        return None
