"""The GUI shows the same messages as the CLI: an invalid settings.json (quit, or start on
defaults with the file kept) and a damaged history database found by the background check."""

from __future__ import annotations

import json
import shutil
import sqlite3

from PySide6.QtWidgets import QWidget
from test_store_damage import overwrite_page, sound_db  # noqa: F401 - the module fixture

from app.engine.settings import Settings, SettingsError, load_settings, settings_path
from app.engine.store.database import Store
from app.ui.main import settings_error_box, startup_settings, watch_store_damage


def test_invalid_settings_show_the_cli_message(qtbot, home):
    settings_path().write_text(json.dumps({"temperature": -1}))
    try:
        load_settings()
    except SettingsError as exc:
        expected = str(exc)
    asked: list[str] = []
    assert startup_settings(ask=lambda text: asked.append(text) or False) is None  # quit
    assert asked == [expected] and json.loads(settings_path().read_text()) == {"temperature": -1}
    box = settings_error_box(expected)
    assert expected in box.detailedText() and "'temperature' is -1" in box.informativeText()
    assert startup_settings(ask=lambda text: True) == Settings()  # defaults, the file kept aside
    kept = list(settings_path().parent.glob("settings.json.invalid-*"))
    assert len(kept) == 1 and json.loads(kept[0].read_text()) == {"temperature": -1}


def test_resetting_one_invalid_setting_keeps_every_other_one(qtbot, home, tmp_path):
    settings_path().write_text(json.dumps({"temperature": -1, "model": str(tmp_path / "my-model"),
                                           "max_image_edge": 768}))
    settings = startup_settings(ask=lambda text: True)
    assert settings is not None and settings.model == str(tmp_path / "my-model")  # the model path stays
    assert settings.max_image_edge == 768 and settings.temperature == Settings().temperature
    assert load_settings().model == str(tmp_path / "my-model")  # saved: the next start does not ask again
    assert len(list(settings_path().parent.glob("settings.json.invalid-*"))) == 1


def test_damaged_database_is_shown(qtbot, tmp_path, sound_db):  # noqa: F811
    path = tmp_path / "mondrian.db"
    shutil.copyfile(sound_db, path)
    conn = sqlite3.connect(path)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    overwrite_page(path, pages // 2)
    window = QWidget()
    qtbot.addWidget(window)
    with Store(path) as store:
        watch = watch_store_damage(window, store)
        qtbot.waitUntil(lambda: watch.box is not None, timeout=10_000)
        assert watch.box.text() == str(store.damage)
        assert "stopped writing" in watch.box.text()
