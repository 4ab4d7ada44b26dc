"""``python -m app critique`` end to end in a subprocess, on the real tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from app.engine.critique.report import DIMENSIONS, GRADES, parse_report

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MONDRIAN_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "street.jpg"
    img = Image.new("RGB", (320, 200), (90, 120, 160))
    for x in range(100, 140):
        for y in range(60, 120):
            img.putpixel((x, y), (240, 220, 40))
    img.save(path, quality=90)
    return path


def test_constrained_critique_prints_schema_valid_json(tiny_model_dir, photo, tmp_path):
    (tmp_path / "home" / "config").mkdir(parents=True)
    (tmp_path / "home" / "config" / "settings.json").write_text(json.dumps({"max_text_chars": 24, "version": 1}))
    proc = run_cli(["critique", str(photo), "--model", str(tiny_model_dir), "--json", "--advisor", "fan_ho",
                    "--mode", "baseline", "--max-tokens", "2000"], tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    report = result["report"]
    assert set(report["dimensional_analysis"]) == set(DIMENSIONS)
    for dim in report["dimensional_analysis"].values():
        assert isinstance(dim["score"], (int, float)) and 0 <= dim["score"] <= 10
        assert 1 <= len(dim["comment"]) <= 24 and 1 <= len(dim["recommendation"]) <= 24
    assert report["overall_grade"] in GRADES
    assert parse_report(result["raw_text"]).to_dict() == report
    assert result["effective_mode"] == "baseline" and result["advisor_id"] == "fan_ho"
    assert result["stats"]["generation_tokens"] > 0 and result["model_id"] == str(tiny_model_dir)
    assert result["technical"] is not None


def test_bad_photo_is_one_line_and_others_still_run(tiny_model_dir, photo, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a whole jpeg")
    missing = tmp_path / "missing.png"
    proc = run_cli(["critique", str(bad), str(photo), str(missing), "--model", str(tiny_model_dir), "--json",
                    "--max-tokens", "40", "--no-constrain"], tmp_path / "home")
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    # One line per failure naming the photo; --no-constrain with 40 tokens gives street.jpg no report either.
    assert len(errors) == 3 and str(bad) in errors[0] and str(photo) in errors[1] and str(missing) in errors[2]
    lines = [json.loads(x) for x in proc.stdout.strip().splitlines()]  # stdout stays JSON lines, one per photo
    assert [Path(r["photo"]).name for r in lines] == ["broken.jpg", "street.jpg", "missing.png"]
    assert [r["ok"] for r in lines] == [False, False, False] and "error" in lines[0] and "error" in lines[2]


def test_unconstrained_random_model_output_is_a_clean_parse_failure(tiny_model_dir, photo, tmp_path):
    proc = run_cli(["critique", str(photo), "--model", str(tiny_model_dir), "--json", "--no-constrain",
                    "--max-tokens", "60"], tmp_path / "home")
    assert proc.returncode == 1  # no valid report
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["report"] is None and result["parse_problems"]
    assert result["raw_text"] and result["stats"]["generation_tokens"] > 0


def test_no_model_installed_gives_technical_report(photo, tmp_path):
    """The settings' model not downloaded yet, mode auto: the measurement-only report and how to get it."""
    (tmp_path / "home" / "config").mkdir(parents=True)
    (tmp_path / "home" / "config" / "settings.json").write_text(json.dumps(
        {"model": "mlx-community/absent-model-4bit", "version": 2}))
    proc = run_cli(["critique", str(photo)], tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    assert "measurement-only" in proc.stderr and "mondrian download mlx-community/absent-model-4bit" in proc.stderr
    assert "Focus & Sharpness" in proc.stdout and "Needs a vision model" in proc.stdout


def test_a_model_named_that_is_not_here_is_exit_2(photo, tmp_path):
    proc = run_cli(["critique", str(photo), "--model", "mlx-community/absent-model-4bit"], tmp_path / "home")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "mondrian download mlx-community/absent-model-4bit" in proc.stderr


def test_unknown_advisor_and_mode_are_clear(photo, tiny_model_dir, tmp_path):
    proc = run_cli(["critique", str(photo), "--advisor", "../x", "--model", str(tiny_model_dir)], tmp_path / "home")
    assert proc.returncode == 2 and "path separator" in proc.stderr
    proc = run_cli(["critique", str(photo), "--mode", "psychic", "--model", str(tiny_model_dir)], tmp_path / "home")
    assert proc.returncode == 2 and "unknown mode 'psychic'" in proc.stderr


def test_exit_zero_when_every_photo_got_a_report_and_a_cut_one_is_partial(tiny_model_dir, photo, tmp_path):
    (tmp_path / "home" / "config").mkdir(parents=True)
    (tmp_path / "home" / "config" / "settings.json").write_text(json.dumps({"max_text_chars": 8, "version": 2}))
    ok = run_cli(["critique", str(photo), str(photo), "--model", str(tiny_model_dir), "--json", "--mode", "baseline"],
                 tmp_path / "home")
    assert ok.returncode == 0, ok.stderr
    assert [json.loads(x)["ok"] for x in ok.stdout.splitlines()] == [True, True]
    assert "error:" not in ok.stderr
    cut = run_cli(["critique", str(photo), "--model", str(tiny_model_dir), "--json", "--mode", "baseline",
                   "--max-tokens", "150"], tmp_path / "home")
    assert cut.returncode == 1
    result = json.loads(cut.stdout)
    assert result["ok"] is False and result["budget"]["user_cap"] == 150 and result["stats"]["generation_tokens"] == 150
    [line] = [x for x in cut.stderr.splitlines() if x.startswith("error:")]
    assert str(photo) in line and "150-token limit set by the user" in line
    partial = result["partial_report"]
    assert partial is not None and 1 <= len(partial["dimensional_analysis"]) < 8  # what completed is kept
    text = run_cli(["critique", str(photo), "--model", str(tiny_model_dir), "--mode", "baseline",
                    "--max-tokens", "150"], tmp_path / "home")
    assert "Partial report: generation stopped at the 150-token limit" in text.stdout
