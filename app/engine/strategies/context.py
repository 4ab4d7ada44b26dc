"""Resolve a requested mode to an effective one along the fallback chain ``lora -> rag -> baseline``."""

from __future__ import annotations

from dataclasses import dataclass

from app.engine.advisors import Advisor
from app.engine.strategies.base import AnalysisStrategy

AUTO = "auto"


class UnknownModeError(ValueError):
    pass


@dataclass(frozen=True)
class Resolution:
    requested: str
    strategy: AnalysisStrategy
    fallback_reason: str | None  # None when the requested mode is used as asked

    @property
    def effective(self) -> str:
        return self.strategy.name


class StrategyContext:
    """Holds the strategies by name; ``auto`` starts at the head of the chain."""

    def __init__(self, strategies: list[AnalysisStrategy], head: str):
        self.strategies = {s.name: s for s in strategies}
        self.head = head

    @property
    def modes(self) -> list[str]:
        return [AUTO, *self.strategies]

    def resolve(self, mode: str, advisor: Advisor) -> Resolution:
        requested = (mode or AUTO).strip().lower()
        if requested != AUTO and requested not in self.strategies:
            raise UnknownModeError(f"unknown mode {mode!r}; choose one of: {', '.join(self.modes)}")
        name: str | None = self.head if requested == AUTO else requested
        reasons: list[str] = []
        while name is not None:
            strategy = self.strategies[name]
            ok, why = strategy.is_available(advisor)
            if ok:
                reason = "; ".join(reasons) if reasons and requested != AUTO else None
                if requested == AUTO and reasons:
                    reason = "auto: " + "; ".join(reasons)
                return Resolution(requested=requested, strategy=strategy, fallback_reason=reason)
            if name == requested:
                strategy.check_explicit(advisor, why)  # e.g. a broken adapter asked for by name: an error
            reasons.append(f"{name} unavailable ({why})")
            name = strategy.fallback
        raise RuntimeError(f"no analysis mode is available for advisor {advisor.id!r}: {'; '.join(reasons)}")
