"""Why a report failed, in the user's words: the cause first, in one sentence, with the fix.

The parser lists every problem it found; when generation hit the length limit, the ten
"... is missing" lines it also produced are consequences, not causes. ``explain`` picks the
cause and says what to change; the full list stays available as details.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.engine.critique.report import DIMENSIONS

_LIMIT = re.compile(r"stopped at the (\d+)-token limit")
SETTINGS_HINT = "in Settings (Ctrl+,)"


@dataclass
class Explanation:
    cause: str  # one sentence
    fix: str  # what to do, in terms of buttons and settings
    details: list[str] = field(default_factory=list)

    def text(self) -> str:
        return f"{self.cause} {self.fix}".strip()


def explain(parse_problems: list[str], raw_text: str = "") -> Explanation:
    """The first cause among the parser's problems, and the fix for it."""
    problems = [p for p in parse_problems if p]
    for problem in problems:
        match = _LIMIT.search(problem)
        if match:
            return Explanation(
                f"The model ran out of room: it stopped at the {match.group(1)}-token length limit before the "
                "report was complete.",
                f"Raise “Max tokens per report” {SETTINGS_HINT}, then Critique again.",
                [p for p in problems if p is not problem])
    joined = " ".join(problems).lower()
    constrained = f"Turn on “Constrained decoding” {SETTINGS_HINT} (it always gives a complete report), then " \
                  "Critique again."
    if "output is empty" in joined or (not problems and not raw_text.strip()):
        return Explanation("The model wrote nothing.", "Critique again; if it keeps happening, choose another "
                           f"model {SETTINGS_HINT}.", problems)
    if "no json object" in joined:
        return Explanation("The model answered in prose instead of writing a report.", constrained, problems)
    if "incomplete or malformed" in joined:
        return Explanation("The model's report was cut off or malformed.", constrained, problems)
    missing = [p for p in problems if p.endswith("is missing")]
    if missing:
        n_dims = sum(1 for p in missing if any(f"'{k}'" in p for k in DIMENSIONS))
        what = f"{n_dims} of the {len(DIMENSIONS)} dimensions" if n_dims else f"{len(missing)} required parts"
        return Explanation(f"The model's report left out {what}.", constrained, problems)
    if problems:
        return Explanation(f"The model's report could not be used: {problems[0]}.", constrained, problems[1:])
    return Explanation("The model's answer could not be read as a report.", constrained, [])


def notice_text(notice: str | None, model_used: str, requested_mode: str) -> str | None:
    """The engine's notice in the window's words: the engine speaks to a terminal (it names the
    download command), the window points to its own buttons."""
    if not notice:
        return None
    if model_used == "none" and requested_mode != "technical":
        return ("No vision-language model is on this computer yet, so this is a measurement-only report. Open "
                "Settings (Ctrl+,) and press Download, or choose a model folder.")
    return notice
