"""The one prompt builder, shared by inference and training.

A LoRA adapter only transfers if the model sees, at inference, exactly the prompt it was trained
on. So both paths build their chat turns here: inference renders :meth:`Prompt.messages` with the
generation prompt (see ``model_host.render_prompt``), and training appends the target report as
the assistant turn with :meth:`Prompt.training_messages`; mlx-vlm's trainer renders the same
turns, so the trained completion prefix equals the inference prompt token for token.

Layout, for reuse of the computed prompt (app/engine/model/prefill.py): mlx-vlm puts the photo at
the start of the user turn, so everything constant goes in the system turn, most widely shared
first: the critic's role, the report format (the same for every pass), then the persona (the same
for every photo of one advisor). What belongs to one photo (measured facts, RAG references) comes
after the photo. The text before the photo is then computed once per advisor (and its first part
once for all advisors), not once per photo.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.engine.advisors import Advisor
from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS

SYSTEM_TEXT = (
    "You are Mondrian, a photography critic. You study one photograph and write a critique "
    "as a single JSON object and nothing else."
)

_FORMAT_TEXT = (
    "Score each of the eight dimensions from 0 (poor) to 10 (masterful) as an integer, with a "
    "one- or two-sentence comment on what you see and one concrete recommendation. Then give a "
    "short summary.\n"
    "Dimensions: " + "; ".join(f"{k} ({DIMENSION_LABELS[k]})" for k in DIMENSIONS) + "."
)

# The answer's shape closes the user turn: the last words before the answer are the same for every
# photo (a model copies the shape best from right there), and they are short, so little of the
# prompt after the photo is left to prefill.
_ANSWER_SHAPE = (
    'Answer with JSON only, in this shape: {"dimensional_analysis": {"composition": {"score": 7, '
    '"comment": "...", "recommendation": "..."}, ...}, "summary": "..."}'
)
_CRITIQUE_ASK = "Critique this photograph. " + _ANSWER_SHAPE
_PROFILE_ASK = "Profile this photograph. " + _ANSWER_SHAPE

_PROFILE_TEXT = (
    "Profile this photograph neutrally, as a reference for later comparison. Describe what is "
    "there, not what you would change."
)


@dataclass(frozen=True)
class ReferenceContext:
    """A similar reference photo (RAG) summarised for the prompt."""

    name: str
    scores: dict[str, float]
    note: str = ""

    def describe(self) -> str:
        scores = ", ".join(f"{k} {self.scores[k]:g}" for k in DIMENSIONS if k in self.scores)
        return f"- {self.name}: {scores}" + (f". {self.note}" if self.note else "")


@dataclass(frozen=True)
class Prompt:
    """System and user text for one request; the photo goes with the user turn."""

    system: str
    user: str

    def messages(self) -> list[dict[str, Any]]:
        """Chat turns for inference (mlx-vlm inserts the image token into the user turn)."""
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]

    def training_messages(self, answer: dict[str, Any] | str) -> list[dict[str, Any]]:
        """The inference turns plus the target report as the assistant turn."""
        text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        return [*self.messages(), {"role": "assistant", "content": text}]


def _persona_text(advisor: Advisor) -> str:
    lines = [f"Write this critique in the voice of {advisor.name}."]
    if advisor.bio:
        lines.append(f"About {advisor.name}: {advisor.bio}")
    if advisor.prompt:
        lines.append(advisor.prompt)
    if advisor.looks_for:
        lines.append("What this critic looks for: " + "; ".join(advisor.looks_for) + ".")
    return "\n".join(lines)


_FACTS_HEADER = "Measured facts about this photo (trust them; your comments must agree with them):"


def _facts_text(facts: Sequence[str]) -> str:
    if not facts:
        return ""
    return _FACTS_HEADER + "\n" + "\n".join(f"- {f}" for f in facts)


def facts_in_prompt(user_text: str) -> list[str]:
    """The measured facts a built prompt carries (the inverse of the facts section), for checks
    that must rebuild a stored prompt without the full-size photo it was measured on."""
    if _FACTS_HEADER not in user_text:
        return []
    section = user_text.split(_FACTS_HEADER + "\n", 1)[1].split("\n\n", 1)[0]
    return [line[2:] for line in section.splitlines() if line.startswith("- ")]


def _references_text(references: Sequence[ReferenceContext]) -> str:
    if not references:
        return ""
    return ("Reference photos this critic admires that resemble this one, with their scores; use them as "
            "a yardstick:\n" + "\n".join(r.describe() for r in references))


def critique_prompt(
    advisor: Advisor,
    *,
    facts: Sequence[str] = (),
    references: Sequence[ReferenceContext] = (),
) -> Prompt:
    """The critique prompt for ``advisor``: role, format and persona before the photo; the photo's
    measured facts and RAG references after it."""
    system = "\n\n".join([SYSTEM_TEXT, _FORMAT_TEXT, _persona_text(advisor)])
    parts = [_facts_text(facts), _references_text(references), _CRITIQUE_ASK]
    return Prompt(system=system, user="\n\n".join(p for p in parts if p))


def profile_prompt(*, facts: Sequence[str] = ()) -> Prompt:
    """Pass 1 of RAG and draft training targets: a neutral eight-dimension profile, no persona."""
    system = "\n\n".join([SYSTEM_TEXT, _FORMAT_TEXT, _PROFILE_TEXT])
    parts = [_facts_text(facts), _PROFILE_ASK]
    return Prompt(system=system, user="\n\n".join(p for p in parts if p))
