"""The conversation about a critique as HTML for the PDF export (Markdown has the engine's own).

Each exchange reads as it does in the window's thread and in the Markdown export: the question,
the advisor's answer (a crop as its box and reason), and how it ended when it did not finish
(:func:`~app.engine.critique.export.turn_answer`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from app.engine.critique.export import turn_answer


def conversation_html(turns: Sequence[Any], advisor: str = "Advisor") -> str:
    """``<h2>Conversation</h2>`` and one paragraph pair per turn; "" when there are none."""
    if not turns:
        return ""
    out = ["<h2>Conversation</h2>"]
    for turn in turns:
        answer, note = turn_answer(turn)
        text = html.escape(answer).replace("\n", "<br>")
        if note:
            text += (" " if text else "") + f"<i>({html.escape(note)})</i>"
        out.append(f"<p><b>You:</b> {html.escape(turn.question)}</p>"
                   f"<p style='margin-left:12px'><b>{html.escape(advisor)}:</b> {text}</p>")
    return "".join(out)
