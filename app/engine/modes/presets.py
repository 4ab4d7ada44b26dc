"""The user-facing modes as presets over the two axes, and the one fallback chain.

``baseline`` = one pass on the base; ``rag`` = the RAG pipeline on the base; ``lora`` = one pass
on the advisor's adapter; ``auto`` starts the chain ``lora -> rag -> baseline`` at its head. The
mode a result reports is read back from what ran (:func:`effective_mode`), so a response never
says ``baseline`` when an adapter answered, nor ``lora`` when none did.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.engine.vocabulary import Mode


class Pipeline(StrEnum):
    """How the report is made."""

    ONE_PASS = "one_pass"
    RAG = "rag"


class WeightsSource(StrEnum):
    """Which weights a preset asks for (a weights policy may override it)."""

    BASE = "base"
    ADVISOR_ADAPTER = "advisor_adapter"


@dataclass(frozen=True)
class Preset:
    mode: Mode
    pipeline: Pipeline
    weights: WeightsSource
    fallback: Mode | None  # the next preset to try when this one is unavailable


PRESETS: dict[Mode, Preset] = {
    Mode.LORA: Preset(Mode.LORA, Pipeline.ONE_PASS, WeightsSource.ADVISOR_ADAPTER, Mode.RAG),
    Mode.RAG: Preset(Mode.RAG, Pipeline.RAG, WeightsSource.BASE, Mode.BASELINE),
    Mode.BASELINE: Preset(Mode.BASELINE, Pipeline.ONE_PASS, WeightsSource.BASE, None),
}
AUTO_HEAD = Mode.LORA

# The order the front ends list the modes in: auto, the chain from its head, then technical.
MODE_CHOICES: tuple[str, ...] = (Mode.AUTO.value, *(m.value for m in PRESETS), Mode.TECHNICAL.value)


def effective_mode(pipeline: Pipeline, fine_tuned: bool) -> Mode:
    """The mode name of what actually ran: RAG is ``rag`` on any weights; one pass is ``lora`` on an
    adapter and ``baseline`` on the base."""
    if pipeline is Pipeline.RAG:
        return Mode.RAG
    return Mode.LORA if fine_tuned else Mode.BASELINE
