"""An advisor panel read side by side: scores per dimension, their spread, agreements, disagreements.

Pure arithmetic over the reports the panel produced (one per advisor, same photo), shared by the
CLI's table and the window's Panel view so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS, Report

AGREE_WITHIN = 1.0  # a dimension whose scores all lie within this many points is agreed on
DISAGREE_FROM = 3.0  # a dimension whose scores span at least this many points is disputed


@dataclass(frozen=True)
class PanelSummary:
    """The scores of each advisor per dimension (advisors without a report are left out)."""

    advisors: list[str]
    scores: dict[str, dict[str, float]]  # dimension -> advisor -> score
    spread: dict[str, float]  # dimension -> max - min
    mean: dict[str, float]
    agreements: str
    disagreements: str
    names: dict[str, str] = field(default_factory=dict)  # advisor id -> display name

    def to_dict(self) -> dict[str, Any]:
        return {"advisors": self.advisors, "scores": self.scores, "spread": self.spread, "mean": self.mean,
                "agreements": self.agreements, "disagreements": self.disagreements}

    def table(self) -> list[list[str]]:
        """Rows for a text table: a header, then one row per dimension (scores, then the spread)."""
        head = ["dimension", *(self.names.get(a, a) for a in self.advisors), "spread"]
        rows = [head]
        for dim in DIMENSIONS:
            if dim not in self.scores:
                continue
            by = self.scores[dim]
            rows.append([DIMENSION_LABELS[dim], *(f"{by[a]:g}" if a in by else "-" for a in self.advisors),
                         f"{self.spread[dim]:g}"])
        return rows


def _label(dim: str) -> str:
    return DIMENSION_LABELS[dim].lower()


def summarize_panel(reports: Mapping[str, Report | None], names: Mapping[str, str] | None = None) -> PanelSummary:
    """Compare the reports of a panel (advisor id -> report, None when it did not parse)."""
    names = dict(names or {})
    present = {a: r for a, r in reports.items() if r is not None}
    advisors = list(present)
    scores: dict[str, dict[str, float]] = {}
    for dim in DIMENSIONS:
        by = {a: r.scores[dim] for a, r in present.items() if dim in r.scores}
        if by:
            scores[dim] = by
    spread = {d: max(by.values()) - min(by.values()) for d, by in scores.items()}
    mean = {d: round(sum(by.values()) / len(by), 2) for d, by in scores.items()}
    if len(advisors) < 2:
        return PanelSummary(advisors, scores, spread, mean, "a panel needs two reports to compare",
                            "a panel needs two reports to compare", names)
    agreed = [d for d in DIMENSIONS if d in spread and spread[d] <= AGREE_WITHIN]
    disputed = sorted((d for d in DIMENSIONS if d in spread and spread[d] >= DISAGREE_FROM),
                      key=lambda d: -spread[d])
    agreements = ("Agree on " + ", ".join(f"{_label(d)} (~{mean[d]:g})" for d in agreed) if agreed
                  else f"No dimension where every score is within {AGREE_WITHIN:g} point")

    def who(dim: str) -> str:
        by = scores[dim]
        high, low = max(by, key=lambda a: by[a]), min(by, key=lambda a: by[a])
        return f"{_label(dim)} ({names.get(high, high)} {by[high]:g} vs {names.get(low, low)} {by[low]:g})"

    disagreements = ("Disagree on " + "; ".join(who(d) for d in disputed) if disputed
                     else f"No dimension spread by {DISAGREE_FROM:g} points or more")
    return PanelSummary(advisors, scores, spread, mean, agreements, disagreements, names)
