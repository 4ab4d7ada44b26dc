"""Settings: persistence, upgrades, and validation at load (one message naming the file, the key,
the value and the allowed range; the file left untouched); MONDRIAN_HOME moves every folder."""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
from pathlib import Path

import pytest

from app import cli
from app.engine import paths
from app.engine.settings import (
    DEFAULT_MODEL,
    SETTINGS_VERSION,
    Settings,
    SettingsError,
    SettingValueError,
    bounds,
    cli_type,
    describe,
    load_settings,
    save_settings,
    set_aside_settings,
    settings_path,
)


@pytest.fixture(autouse=True)
def own_home(home: Path) -> Path:
    return home


def test_all_folders_live_under_mondrian_home(home):
    for folder in (paths.data_dir(), paths.cache_dir(), paths.log_dir(), paths.config_dir()):
        assert home in folder.parents


def test_round_trip_and_defaults():
    s = Settings(max_image_edge=768, ab_test_split=0.25, backups_kept=3)
    save_settings(s)
    assert load_settings() == s
    settings_path().unlink()
    assert load_settings().model == DEFAULT_MODEL


def test_upgrade_from_v0_and_v1():
    settings_path().write_text(json.dumps({"model_path": "/models/x", "ab_test_split": 1}))
    s = load_settings()
    assert s.model == "/models/x" and s.version == SETTINGS_VERSION and s.ab_test_split == 1.0
    settings_path().write_text(json.dumps({"version": 1, "max_upload_mb": 20}))
    s = load_settings()
    assert s.max_upload_mb == 20.0 and isinstance(s.max_upload_mb, float) and s.backups_kept == 7


NAN = float("nan")
BAD_VALUES = [
    ("max_image_edge", 0, "from 32 to 16,384"),
    ("max_image_edge", 1.5, "a whole number"),
    ("temperature", -1, "from 0 to 2"),
    ("max_text_chars", -1, "from 1 to 20,000"),
    ("max_tokens", "many", "a whole number from 0"),
    ("max_tokens", True, "a whole number"),
    ("model", 5, "text of 1 to 4096 characters"),
    ("model", "", "text of 1 to 4096 characters"),
    ("ab_test_split", 1.5, "from 0 to 1"),
    ("max_upload_mb", 0, "above 0"),
    ("grounding", "yes", "true or false"),
    ("default_mode", "fast", "one of auto, baseline"),
    ("default_advisor", "../etc", "matching"),
    ("backups_kept", -2, "from 0 to 365"),
]


@pytest.mark.parametrize(("key", "value", "allowed"), BAD_VALUES)
def test_bad_value_names_file_key_value_and_range_and_keeps_the_file(key, value, allowed):
    text = json.dumps({"version": SETTINGS_VERSION, "max_tokens": 900, key: value})
    settings_path().write_text(text)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert str(settings_path()) in message and f"'{key}'" in message and allowed in message
    assert json.dumps(value) in message
    assert settings_path().read_text() == text  # untouched


def test_non_finite_numbers_are_refused():
    # json writes NaN/Infinity literals, and Python's json reads them back: the rule must refuse them.
    for value in (NAN, math.inf, -math.inf):
        settings_path().write_text(json.dumps({"temperature": value}))
        with pytest.raises(SettingsError, match=r"'temperature' is (nan|inf|-inf); allowed: a finite number"):
            load_settings()


def test_every_bad_key_is_listed_in_one_message():
    settings_path().write_text(json.dumps({"max_image_edge": 0, "temperature": -1, "model": 5, "extra": 1}))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert {"max_image_edge", "temperature", "model"} <= {p.split("'")[1] for p in caught.value.problems}


def test_a_60_mb_model_string_is_refused_with_a_short_message():
    settings_path().write_text(json.dumps({"model": "m" * (60 << 20)}))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "'model'" in message and "62,914,560 characters" in message and len(message) < 600


@pytest.mark.parametrize("content", ["{broken", "[1, 2]", b"\xff\xfe{}"])
def test_unreadable_files_are_errors_not_silent_defaults(content):
    if isinstance(content, bytes):
        settings_path().write_bytes(content)
    else:
        settings_path().write_text(content)
    before = settings_path().read_bytes()
    with pytest.raises(SettingsError, match=str(settings_path())):
        load_settings()
    assert settings_path().read_bytes() == before


def test_settings_json_being_a_folder():
    settings_path().mkdir(parents=True)
    with pytest.raises(SettingsError, match="it is a folder, not a file"):
        load_settings()
    assert settings_path().is_dir()


def test_unknown_keys_are_reported_not_fatal():
    settings_path().write_text(json.dumps({"max_tokens": 900, "colour_theme": "dark"}))
    problems: list[str] = []
    assert load_settings(problems).max_tokens == 900
    assert problems == ["unknown setting(s) ignored: colour_theme"]


def test_assignment_is_checked_by_the_same_rule():
    s = Settings()
    with pytest.raises(SettingValueError, match="'max_image_edge' is 0; allowed: a whole number from 32"):
        s.max_image_edge = 0
    with pytest.raises(SettingValueError):
        Settings(temperature=NAN)
    s.temperature = 1  # an int is a valid float setting
    assert s.temperature == 1.0 and isinstance(s.temperature, float)
    assert bounds("max_tokens")[0] == 0 and "4096" in describe("model")


def test_cli_type_uses_the_setting_rule():
    parse = cli_type("max_upload_mb", "--max_upload_mb")
    assert parse("2.5") == 2.5
    for text in ("nan", "inf", "0", "-3", "abc"):
        with pytest.raises(argparse.ArgumentTypeError, match="--max_upload_mb .*above 0"):
            parse(text)


def test_cli_prints_the_message_and_exits_2(capsys, tmp_path):
    settings_path().write_text(json.dumps({"max_image_edge": 0}))
    assert cli.main(["critique", str(tmp_path / "photo.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'max_image_edge' is 0" in err and "Traceback" not in err
    settings_path().unlink()
    with pytest.raises(SystemExit) as caught:
        cli.main(["serve", "--max_upload_mb", "nan"])
    err = capsys.readouterr().err  # the seed spelling is an alias: the message names the documented flag
    assert caught.value.code == 2 and "--max-upload-mb 'nan': allowed: a finite number above 0" in err


def test_set_aside_keeps_the_bad_file():
    settings_path().write_text("{broken")
    kept = set_aside_settings()
    assert kept is not None and kept.read_text() == "{broken" and not settings_path().exists()
    assert load_settings() == Settings()


def test_data_folder_is_private_whatever_the_umask(home):
    old = os.umask(0)
    try:
        data = paths.data_dir()
        config = paths.config_dir()
        refs = paths.references_dir("ansel")
    finally:
        os.umask(old)
    for folder in (home, data, config, refs):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_the_old_fixed_token_limit_becomes_the_derived_one():
    from app.engine.settings import upgrade

    assert upgrade({"version": 2, "max_tokens": 1500})["max_tokens"] == 0  # the old default: now derived
    assert upgrade({"version": 2, "max_tokens": 900})["max_tokens"] == 900  # a user's own cap is kept
    assert Settings().max_tokens == 0
