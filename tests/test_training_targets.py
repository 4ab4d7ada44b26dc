"""Targets files (JSON/CSV), their errors, lookup by name, and calibration by star ratings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.engine.critique.report import DIMENSIONS, parse_report
from training.targets import (
    DRAFT,
    TARGETS,
    Target,
    TargetsFileError,
    calibrate,
    load_targets_file,
    normalize_report,
    stars_anchor,
)

SCORES = dict(zip(DIMENSIONS, [9, 8, 9, 2, 8, 9, 1, 8], strict=True))


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_object_of_reports(tmp_path: Path) -> None:
    report = {"dimensional_analysis": {d: {"score": s, "comment": f"{d} c", "recommendation": "r"}
                                       for d, s in SCORES.items()},
              "overall_grade": "B", "summary": "Fine."}
    t = load_targets_file(_write(tmp_path, "t.json", json.dumps({"a.jpg": report})))
    target = t.entries["a.jpg"]
    assert parse_report(json.dumps(target)).scores == {d: float(s) for d, s in SCORES.items()}
    assert target["dimensional_analysis"]["lighting"]["comment"] == "lighting c"
    assert t.origins["a.jpg"] == "t.json entry 'a.jpg'"


def test_json_list_of_flat_entries_gets_defaults(tmp_path: Path) -> None:
    t = load_targets_file(_write(tmp_path, "t.json", json.dumps([{"file": "trip/b.jpg", **SCORES}])))
    target = t.entries["trip/b.jpg"]
    comp = target["dimensional_analysis"]["composition"]
    assert comp == {"score": 9, "comment": "Composition scores 9 out of 10.",
                    "recommendation": "Keep doing what works here."}
    assert "overall_grade" not in target  # the grade is derived from the scores, never a target
    assert target["summary"].startswith("Overall 6.8")


def test_csv_with_comments_and_rounding(tmp_path: Path) -> None:
    header = "file," + ",".join(DIMENSIONS) + ",lighting_comment,overall_grade,summary\n"
    row = "c.jpg," + ",".join(str(v) for v in SCORES.values()).replace("9", "8.5", 1) + ",Soft dawn light,A-,Quiet.\n"
    t = load_targets_file(_write(tmp_path, "t.csv", header + row))
    target = t.entries["c.jpg"]
    assert target["dimensional_analysis"]["composition"]["score"] == 9  # 8.5 rounds half up
    assert target["dimensional_analysis"]["lighting"]["comment"] == "Soft dawn light"
    assert "overall_grade" not in target and target["summary"] == "Quiet."
    # the file's A- contradicts the scores (mean 6.75 is C+): dropped, and the user is told
    assert t.notes == ["line 2 (c.jpg): overall_grade 'A-' ignored: the grade follows the scores (mean 6.75 is C+)"]
    assert t.origins["c.jpg"] == "t.csv line 2"


def test_lookup_by_relative_path_name_and_case(tmp_path: Path) -> None:
    t = load_targets_file(_write(tmp_path, "t.json", json.dumps({"trip/A.JPG": SCORES, "b.jpg": SCORES})))
    assert t.lookup("trip/A.JPG")[0] == "trip/A.JPG"  # type: ignore[index]
    assert t.lookup("trip/a.jpg")[0] == "trip/A.JPG"  # type: ignore[index]
    assert t.lookup("other/b.jpg")[0] == "b.jpg"  # type: ignore[index]
    assert t.lookup("c.jpg") is None


@pytest.mark.parametrize(("name", "text", "message"), [
    ("t.json", '{"a.jpg": {"composition": 5', "invalid JSON at line 1 column"),
    ("t.json", "", "file is empty"),
    ("t.json", "[1, 2]", "item 1 is not an object"),
    ("t.json", json.dumps([{**SCORES}]), "item 1: no 'file' field"),
    ("t.json", json.dumps({"a.jpg": {**SCORES, "lighting": 11}}), r"entry 'a.jpg' \(a.jpg\), lighting: score 11 is outside 0-10"),
    ("t.json", json.dumps({"a.jpg": {k: v for k, v in SCORES.items() if k != "visual_balance"}}),
     "visual_balance: missing"),
    ("t.json", json.dumps({"a.jpg": {**SCORES, "composition": "great"}}), "score 'great' is not a number"),
    ("t.csv", "photo,composition\n", "no 'lighting' score column"),
    ("t.csv", "name," + ",".join(DIMENSIONS) + "\n", "no 'file' column"),
    ("t.csv", "file,compositon," + ",".join(DIMENSIONS[1:]) + "\n", r"unknown CSV column\(s\) 'compositon'"),
    ("t.csv", "file," + ",".join(DIMENSIONS) + "\nx.jpg,1,2\n", "line 2: 3 cells, the header has 9"),
    ("t.csv", "file," + ",".join(DIMENSIONS) + "\nx.jpg," + ",".join(["5"] * 7) + ",\n", "emotional_impact: score is empty"),
    ("t.csv", "file," + ",".join(DIMENSIONS) + "\n" + ("x.jpg," + ",".join(["5"] * 8) + "\n") * 2,
     "line 3: file 'x.jpg' appears twice"),
    ("t.txt", "hello", "unsupported targets file type '.txt'"),
])
def test_bad_targets_files_name_file_entry_and_field(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(TargetsFileError, match=message) as info:
        load_targets_file(path)
    assert str(info.value).startswith(str(path))


def test_missing_targets_file(tmp_path: Path) -> None:
    with pytest.raises(TargetsFileError, match="targets file not found"):
        load_targets_file(tmp_path / "nope.json")


def test_long_texts_are_shortened_with_a_note(tmp_path: Path) -> None:
    notes: list[str] = []
    report = normalize_report({**SCORES, "summary": "word " * 200}, where="x", max_text_chars=50, notes=notes)
    assert len(report["summary"]) <= 100 and any("shortened" in n for n in notes)


def _target(source: str, scores: dict[str, int]) -> Target:
    return Target(report=normalize_report(scores, where="t"), source=source, origin="test")


def test_stars_anchor_scale() -> None:
    assert [stars_anchor(s) for s in (-1, 0, 1, 3, 5)] == [1.5, None, 2.5, 6.0, 9.5]


def test_calibrate_shifts_a_draft_to_the_stars_keeping_its_profile() -> None:
    draft = _target(DRAFT, {d: 5 for d in DIMENSIONS} | {"lighting": 7})  # mean 5.25
    out = calibrate(draft, 3)  # anchor 6.0: shift +0.75
    assert out.scores["lighting"] == 8 and out.scores["composition"] == 6  # the relative profile survives
    assert any("calibrated to 3 star" in n for n in out.notes)
    high = calibrate(draft, 5)  # anchor 9.5: shift +4.25, clamped at 10
    assert high.scores["lighting"] == 10 and high.scores["composition"] == 9
    assert parse_report(json.dumps(high.report)).overall_grade in ("A", "A+")  # the derived grade follows
    assert draft.scores["lighting"] == 7  # the input is not modified


def test_calibrate_rejected_draft_goes_low_and_unrated_is_untouched() -> None:
    draft = _target(DRAFT, {d: 6 for d in DIMENSIONS})
    assert max(calibrate(draft, -1).scores.values()) <= 2
    assert calibrate(draft, 0) is draft and calibrate(draft, None) is draft


def test_calibrate_never_changes_human_scores_but_flags_conflicts() -> None:
    human = _target(TARGETS, {d: 3 for d in DIMENSIONS})
    out = calibrate(human, 5)
    assert out.scores == human.scores
    assert any("kept the scores as written" in n for n in out.notes)
    agreeing = _target(TARGETS, {d: 8 for d in DIMENSIONS})
    assert calibrate(agreeing, 4).notes == []
