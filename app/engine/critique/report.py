"""The critique report: eight dimensions, an overall grade and a summary.

The same JSON shape is the model's output format (constrained decoding uses
:func:`report_json_schema`) and the training target format, so it is defined once, here.
The parser accepts what models really write (code fences, chatter around the JSON, scores as
strings) and turns everything else into a :class:`ReportParseError` listing specific problems;
it never raises anything else, whatever the text.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

DIMENSIONS: tuple[str, ...] = (
    "composition",
    "lighting",
    "focus_sharpness",
    "color_harmony",
    "subject_isolation",
    "depth_perspective",
    "visual_balance",
    "emotional_impact",
)

DIMENSION_LABELS: dict[str, str] = {
    "composition": "Composition",
    "lighting": "Lighting",
    "focus_sharpness": "Focus & Sharpness",
    "color_harmony": "Color Harmony",
    "subject_isolation": "Subject Isolation",
    "depth_perspective": "Depth & Perspective",
    "visual_balance": "Visual Balance",
    "emotional_impact": "Emotional Impact",
}

GRADES: tuple[str, ...] = (
    "A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F",
)

# Printable text only (no control characters): keeps a character's worst case at 4 bytes.
TEXT_PATTERN = r"^[^\x00-\x1f]*$"

SCORE_MIN = 0.0
SCORE_MAX = 10.0
DEFAULT_MAX_TEXT_CHARS = 400


@dataclass(frozen=True)
class DimensionScore:
    """One dimension of a critique. ``score`` is ``None`` when it could not be judged."""

    score: float | None
    comment: str
    recommendation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "comment": self.comment, "recommendation": self.recommendation}


@dataclass
class Report:
    """A parsed critique. ``raw_text`` keeps the model's output exactly as generated."""

    dimensions: dict[str, DimensionScore]
    overall_grade: str
    summary: str
    raw_text: str = ""
    notes: list[str] = field(default_factory=list)
    # True for what :func:`parse_partial_report` recovered from a cut-off generation: only the
    # dimensions that completed, possibly no grade or summary.
    partial: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The report JSON (model/training format), without the raw text."""
        return {
            "dimensional_analysis": {k: self.dimensions[k].to_dict() for k in DIMENSIONS if k in self.dimensions},
            "overall_grade": self.overall_grade,
            "summary": self.summary,
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    @property
    def scores(self) -> dict[str, float]:
        """Scores of the dimensions that have one."""
        return {k: d.score for k, d in self.dimensions.items() if d.score is not None}

    @property
    def overall_score(self) -> float | None:
        """Mean of the available dimension scores (the grade is the model's, this is arithmetic)."""
        values = list(self.scores.values())
        return round(sum(values) / len(values), 2) if values else None

    @classmethod
    def from_dict(cls, data: dict[str, Any], raw_text: str = "", *, unscored: bool = False) -> Report:
        """Build from the report JSON; raises :class:`ReportParseError` on any problem. ``unscored``
        accepts ``"score": null`` (a stored measurement-only report's unmeasurable dimensions)."""
        return _validate(data, raw_text, unscored)


class ReportParseError(ValueError):
    """The text is not a valid report. ``problems`` names each thing that is wrong."""

    def __init__(self, problems: list[str], raw_text: str = "", partial: dict[str, Any] | None = None):
        self.problems = list(problems)
        self.raw_text = raw_text
        self.partial = partial
        super().__init__("; ".join(self.problems) if self.problems else "invalid report")


def grade_for_score(score: float) -> str:
    """Letter grade for a 0-10 mean score (used when a report is made without a model)."""
    bands = [(9.3, "A+"), (8.7, "A"), (8.3, "A-"), (7.9, "B+"), (7.5, "B"), (7.1, "B-"),
             (6.7, "C+"), (6.3, "C"), (5.9, "C-"), (5.5, "D+"), (5.1, "D"), (4.7, "D-")]
    for floor, grade in bands:
        if score >= floor:
            return grade
    return "F"


def report_json_schema(max_text_chars: int = DEFAULT_MAX_TEXT_CHARS) -> dict[str, Any]:
    """JSON schema of the report, for constrained decoding and validation.

    ``max_text_chars`` bounds each comment and the pattern bans control characters, so the output
    has a worst-case length (``critique/budget.py`` turns it into the token budget).
    """
    text = {"type": "string", "minLength": 1, "maxLength": max_text_chars, "pattern": TEXT_PATTERN}
    dim = {
        "type": "object",
        "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 10}, "comment": text,
                       "recommendation": text},
        "required": ["score", "comment", "recommendation"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "dimensional_analysis": {
                "type": "object",
                "properties": {k: dim for k in DIMENSIONS},
                "required": list(DIMENSIONS),
                "additionalProperties": False,
            },
            "overall_grade": {"type": "string", "enum": list(GRADES)},
            "summary": {"type": "string", "minLength": 1, "maxLength": max_text_chars * 2, "pattern": TEXT_PATTERN},
        },
        "required": ["dimensional_analysis", "overall_grade", "summary"],
        "additionalProperties": False,
    }


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def _json_candidates(text: str) -> list[str]:
    """Substrings that may hold the report JSON, most likely first."""
    out = [m.group(1) for m in _FENCE.finditer(text)]
    start = text.find("{")
    if start >= 0:
        end = text.rfind("}")
        if end > start:
            out.append(text[start : end + 1])
        out.append(text[start:])  # an unterminated fence or a cut-off generation
    return out


def _looks_like_report(obj: dict[str, Any]) -> bool:
    return "dimensional_analysis" in obj or any(k in obj for k in DIMENSIONS)


def _looks_truncated(text: str) -> bool:
    return text.count("{") > text.count("}")


def extract_json(text: str) -> dict[str, Any]:
    """The first JSON object found in model output; :class:`ReportParseError` if none."""
    if not isinstance(text, str) or not text.strip():
        raise ReportParseError(["the model output is empty"], raw_text=text if isinstance(text, str) else "")
    decoder = json.JSONDecoder()
    fallback: dict[str, Any] | None = None
    for candidate in _json_candidates(text):
        candidate = candidate.strip()
        for i, ch in enumerate(candidate):
            if ch != "{":
                continue
            try:
                obj, _ = decoder.raw_decode(candidate, i)
            except (json.JSONDecodeError, RecursionError):
                continue
            if isinstance(obj, dict):
                if _looks_like_report(obj):
                    return obj
                fallback = fallback or obj
    # A stray object that is not a report, found while the real one is cut off, is not the answer.
    if fallback is not None and not _looks_truncated(text):
        return fallback
    if "{" in text:
        raise ReportParseError(["the JSON in the model output is incomplete or malformed"], raw_text=text)
    raise ReportParseError(["the model output contains no JSON object"], raw_text=text)


def _coerce_score(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("a boolean")
    if isinstance(value, (int, float)):
        score = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*", value)
        if not match:
            raise TypeError(f"the text {value[:30]!r}")
        score = float(match.group(1))
    else:
        raise TypeError(f"a {type(value).__name__}")
    if math.isnan(score) or math.isinf(score):
        raise TypeError("not a finite number")
    return score


def _dimension(key: str, entry: Any, unscored: bool = False) -> tuple[DimensionScore | None, str]:
    """One dimension entry validated: (the score, "") or (None, what is wrong). ``unscored``: a
    stored report may say ``"score": null`` (a measurement-only report's "needs a vision model")."""
    if entry is None:
        return None, f"dimension '{key}' is missing"
    if not isinstance(entry, dict):
        return None, f"dimension '{key}' is not an object"
    if "score" not in entry:
        return None, f"dimension '{key}' has no score"
    if unscored and entry["score"] is None:
        return DimensionScore(score=None, comment=str(entry.get("comment") or ""),
                              recommendation=str(entry.get("recommendation") or "")), ""
    try:
        score = _coerce_score(entry["score"])
    except TypeError as exc:
        return None, f"dimension '{key}' score is not a number ({exc})"
    if not SCORE_MIN <= score <= SCORE_MAX:
        return None, f"dimension '{key}' score {score:g} is outside 0-10"
    comment = entry.get("comment", "")
    recommendation = entry.get("recommendation", "")
    return DimensionScore(score=score, comment=str(comment) if comment is not None else "",
                          recommendation=str(recommendation) if recommendation is not None else ""), ""


def _validate(data: Any, raw_text: str, unscored: bool = False) -> Report:
    if not isinstance(data, dict):
        raise ReportParseError(["the report is not a JSON object"], raw_text=raw_text)
    problems: list[str] = []
    analysis = data.get("dimensional_analysis")
    if analysis is None:
        # Some models drop the wrapper and put the dimensions at the top level.
        if any(k in data for k in DIMENSIONS):
            analysis = data
        else:
            problems.append("'dimensional_analysis' is missing")
            analysis = {}
    if not isinstance(analysis, dict):
        problems.append("'dimensional_analysis' is not an object")
        analysis = {}
    dims: dict[str, DimensionScore] = {}
    for key in DIMENSIONS:
        dim, problem = _dimension(key, analysis.get(key), unscored)
        if dim is not None:
            dims[key] = dim
        else:
            problems.append(problem)
    grade = data.get("overall_grade", "")
    if not isinstance(grade, str) or not grade.strip():
        problems.append("'overall_grade' is missing")
        grade = ""
    summary = data.get("summary", "")
    summary = summary if isinstance(summary, str) else str(summary)
    if unscored and dims and not any(d.score is not None for d in dims.values()):
        problems.append("no dimension has a score")
    if problems:
        raise ReportParseError(problems, raw_text=raw_text, partial=data)
    return Report(dimensions=dims, overall_grade=grade.strip(), summary=summary.strip(), raw_text=raw_text)


def parse_report(text: str) -> Report:
    """Parse model output into a :class:`Report`.

    Raises :class:`ReportParseError` (and only that) with the raw text kept.
    """
    try:
        data = extract_json(text)
        return _validate(data, text)
    except ReportParseError:
        raise
    except Exception as exc:  # defensive: the parser must never crash on model text
        raise ReportParseError([f"unexpected parser failure: {exc}"], raw_text=str(text)) from exc


def _complete_members(text: str, pos: int) -> tuple[dict[str, Any], str | None, int]:
    """Members of the JSON object opening at ``text[pos]`` that were written out in full.

    Returns (complete members, the key whose value was cut or None, where that value starts).
    A generation cut by its token limit is a prefix of valid JSON; this reads as far as it goes.
    """
    decoder = json.JSONDecoder()
    members: dict[str, Any] = {}
    i = pos + 1
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] == "}":
            return members, None, -1
        try:
            key, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return members, None, -1
        while i < len(text) and text[i] in " \t\r\n:":
            i += 1
        if not isinstance(key, str) or i >= len(text):
            return members, key if isinstance(key, str) else None, i
        try:
            members[key], i = decoder.raw_decode(text, i)
        except (json.JSONDecodeError, RecursionError):
            return members, key, i


def parse_partial_report(text: str) -> Report | None:
    """What a cut-off generation completed: the dimensions written out in full (validated like a
    whole report), plus the grade and summary if they were reached. None if no dimension finished."""
    if not isinstance(text, str):
        return None
    start = text.find("{")
    if start < 0:
        return None
    top, cut_key, cut_at = _complete_members(text, start)
    analysis = top.get("dimensional_analysis")
    if not isinstance(analysis, dict) and cut_key == "dimensional_analysis" and text[cut_at:cut_at + 1] == "{":
        analysis, _, _ = _complete_members(text, cut_at)
    if not isinstance(analysis, dict):
        return None
    dims = {k: d for k in DIMENSIONS if (d := _dimension(k, analysis.get(k))[0]) is not None}
    if not dims:
        return None
    grade = top.get("overall_grade")
    summary = top.get("summary")
    return Report(dimensions=dims, overall_grade=grade.strip() if isinstance(grade, str) else "",
                  summary=summary.strip() if isinstance(summary, str) else "", raw_text=text, partial=True)
