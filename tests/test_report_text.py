"""The report as text and Markdown (issue 23): the fallback said once, RAG's references named,
one score format, no empty grade on a partial report; a stored measurement-only report reads back."""

from __future__ import annotations

import json

from app.engine.critique.export import to_markdown, to_text
from app.engine.critique.report import DIMENSIONS, DimensionScore, Report
from app.engine.critique.result import CritiqueResult


def report(score: float = 7.0, grade: str = "B") -> Report:
    dims = {k: DimensionScore(score if i else 4.0, f"c{i}", "r") for i, k in enumerate(DIMENSIONS)}
    return Report(dimensions=dims, overall_grade=grade, summary="s")


def result(**kw) -> CritiqueResult:
    base = {"photo": "p.jpg", "advisor_id": "ansel", "requested_mode": "auto", "effective_mode": "rag",
            "report": report(3.875)}
    return CritiqueResult(**{**base, **kw})


def test_the_fallback_reason_is_said_once():
    text = to_text(result(fallback_reason="auto: lora unavailable (advisor 'ansel' has no active adapter)"))
    assert "Mode: rag (asked for auto: lora unavailable (advisor 'ansel' has no active adapter))" in text
    assert "auto: auto:" not in text


def test_rag_references_are_named_in_text_and_markdown():
    refs = [{"name": "dunes.jpg", "distance": 0.1234, "image_path": "/refs/dunes.jpg"}, {"name": "pier.jpg"}]
    r = result(references=refs)
    for rendered in (to_text(r), to_markdown(r)):
        assert "Compared with: dunes.jpg (distance 0.123): /refs/dunes.jpg; pier.jpg" in rendered


def test_scores_have_one_format():
    text = to_text(result())
    assert "(mean score 3.9)" in text and " 4.0 " in text and " 3.9 " in text
    assert "3.88" not in text and "3.875" not in text
    md = to_markdown(result())
    assert "| 4.0 |" in md and "| 3.9 |" in md


def test_a_partial_report_prints_no_empty_grade():
    partial = report()
    partial.overall_grade = ""
    text = to_text(result(report=None, partial_report=partial, parse_problems=["cut at the token limit"]))
    assert "Overall grade: — (the report was cut before the grade)" in text
    assert "Overall grade:  " not in text


def test_a_stored_measurement_only_report_reads_back():
    from app.engine.store.rows import JobRow

    dims = {k: {"score": None if k == "emotional_impact" else 6.0, "comment": "c", "recommendation": ""}
            for k in DIMENSIONS}
    data = {"dimensional_analysis": dims, "overall_grade": "C", "summary": "s"}
    job = JobRow(id="j", photo_path="p.jpg", advisor_id="ansel", requested_mode="technical", status="completed",
                 created_at="", report_json=json.dumps(data), effective_mode="technical")
    assert job.report is not None and job.report.dimensions["emotional_impact"].score is None
    job.effective_mode = "baseline"  # a model's report must have every score
    assert job.report is None
