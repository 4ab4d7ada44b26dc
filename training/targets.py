"""Target reports for training: what the advisor should say about each portfolio photo.

Where a photo's target comes from, first match wins:

1. ``edited``  - a profile the user reviewed and edited (database, ``edited`` or source ``user``);
2. ``targets`` - an entry of the targets file given with ``--targets`` (JSON or CSV, per file name);
3. ``draft``   - a draft profile made by the base model (pass 1, saved to the database for review;
   made by ``--draft`` for photos that have none yet, and only used when ``--draft`` is given).

Star ratings calibrate drafts only (see :func:`calibrate`): a draft's level comes from a model that
knows nothing about the photographer, while the stars are the photographer's own verdict. Scores a
person wrote (edited profiles, a targets file) are never changed; a large disagreement with the
stars is reported as a warning instead.

Targets are normalised to the report JSON the model is trained to write: all eight dimensions with
an integer score, a comment and a recommendation, and a summary. The overall grade is not part
of a target: it is derived from the scores (:func:`app.engine.critique.report.grade_for_score`), so
the model is never taught a letter that contradicts its numbers. A grade given in a targets file is
ignored, with a note when it disagrees with the scores.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS, Report, grade_for_score

EDITED, TARGETS, DRAFT = "edited", "targets", "draft"
SOURCES = (EDITED, TARGETS, DRAFT)
FILE_COLUMNS = ("file", "photo", "image", "filename")
DEFAULT_MAX_TEXT_CHARS = 400
_MAX_TARGETS_BYTES = 64 * 1024 * 1024


class TargetsFileError(ValueError):
    """The targets file is unusable; the message names the file, the entry and the field."""

    def __init__(self, path: str | os.PathLike[str], problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class Target:
    """A photo's target report (normalised JSON dict) and where it came from."""

    report: dict[str, Any]
    source: str  # one of SOURCES
    origin: str  # for people: "targets.csv line 4", "database (edited profile)", ...
    notes: list[str] = field(default_factory=list)

    @property
    def scores(self) -> dict[str, int]:
        return {k: v["score"] for k, v in self.report["dimensional_analysis"].items()}

    @property
    def mean_score(self) -> float:
        values = list(self.scores.values())
        return sum(values) / len(values)


# ---------------------------------------------------------------------------- normalising

def _round_score(value: float) -> int:
    return int(math.floor(value + 0.5))  # 7.5 -> 8: half up, as people round


def _score(value: Any, where: str) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{where}: score is {'empty' if value is None else 'a boolean'}, not a number 0-10")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError(f"{where}: score is empty, not a number 0-10")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{where}: score {text!r} is not a number 0-10") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: score {value!r} is not a number 0-10")
    if not 0 <= value <= 10:
        raise ValueError(f"{where}: score {value:g} is outside 0-10")
    return _round_score(float(value))


def _text(value: Any, where: str, max_chars: int, notes: list[str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{where} must be text, not {type(value).__name__}")
    text = " ".join(value.split())
    if len(text) > max_chars:
        cut = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
        notes.append(f"{where} shortened from {len(text)} to {len(cut)} characters "
                     f"(inference allows at most {max_chars})")
        text = cut
    return text


def default_comment(dim: str, score: int) -> str:
    return f"{DIMENSION_LABELS[dim]} scores {score} out of 10."


def default_recommendation(score: int) -> str:
    return "Keep doing what works here." if score >= 7 else "Work on this first."


def normalize_report(entry: Mapping[str, Any], *, where: str = "entry",
                     max_text_chars: int = DEFAULT_MAX_TEXT_CHARS, notes: list[str] | None = None) -> dict[str, Any]:
    """Turn a report-like mapping into the training target JSON; ``ValueError`` names the field.

    Accepts the report shape (``dimensional_analysis`` -> ``{score, comment, recommendation}``)
    and a flat shape (``{"composition": 7, ...}`` or ``{"composition": {"score": 7}}``). All eight
    scores are required; missing texts get short defaults. A given ``overall_grade`` is dropped (the
    grade is derived), with a note in ``notes`` when it disagrees with the scores.
    """
    notes = notes if notes is not None else []
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} is not an object")
    dims = entry.get("dimensional_analysis", entry)
    if not isinstance(dims, Mapping):
        raise ValueError(f"{where}: 'dimensional_analysis' is not an object")
    out: dict[str, Any] = {}
    for dim in DIMENSIONS:
        value = dims.get(dim)
        spot = f"{where}, {dim}"
        if value is None:
            raise ValueError(f"{spot}: missing (all eight dimensions need a score)")
        if isinstance(value, Mapping):
            if "score" not in value:
                raise ValueError(f"{spot}: no 'score'")
            score = _score(value["score"], spot)
            comment = _text(value.get("comment"), f"{spot} comment", max_text_chars, notes)
            rec = _text(value.get("recommendation"), f"{spot} recommendation", max_text_chars, notes)
        else:
            score, comment, rec = _score(value, spot), "", ""
        out[dim] = {"score": score, "comment": comment or default_comment(dim, score),
                    "recommendation": rec or default_recommendation(score)}
    mean = sum(d["score"] for d in out.values()) / len(out)
    stated = entry.get("overall_grade")
    derived = grade_for_score(round(mean, 2))
    if stated is not None and not (isinstance(stated, str) and stated.strip() in ("", derived)):
        notes.append(f"{where}: overall_grade {stated!r} ignored: the grade follows the scores "
                     f"(mean {mean:.2f} is {derived})")
    summary = _text(entry.get("summary"), f"{where} summary", max_text_chars * 2, notes)
    return {"dimensional_analysis": out, "summary": summary or f"Overall {mean:.1f} out of 10."}


def report_to_target(report: Report, *, where: str, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
                     notes: list[str] | None = None) -> dict[str, Any]:
    """A stored/parsed :class:`Report` as a target (all eight scores must be present)."""
    return normalize_report(report.model_dict(), where=where, max_text_chars=max_text_chars, notes=notes)


# ---------------------------------------------------------------------------- the targets file

@dataclass
class TargetsFile:
    """Entries by the name the file used (a file name or a path relative to the portfolio)."""

    path: Path
    entries: dict[str, dict[str, Any]]
    origins: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def lookup(self, relative: str) -> tuple[str, dict[str, Any]] | None:
        """The entry for a photo at ``relative`` (posix path under the portfolio): exact relative
        path, else file name, else either case-insensitively. Returns (key, report)."""
        name = relative.rsplit("/", 1)[-1]
        for key in (relative, name):
            if key in self.entries:
                return key, self.entries[key]
        folded = {k.casefold(): k for k in self.entries}
        for key in (relative.casefold(), name.casefold()):
            if key in folded:
                return folded[key], self.entries[folded[key]]
        return None


def load_targets_file(path: str | os.PathLike[str], *,
                      max_text_chars: int = DEFAULT_MAX_TEXT_CHARS) -> TargetsFile:
    """Read a JSON or CSV targets file. Raises :class:`TargetsFileError` naming what is wrong.

    JSON: ``{"IMG_1.jpg": {report}, ...}`` or ``[{"file": "IMG_1.jpg", ...report...}, ...]``.
    CSV: a header with a ``file`` column and one column per dimension (its score; ``<dim>_score``
    also works), optional ``<dim>_comment``, ``<dim>_recommendation``, ``overall_grade``, ``summary``.
    """
    path = Path(path)
    if not path.is_file():
        raise TargetsFileError(path, "targets file not found" if not path.exists() else "not a file")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise TargetsFileError(path, f"unsupported targets file type {path.suffix or '(none)'!r}: use .json or .csv")
    if path.stat().st_size > _MAX_TARGETS_BYTES:
        raise TargetsFileError(path, f"file is larger than {_MAX_TARGETS_BYTES // 2**20} MB")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TargetsFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise TargetsFileError(path, "file is empty")
    result = TargetsFile(path=path, entries={}, origins={})
    rows = _json_rows(path, text) if suffix == ".json" else _csv_rows(path, text)
    for name, entry, origin in rows:
        if name in result.entries:
            raise TargetsFileError(path, f"{origin}: file {name!r} appears twice (first at {result.origins[name]})")
        try:
            result.entries[name] = normalize_report(entry, where=f"{origin} ({name})",
                                                    max_text_chars=max_text_chars, notes=result.notes)
        except ValueError as exc:
            raise TargetsFileError(path, str(exc)) from None
        result.origins[name] = f"{path.name} {origin}"
    if not result.entries:
        raise TargetsFileError(path, "no targets in the file")
    return result


def _file_name(value: Any, origin: str, path: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TargetsFileError(path, f"{origin}: the photo file name is missing (give it as 'file')")
    return value.strip().replace("\\", "/")


def _json_rows(path: Path, text: str) -> list[tuple[str, Any, str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TargetsFileError(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    rows: list[tuple[str, Any, str]] = []
    if isinstance(data, dict):
        for name, entry in data.items():
            rows.append((_file_name(name, f"entry {name!r}", path), entry, f"entry {name!r}"))
    elif isinstance(data, list):
        for i, entry in enumerate(data):
            origin = f"item {i + 1}"
            if not isinstance(entry, dict):
                raise TargetsFileError(path, f"{origin} is not an object")
            key = next((k for k in FILE_COLUMNS if k in entry), None)
            if key is None:
                raise TargetsFileError(path, f"{origin}: no 'file' field naming the photo")
            rows.append((_file_name(entry[key], origin, path), entry, origin))
    else:
        raise TargetsFileError(path, "the JSON must be an object keyed by file name or a list of objects")
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[str, Any, str]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise TargetsFileError(path, f"no CSV header ({exc})") from None
    file_col = next((c for c in FILE_COLUMNS if c in header), None)
    if file_col is None:
        raise TargetsFileError(path, f"the CSV header has no 'file' column (columns: {', '.join(header)})")
    known = set(FILE_COLUMNS) | {"overall_grade", "summary"}
    for d in DIMENSIONS:
        known |= {d, f"{d}_score", f"{d}_comment", f"{d}_recommendation"}
    unknown = [h for h in header if h and h not in known]
    if unknown:
        raise TargetsFileError(path, f"unknown CSV column(s) {', '.join(map(repr, unknown))}; dimension columns "
                                     f"are {', '.join(DIMENSIONS)} (plus _comment/_recommendation)")
    for d in DIMENSIONS:
        if d not in header and f"{d}_score" not in header:
            raise TargetsFileError(path, f"the CSV header has no '{d}' score column")
    rows: list[tuple[str, Any, str]] = []
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                raise TargetsFileError(path, f"line {line}: {len(record)} cells, the header has {len(header)}")
            cells = dict(zip(header, (c.strip() for c in record), strict=True))
            entry: dict[str, Any] = {}
            for d in DIMENSIONS:
                entry[d] = {"score": cells.get(d, cells.get(f"{d}_score", "")),
                            "comment": cells.get(f"{d}_comment", ""),
                            "recommendation": cells.get(f"{d}_recommendation", "")}
            entry["overall_grade"] = cells.get("overall_grade", "")
            entry["summary"] = cells.get("summary", "")
            rows.append((_file_name(cells[file_col], f"line {line}", path), entry, f"line {line}"))
    except csv.Error as exc:
        raise TargetsFileError(path, f"line {reader.line_num}: malformed CSV ({exc})") from None
    return rows


# ---------------------------------------------------------------------------- calibration

def stars_anchor(stars: int) -> float | None:
    """The mean 0-10 score a star rating stands for: 1 star 2.5 ... 5 stars 9.5, rejected 1.5.

    Linear in the stars (1.75 points per star), so 3 stars is the scale's "competent" 6.
    Unrated (0) stands for nothing.
    """
    if stars == -1:
        return 1.5
    if 1 <= stars <= 5:
        return 0.75 + 1.75 * stars
    return None


def calibrate(target: Target, stars: int | None, *, conflict_points: float = 2.5) -> Target:
    """Calibrate a draft to the photographer's stars; leave human scores alone but flag conflicts.

    A draft's scores are shifted by the same amount so that their mean equals the stars' anchor
    (:func:`stars_anchor`), then rounded and clamped to 0-10; the relative profile across the
    dimensions (what the model saw as strong or weak) is kept (the grade, derived, follows the mean).
    """
    anchor = stars_anchor(stars) if stars is not None else None
    if anchor is None:
        return target
    mean = target.mean_score
    if target.source != DRAFT:
        if abs(anchor - mean) > conflict_points:
            target.notes.append(f"rated {stars} star(s) (about {anchor:g}/10) but its {target.source} scores "
                                f"average {mean:.1f}; kept the scores as written")
        return target
    shift = anchor - mean
    report = json.loads(json.dumps(target.report))
    for dim in report["dimensional_analysis"].values():
        dim["score"] = min(10, max(0, _round_score(dim["score"] + shift)))
    new_mean = sum(d["score"] for d in report["dimensional_analysis"].values()) / len(DIMENSIONS)
    note = f"draft calibrated to {stars} star(s): mean {mean:.1f} -> {new_mean:.1f}"
    return Target(report=report, source=target.source, origin=target.origin, notes=[*target.notes, note])
