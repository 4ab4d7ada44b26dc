"""The command line's one rule (issue 23): only ``auto`` falls back; a mode or model named that
cannot run is exit 2, and the text, the JSON and the exit status say the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_support import ROOT, home_with_settings, mondrian

SAMPLE = str(ROOT / "resources" / "samples" / "sample.jpg")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return home_with_settings(tmp_path / "home", max_text_chars=8)


def test_a_missing_model_folder_is_exit_2_and_no_download_of_a_path(home):
    proc = mondrian(["critique", SAMPLE, "--model", "/no/such/folder", "--mode", "baseline"], home)
    assert proc.returncode == 2, proc.stderr
    assert "/no/such/folder does not exist" in proc.stderr
    assert "download /no/such" not in proc.stderr and "python -m app" not in proc.stderr
    assert proc.stdout == ""  # no measurement-only report pretending to be the answer


def test_a_missing_model_with_json_says_so_in_the_object(home):
    proc = mondrian(["critique", SAMPLE, "--model", "/no/such/folder", "--json"], home)
    assert proc.returncode == 2
    obj = json.loads(proc.stdout)
    assert obj["ok"] is False and obj["cannot_run"] is True and "/no/such/folder" in obj["error"]


def test_no_model_installed_under_auto_is_the_measurement_only_report(home):
    proc = mondrian(["critique", SAMPLE], home, env={"HF_HOME": str(home / "hf")})
    assert proc.returncode == 0, proc.stderr
    assert "Mode: technical" in proc.stdout and "mondrian download" in proc.stderr


@pytest.mark.parametrize("mode", ["baseline", "rag", "lora"])
def test_a_mode_named_without_the_model_is_exit_2(home, mode):
    proc = mondrian(["critique", SAMPLE, "--mode", mode, "--json"], home, env={"HF_HOME": str(home / "hf")})
    assert proc.returncode == 2, proc.stderr
    assert json.loads(proc.stdout)["cannot_run"] is True


@pytest.mark.parametrize(("mode", "why"), [("lora", "no active adapter"), ("rag", "no indexed reference photos")])
def test_a_mode_named_that_cannot_run_is_exit_2(home, tiny_model_dir, mode, why):
    proc = mondrian(["critique", SAMPLE, "--model", str(tiny_model_dir), "--mode", mode, "--json"], home)
    assert proc.returncode == 2, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["ok"] is False and obj["cannot_run"] is True and why in obj["error"]
    assert f"mode {mode} cannot run" in proc.stderr and "--mode auto" in proc.stderr


def test_auto_falls_back_and_says_why_once(home, tiny_model_dir):
    proc = mondrian(["critique", SAMPLE, "--model", str(tiny_model_dir), "--advisor", "ansel"], home)
    assert proc.returncode in (0, 1), proc.stderr  # the random model may not finish a report
    assert "(asked for auto: lora unavailable" in proc.stdout
    assert "auto: auto:" not in proc.stdout


def test_an_unreadable_photo_is_named_once(home, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    proc = mondrian(["critique", str(bad), "--mode", "technical"], home)
    assert proc.returncode == 1
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {bad}: ") and line.count(str(bad)) == 1, line


def test_review_follows_the_same_rule(home, tiny_model_dir, tmp_path):
    folder = tmp_path / "shoot"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(Path(SAMPLE).read_bytes())
    proc = mondrian(["review", str(folder), "--advisor", "ansel", "--mode", "lora", "--model", str(tiny_model_dir)],
                    home)
    assert proc.returncode == 2 and "mode lora cannot run" in proc.stderr and "no active adapter" in proc.stderr
    proc = mondrian(["review", str(folder), "--advisor", "ansel", "--model", "/no/such/folder"], home)
    assert proc.returncode == 2 and "/no/such/folder does not exist" in proc.stderr


def test_the_exit_codes_are_the_training_commands_and_the_readme_s():
    import re

    from app.commands import exits
    from training import common

    assert (exits.SOME_FAILED, exits.CANNOT_RUN, exits.REFUSED, exits.PEER_LOST, exits.DISK, exits.INTERRUPTED,
            exits.TERMINATED) == (common.EXIT_ERROR, common.EXIT_BAD_INPUT, common.EXIT_REFUSED,
                                  common.EXIT_PEER_LOST, common.EXIT_DISK, common.EXIT_SIGINT, common.EXIT_SIGTERM)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = {int(m) for m in re.findall(r"^\| (\d+) \|", readme, re.M)}
    assert set(exits.EXIT_CODES) <= table
