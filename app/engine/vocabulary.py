"""The words every layer shares: the analysis modes users pick and which weights answered.

Both are ``str`` enums, so JSON, SQL columns, HTTP headers and command lines carry the same plain
strings they always did (``"lora"``, ``"ab_test_fine_tuned"``) while the code names one set.
"""

from __future__ import annotations

from enum import StrEnum


class UnknownModeError(ValueError):
    """A mode name that is not one of :class:`Mode`; the message lists the choices."""


class Mode(StrEnum):
    """What a user asks for. ``auto`` walks ``lora -> rag -> baseline``; ``technical`` uses no model."""

    AUTO = "auto"
    BASELINE = "baseline"
    RAG = "rag"
    LORA = "lora"
    TECHNICAL = "technical"


MODES: tuple[str, ...] = tuple(m.value for m in Mode)


def parse_mode(text: str | None) -> Mode:
    """``text`` as a Mode (blank means ``auto``); raises UnknownModeError naming the choices."""
    name = (text or Mode.AUTO.value).strip().lower()
    try:
        return Mode(name)
    except ValueError:
        raise UnknownModeError(f"unknown mode {text!r}; choose one of: {', '.join(MODES)}") from None


class ModelUsed(StrEnum):
    """Which weights answered a critique, as jobs, headers, history and stats record it."""

    BASE = "base"
    FINE_TUNED = "fine_tuned"
    AB_TEST_BASE = "ab_test_base"
    AB_TEST_FINE_TUNED = "ab_test_fine_tuned"
    NONE = "none"  # a measurement-only report: no model ran


class ModelMode(StrEnum):
    """``serve --model-mode``: the service-wide weights policy."""

    BASE = "base"
    FINE_TUNED = "fine_tuned"
    AB_TEST = "ab_test"
