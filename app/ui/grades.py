"""The one grade the window shows for a report: :func:`app.engine.critique.report.grade_for_score` of
its mean score, the function the engine grades with, so a badge, a history row, the report's big
letter, a filter and the star mapping never disagree (a model's own letter can contradict its
scores). A report without scores keeps the letter it has."""

from __future__ import annotations

from typing import Any

from app.engine.critique.report import Report, grade_for_score


def report_grade(report: Report | None) -> str:
    """The letter for a report ("" when there is none)."""
    if report is None:
        return ""
    mean = report.overall_score
    return grade_for_score(mean) if mean is not None else (report.overall_grade or "")


def job_grade(job: Any) -> str | None:
    """The letter for a stored job (its mean score when recorded, else its stored letter)."""
    mean = getattr(job, "overall_score", None)
    return grade_for_score(mean) if mean is not None else getattr(job, "grade", None)
