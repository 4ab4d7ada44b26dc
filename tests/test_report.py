"""The report parser: good, fenced, chatty, partial and garbage model output."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.critique.report import (
    DIMENSIONS,
    Report,
    ReportParseError,
    grade_for_score,
    parse_report,
    report_json_schema,
)


def good_dict(score=7):
    return {
        "dimensional_analysis": {k: {"score": score, "comment": f"{k} ok", "recommendation": f"improve {k}"}
                                 for k in DIMENSIONS},
        "overall_grade": "B+",
        "summary": "A solid frame.",
    }


def test_plain_json_round_trips():
    text = json.dumps(good_dict())
    report = parse_report(text)
    assert set(report.dimensions) == set(DIMENSIONS)
    assert report.overall_grade == "B+"
    assert report.raw_text == text
    assert report.overall_score == 7
    assert parse_report(report.to_json()).to_dict() == report.to_dict()


def test_fenced_and_chatty_output():
    text = "Sure! Here is my critique:\n```json\n" + json.dumps(good_dict(8)) + "\n```\nHope it helps."
    assert parse_report(text).scores["lighting"] == 8


def test_unfenced_json_inside_prose():
    text = "My analysis follows. " + json.dumps(good_dict(6)) + " That is all."
    assert parse_report(text).scores["composition"] == 6


def test_string_scores_are_accepted():
    data = good_dict()
    data["dimensional_analysis"]["lighting"]["score"] = "8/10"
    data["dimensional_analysis"]["composition"]["score"] = " 6.5 "
    report = parse_report(json.dumps(data))
    assert report.scores["lighting"] == 8 and report.scores["composition"] == 6.5


def test_missing_dimension_is_named():
    data = good_dict()
    del data["dimensional_analysis"]["depth_perspective"]
    with pytest.raises(ReportParseError) as err:
        parse_report(json.dumps(data))
    assert "dimension 'depth_perspective' is missing" in err.value.problems


@pytest.mark.parametrize("bad, expect", [(11, "outside 0-10"), (-1, "outside 0-10"), ("great", "not a number"),
                                         (None, "not a number"), (True, "not a number"), ([3], "not a number")])
def test_bad_scores_are_specific(bad, expect):
    data = good_dict()
    data["dimensional_analysis"]["lighting"]["score"] = bad
    with pytest.raises(ReportParseError) as err:
        parse_report(json.dumps(data))
    assert any("'lighting'" in p and expect in p for p in err.value.problems), err.value.problems


def test_partial_generation_is_a_clean_failure():
    text = json.dumps(good_dict())[:150]
    with pytest.raises(ReportParseError) as err:
        parse_report(text)
    assert err.value.raw_text == text
    assert "incomplete or malformed" in str(err.value)


@pytest.mark.parametrize("text", ["", "   ", "no json here", "[1, 2, 3]", "{", "}{", "null", '{"a": 1}'])
def test_garbage_is_a_clean_failure(text):
    with pytest.raises(ReportParseError):
        parse_report(text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_crashes_on_any_text(text):
    try:
        parse_report(text)
    except ReportParseError as exc:
        assert exc.raw_text == text


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(list(DIMENSIONS) + ["x"]),
                       st.one_of(st.none(), st.integers(), st.text(), st.dictionaries(st.text(), st.integers()))))
def test_never_crashes_on_odd_structures(dims):
    try:
        parse_report(json.dumps({"dimensional_analysis": dims, "overall_grade": "A"}))
    except ReportParseError:
        pass


def test_schema_matches_dimensions():
    schema = report_json_schema(50)
    dims = schema["properties"]["dimensional_analysis"]
    assert dims["required"] == list(DIMENSIONS)
    assert dims["properties"]["composition"]["properties"]["comment"]["maxLength"] == 50


def test_grades_are_monotonic():
    grades = [grade_for_score(s / 2) for s in range(21)]
    order = ["F", "D-", "D", "D+", "C-", "C", "C+", "B-", "B", "B+", "A-", "A", "A+"]
    assert [order.index(g) for g in grades] == sorted(order.index(g) for g in grades)


def test_from_dict_validates():
    assert isinstance(Report.from_dict(good_dict()), Report)
    with pytest.raises(ReportParseError):
        Report.from_dict({"overall_grade": "A"})
