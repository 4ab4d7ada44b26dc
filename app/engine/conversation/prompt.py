"""The follow-up prompt: the critique's own prompt, the report as the assistant turn, then the talk.

The conversation is built to *extend* the critique prompt token for token, so the model host's
prefix cache (mlx-vlm's ``PromptCacheState``, kept per weights and photo) reuses the K/V of the
photo, the measured facts, the critique prompt and the report, and a follow-up only prefills its
own question. Two details make the extension exact:

* mlx-vlm attaches an unmarked image to the *last* user turn; a conversation has several, so the
  photo is marked explicitly on the first one, before or after its text as the family's template
  placed it in the critique (``image_first``; :func:`image_placement` finds which by rendering).
* the critique's system text stays as it was (it asks for JSON); the instruction to answer in
  prose rides on the first follow-up turn kept in context, so later turns extend it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.engine.advisors import Advisor
from app.engine.critique.prompts import Prompt

Turn = tuple[str, str]  # (question, answer)


@dataclass(frozen=True)
class ConversationPrompt(Prompt):
    """A critique prompt continued by assistant/user turns (``history``), the photo on the first user turn."""

    history: tuple[tuple[str, str], ...] = ()  # (role, text) after the critique's user turn
    image_first: bool = True

    def messages(self) -> list[dict[str, Any]]:
        photo: dict[str, Any] = {"type": "image"}
        text: dict[str, Any] = {"type": "text", "text": self.user}
        first = [photo, text] if self.image_first else [text, photo]
        return [{"role": "system", "content": self.system}, {"role": "user", "content": first},
                *({"role": role, "content": content} for role, content in self.history)]


def follow_up_instruction(advisor: Advisor) -> str:
    """Said once, before the first question kept in context."""
    return (f"Now talk with me about this photograph and your critique above, as {advisor.name}: answer "
            "my questions in a few sentences of plain prose (JSON only when I ask for it), consistent with the measured facts.")


def crop_instruction(aspect: str | None, convention_text: str) -> str:
    """The crop request: a box in the model's coordinate convention and a one-line reason."""
    shape = f" with an aspect ratio of {aspect} (width:height)" if aspect else ""
    return (f"Suggest the one crop of this photograph{shape} that would improve it most. Give the crop box "
            f"as JSON: x, y (its top-left corner), width and height, {convention_text}, and a one-line reason.")


def conversation_prompt(critique: Prompt, report_text: str, advisor: Advisor, turns: Sequence[Turn],
                        request: str, *, image_first: bool = True, instructed: bool = True) -> ConversationPrompt:
    """``critique`` + the report as its answer + the earlier ``turns`` + ``request`` (the new question,
    or the crop request). ``instructed``: prefix the first kept question with the prose instruction."""
    history: list[tuple[str, str]] = [("assistant", report_text)]
    questions = [q for q, _ in turns] + [request]
    if instructed:
        questions[0] = follow_up_instruction(advisor) + "\n\n" + questions[0]
    for question, (_, answer) in zip(questions, turns, strict=False):
        history += [("user", question), ("assistant", answer)]
    history.append(("user", questions[-1]))
    return ConversationPrompt(system=critique.system, user=critique.user, history=tuple(history),
                              image_first=image_first)


def image_placement(render: Callable[[Prompt], str], critique: Prompt) -> bool:
    """True when the photo goes before the first user text: the placement whose rendering of a
    conversation begins with the rendered critique prompt (the template's own choice). When
    neither does (a template that rewrites earlier turns), the photo goes first; the follow-up
    then simply gets no K/V reuse."""
    head = render(critique)
    probe = (("assistant", "report"), ("user", "question"))
    for first in (True, False):
        rendered = render(ConversationPrompt(critique.system, critique.user, probe, image_first=first))
        if rendered.startswith(head):
            return first
    return True
