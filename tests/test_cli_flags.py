"""Kebab-case flags are documented; the seed service's snake_case spellings still work, unlisted."""

from __future__ import annotations

import pytest

from app.cli import build_parser


def test_kebab_flags_are_documented_and_snake_aliases_hidden(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = capsys.readouterr().out
    for flag in ("--model-mode", "--lora-path", "--ab-test-split", "--max-upload-mb", "--max-queue", "--no-history"):
        assert flag in text
    for alias in ("--model_mode", "--lora_path", "--ab_test_split", "--max_upload_mb"):
        assert alias not in text


@pytest.mark.parametrize("spelling", ["kebab", "snake"])
def test_both_spellings_parse_alike(spelling: str):
    flags = ["--model-mode", "ab_test", "--lora-path", "/x", "--ab-test-split", "0.25", "--max-upload-mb", "3"]
    if spelling == "snake":
        flags = [f.replace("-", "_").replace("__", "--", 1) if f.startswith("--") else f for f in flags]
    args = build_parser().parse_args(["serve", *flags])
    assert (args.model_mode, args.lora_path, args.ab_test_split, args.max_upload_mb) == ("ab_test", "/x", 0.25, 3.0)
    defaults = build_parser().parse_args(["serve"])
    assert (defaults.model_mode, defaults.lora_path, defaults.ab_test_split, defaults.max_queue) == (None, None, 0.5, 16)


def test_a_bad_snake_value_is_still_checked(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--model_mode", "sometimes"])
    assert "invalid choice" in capsys.readouterr().err
