"""From a critique to a cull: the star mapping shown to the user, and technical problems from the facts.

Stars are read from the grade (:func:`app.engine.critique.report.grade_for_score`, the one banding),
so a frame's stars and its letter always agree: the A grades are 5 stars, the Bs 4, the Cs 3, the
Ds 2, F 1. The user's own pick/reject and stars always win over the mapping.

Technical problems are read from the measurements the critique recorded (never from the model's
words), with the thresholds of :mod:`app.engine.technical.readings`: blur when even the sharpest
region is soft, clipping when a noticeable share of highlights (or a heavy share of shadows) is
lost, tilt when the horizon is off level by more than a slight amount but less than a deliberate
angle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.engine.critique.report import GRADE_BANDS, grade_for_score
from app.engine.technical import readings as rd

STARS_BY_LETTER: dict[str, int] = {"A": 5, "B": 4, "C": 3, "D": 2, "F": 1}


def _star_bands() -> tuple[tuple[float, int, str], ...]:
    """(lowest mean score, stars, what the user is told), best first, read off the grade bands."""
    lowest: dict[str, float] = {}
    for floor, grade in GRADE_BANDS:
        lowest[grade[0]] = floor  # the bands run best first: the last floor of a letter is its lowest
    bands = [(floor, STARS_BY_LETTER[letter], f"{letter} grades") for letter, floor in lowest.items()]
    return (*bands, (0.0, STARS_BY_LETTER["F"], "F"))


STAR_BANDS: tuple[tuple[float, int, str], ...] = _star_bands()

PROBLEMS = ("blur", "clipping", "tilt")


def stars_for_grade(grade: str | None) -> int:
    """Stars (1-5) for a letter grade; 0 (unrated) for no grade."""
    return STARS_BY_LETTER.get(grade[:1], 0) if grade else 0


def stars_for_score(score: float | None) -> int:
    """Stars (1-5) for a mean dimension score, through its grade; 0 (unrated) when there is no score."""
    return 0 if score is None else stars_for_grade(grade_for_score(score))


def star_mapping_text() -> list[str]:
    """The mapping, one line per band, for the CLI and the window ("5 ★  mean >= 8.3 (A grades)")."""
    lines = []
    for floor, stars, grades in STAR_BANDS:
        bound = f"mean >= {floor:.1f}" if floor > 0 else f"below {GRADE_BANDS[-1][0]:.1f}"
        lines.append(f"{stars} {'★' * stars:<5} {bound} ({grades})")
    return lines


@dataclass(frozen=True)
class Problem:
    kind: str  # one of PROBLEMS
    detail: str  # "sharpest region 32 (soft)", shown beside the frame


def _value(tree: dict[str, Any], *keys: str) -> float | None:
    node: Any = tree
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def technical_problems(technical: dict[str, Any] | None) -> list[Problem]:
    """Blur, clipping and tilt found in a job's recorded measurements (``TechnicalAnalysis.to_dict()``)."""
    if not technical:
        return []
    found = []
    peak = _value(technical, "sharpness", "peak", "value")
    if peak is not None and peak < rd.SHARP_SOFT:
        found.append(Problem("blur", f"even the sharpest region is soft (Laplacian variance {peak:.0f})"))
    highlights = _value(technical, "clipping", "highlights", "value")
    shadows = _value(technical, "clipping", "shadows", "value")
    clipped = []
    if highlights is not None and highlights >= rd.CLIP_NOTICEABLE:
        clipped.append(f"highlights {rd.pct(highlights)}")
    if shadows is not None and shadows >= rd.CLIP_HEAVY:
        clipped.append(f"shadows {rd.pct(shadows)}")
    if clipped:
        found.append(Problem("clipping", "clipped " + ", ".join(clipped) + " of the frame"))
    tilt = _value(technical, "horizon", "tilt", "value")
    if tilt is not None and rd.TILT_SLIGHT <= abs(tilt) < rd.TILT_DELIBERATE:
        found.append(Problem("tilt", f"horizon tilted {abs(tilt):.1f}°"))
    return found
