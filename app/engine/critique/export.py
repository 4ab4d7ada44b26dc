"""Readable renderings of a critique: plain text for the terminal, Markdown for export."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS
from app.engine.critique.result import CritiqueResult


def _bar(score: float | None, width: int = 10) -> str:
    if score is None:
        return "·" * width
    filled = int(round(score / 10 * width))
    return "█" * filled + "░" * (width - filled)


def shooting_text(data: dict[str, Any] | None) -> str:
    """"1/250 s at 50 mm, f/8, ISO 100, no flash; Canon EOS R5 with RF50mm; 12 May 2025, 14:03"
    from a stored ``ShootingData.to_dict()``; "" when there is nothing."""
    if not data:
        return ""
    kit = " with ".join(str(data[k]) for k in ("camera", "lens") if data.get(k))
    when = ""
    if isinstance(data.get("taken_at"), str):
        try:
            when = datetime.fromisoformat(data["taken_at"]).strftime("%d %b %Y, %H:%M")
        except ValueError:
            when = data["taken_at"]
    return "; ".join(str(part) for part in (data.get("summary"), kit, when) if part)


def photo_lines(result: CritiqueResult) -> list[str]:
    """The photo's own facts: camera, lens and settings (EXIF), and notes about its pixels."""
    lines: list[str] = []
    text = shooting_text(result.shooting)
    if text:
        lines.append(f"Shot: {text}")
    lines += [f"Note: {note}" for note in result.notes]
    return lines


def fallback_text(result: CritiqueResult) -> str:
    """"rag (asked for auto: lora unavailable (...))": the mode that ran and, when it fell back, why
    (the reason's own ``auto:`` prefix is not repeated)."""
    reason = result.fallback_reason
    if not reason:
        return str(result.effective_mode)
    prefix = f"{result.requested_mode}: "
    reason = reason[len(prefix):] if reason.startswith(prefix) else reason
    return f"{result.effective_mode} (asked for {result.requested_mode}: {reason})"


def references_lines(result: CritiqueResult) -> list[str]:
    """The reference photos RAG compared against, one line each (name, distance, where it is)."""
    lines = []
    for ref in result.references or []:
        if not isinstance(ref, dict) or not ref.get("name"):
            continue
        distance = ref.get("distance")
        lines.append(f"{ref['name']}" + (f" (distance {distance:.3f})" if isinstance(distance, int | float) else "")
                     + (f": {ref['image_path']}" if ref.get("image_path") else ""))
    return lines


def _score(value: float | None) -> str:
    """Every score printed the same way: one decimal ("4.0" beside "3.9", never "4" beside "3.88")."""
    return "—" if value is None else f"{value:.1f}"


def _grade(report: Any, partial: bool) -> str:
    grade = str(report.overall_grade or "").strip()
    if grade:
        return grade
    return "— (the report was cut before the grade)" if partial else "—"


def _footer(result: CritiqueResult) -> list[str]:
    lines = [*photo_lines(result), f"Mode: {fallback_text(result)}"]
    refs = references_lines(result)
    if refs:
        lines.append("Compared with: " + "; ".join(refs))
    if result.model_id:
        lines.append(f"Model: {result.model_id}" + (f", adapter {result.adapter_version}" if result.adapter_version else ""))
    if result.stats:
        s = result.stats
        lines.append(f"Tokens: {s.prompt_tokens} prompt, {s.generation_tokens} generated; first token "
                     f"{s.time_to_first_token_s:.2f}s, {s.generation_tps:.1f} tok/s, total {s.total_s:.2f}s, "
                     f"peak memory {s.peak_memory_gb:.2f} GB")
    return lines


def to_text(result: CritiqueResult) -> str:
    """Terminal rendering of a critique."""
    out = [f"{result.photo} — {result.advisor_id}"]  # the CLI prints result.notice once, on stderr
    report = result.report
    partial = getattr(result, "partial_report", None)
    is_partial = report is None and partial is not None
    if is_partial:  # cut at the token limit: show what completed
        out.append("Partial report: " + "; ".join(result.parse_problems))
        report = partial
    if report is None:
        out.append("The model's answer could not be read as a report: " + "; ".join(result.parse_problems))
        out.append("Raw output:\n" + (result.raw_text or "(empty)"))
    else:
        out.append(f"Overall grade: {_grade(report, is_partial)}"
                   + (f"  (mean score {_score(report.overall_score)})" if report.overall_score is not None else ""))
        for key in DIMENSIONS:
            dim = report.dimensions.get(key)
            if dim is None:
                continue
            score = f"{dim.score:4.1f}" if dim.score is not None else "  — "
            out.append(f"  {DIMENSION_LABELS[key]:<20} {_bar(dim.score)} {score}  {dim.comment}")
            if dim.recommendation:
                out.append(f"  {'':<20} {'':10}       → {dim.recommendation}")
        if report.summary:
            out.append(f"Summary: {report.summary}")
    out.extend(_footer(result))
    return "\n".join(out)


def to_markdown(result: CritiqueResult, turns: Sequence[Any] = ()) -> str:
    """Markdown export of a critique."""
    report = result.report
    out = [f"# Critique of {result.photo}", "", f"Advisor: **{result.advisor_id}**", ""]
    if result.notice:
        out += [f"> {result.notice}", ""]
    if report is None:
        out += ["The model's answer could not be read as a report: " + "; ".join(result.parse_problems), "",
                "```", result.raw_text, "```"]
    else:
        out += [f"**Overall grade: {_grade(report, False)}**", "", "| Dimension | Score | Comment | Recommendation |",
                "|---|---|---|---|"]
        for key in DIMENSIONS:
            dim = report.dimensions.get(key)
            if dim is None:
                continue
            score = _score(dim.score)
            cells = [DIMENSION_LABELS[key], score, dim.comment, dim.recommendation]
            out.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
        out += ["", f"**Summary.** {report.summary}"]
    out += [""] + [f"- {line}" for line in _footer(result)]
    out += conversation_markdown(turns)
    return "\n".join(out) + "\n"


def crop_text(crop: dict[str, Any]) -> str:
    """A stored crop suggestion in one line: where it is, its aspect and the model's reason."""
    b = crop["box"]
    hand = " (adjusted by hand)" if "adjusted by hand" in (crop.get("adjustments") or []) else ""
    return (f"Crop x {b['x0']}–{b['x1']}, y {b['y0']}–{b['y1']} of {crop['original_size'][0]}x"
            f"{crop['original_size'][1]} px{hand}" + (f" ({crop['aspect']})" if crop.get("aspect") else "")
            + (f": {crop['reason']}" if crop.get("reason") else ""))


def turn_answer(turn: Any) -> tuple[str, str]:
    """What a stored turn answered and how it ended: (text, note); the note is "" for a finished
    answer, else "cancelled", "no answer: <why>" or "interrupted" (every front end says the same)."""
    answer = (turn.answer or "").strip()
    if turn.status == "failed":
        return "", f"no answer: {turn.error or 'failed'}"
    if turn.status == "cancelled":
        return answer, "cancelled"
    if turn.status == "running":
        return "", "interrupted"
    crop = (getattr(turn, "details", None) or {}).get("crop") if turn.kind == "crop" else None
    if isinstance(crop, dict):
        return crop_text(crop), ""
    return answer, ""


def conversation_markdown(turns: Sequence[Any]) -> list[str]:
    """The follow-up exchanges (store ``TurnRow``s: question, answer, status, kind) as Markdown lines."""
    if not turns:
        return []
    out = ["", "## Conversation"]
    for turn in turns:
        out += ["", f"**You:** {turn.question}", ""]
        answer, note = turn_answer(turn)
        out.append("**Advisor:** " + " ".join(p for p in (answer, f"_({note})_" if note else "") if p))
    return out
