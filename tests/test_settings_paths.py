"""Settings persistence and upgrades; MONDRIAN_HOME moves every folder."""

from __future__ import annotations

import json

from app.engine import paths
from app.engine.settings import (
    DEFAULT_MODEL,
    SETTINGS_VERSION,
    Settings,
    load_settings,
    save_settings,
    settings_path,
)


def test_all_folders_live_under_mondrian_home(mondrian_home):
    for folder in (paths.data_dir(), paths.cache_dir(), paths.log_dir(), paths.config_dir()):
        assert mondrian_home in folder.parents


def test_round_trip_and_defaults():
    s = Settings(max_image_edge=768, ab_test_split=0.25)
    save_settings(s)
    assert load_settings() == s
    settings_path().unlink()
    assert load_settings().model == DEFAULT_MODEL


def test_upgrade_from_v0_and_bad_values_reported():
    settings_path().write_text(json.dumps({"model_path": "/models/x", "max_image_edge": "big", "ab_test_split": 1}))
    problems: list[str] = []
    s = load_settings(problems)
    assert s.model == "/models/x" and s.version == SETTINGS_VERSION
    assert s.max_image_edge == 1024 and s.ab_test_split == 1.0
    assert any("max_image_edge" in p for p in problems)
    settings_path().write_text("{broken")
    problems = []
    assert load_settings(problems) == Settings() and "unreadable" in problems[0]
    settings_path().unlink()
