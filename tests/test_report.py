"""The report parser: good, fenced, chatty, partial and garbage model output."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.critique.report import (
    DIMENSIONS,
    GRADE_BANDS,
    GRADES,
    Report,
    ReportParseError,
    derived_grade,
    grade_for_score,
    grade_note,
    parse_report,
    report_json_schema,
)


def good_dict(score=7):
    return {
        "dimensional_analysis": {k: {"score": score, "comment": f"{k} ok", "recommendation": f"improve {k}"}
                                 for k in DIMENSIONS},
        "summary": "A solid frame.",
    }


def test_plain_json_round_trips():
    text = json.dumps(good_dict())
    report = parse_report(text)
    assert set(report.dimensions) == set(DIMENSIONS)
    assert report.overall_grade == "C+" == grade_for_score(7)  # derived: mean 7 is in the C+ band
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


def test_grade_bands_cover_every_grade_once_best_first():
    assert [g for _, g in GRADE_BANDS] + ["F"] == list(GRADES)
    floors = [f for f, _ in GRADE_BANDS]
    assert floors == sorted(floors, reverse=True)
    for floor, grade in GRADE_BANDS:  # each floor is the lowest mean of its grade
        assert grade_for_score(floor) == grade and grade_for_score(floor - 0.01) != grade


def test_the_model_is_not_asked_for_a_grade():
    schema = report_json_schema(50)
    assert "overall_grade" not in schema["properties"] and "overall_grade" not in schema["required"]
    report = parse_report(json.dumps(good_dict(3)))  # what the model writes now: no grade at all
    assert report.overall_grade == "F" and report.stated_grade == "" and grade_note(report) == ""
    assert "overall_grade" not in report.model_dict() and report.to_dict()["overall_grade"] == "F"


def test_a_stated_grade_that_contradicts_the_scores_is_replaced_and_noted():
    data = {**good_dict(3), "overall_grade": "A+"}  # an old stored report: A+ over a mean of 3
    report = parse_report(json.dumps(data))
    assert report.stated_grade == "A+" and report.overall_grade == "F" == derived_grade(report)
    note = grade_note(report)
    assert "A+" in note and "F" in note and "3.00" in note
    assert report.to_dict()["overall_grade"] == "F"  # what is stored again carries the derived grade
    agreeing = parse_report(json.dumps({**good_dict(3), "overall_grade": "F"}))
    assert grade_note(agreeing) == ""


def test_a_cut_off_report_has_no_grade_until_all_dimensions_are_in():
    from app.engine.critique.report import parse_partial_report
    text = json.dumps(good_dict(9))
    cut = text[: text.index('"lighting"') + 40]
    partial = parse_partial_report(cut)
    assert partial is not None and partial.overall_grade == ""
    whole = parse_partial_report(text[: text.index('"summary"')])
    assert whole is not None and len(whole.dimensions) == 8 and whole.overall_grade == grade_for_score(9)
