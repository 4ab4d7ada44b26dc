"""Settings dialog: persisted and versioned, edits the service's settings in place, model switch,
download failure offline; the tray menu; the GUI entry point's helpers."""

from __future__ import annotations

import json

from ui_support import LONG, sample_photo

from app.engine.critique.report import grade_for_score
from app.engine.settings import SETTINGS_VERSION, load_settings, settings_path
from app.ui.settings_dialog import SettingsDialog, switch_model


def test_settings_are_saved_and_applied_in_place(qtbot, window):
    settings = window.service.settings
    dialog = SettingsDialog(window.service, window)
    qtbot.addWidget(dialog)
    dialog.max_edge.setValue(768)
    dialog.ab_enabled.setChecked(True)
    dialog.ab_split.setValue(0.25)
    dialog.constrained.setChecked(False)
    dialog.accept()
    assert window.service.settings is settings  # strategies keep a reference to this object
    assert (settings.max_image_edge, settings.ab_test_enabled, settings.ab_test_split) == (768, True, 0.25)
    assert settings.constrained_decoding is False
    saved = json.loads(settings_path().read_text())
    assert saved["version"] == SETTINGS_VERSION and saved["max_image_edge"] == 768
    assert load_settings().ab_test_split == 0.25


def test_switching_model_drops_the_loaded_one(qtbot, window, tmp_path, tiny_model_dir):
    with qtbot.waitSignal(window.critique.critiqueFinished, timeout=LONG):
        window.open_photos([str(sample_photo(tmp_path))])
    assert window.service.host.loaded is not None
    switch_model(window.service, str(tiny_model_dir))
    assert window.service.host.loaded is None and window.service.host.model_ref == str(tiny_model_dir)
    with qtbot.waitSignal(window.critique.critiqueFinished, timeout=LONG) as done:
        window.open_photos([str(sample_photo(tmp_path, "again.jpg"))])
    assert done.args[0].report is not None


def test_download_offline_says_so(qtbot, window):
    dialog = SettingsDialog(window.service, window)
    qtbot.addWidget(dialog)
    dialog.model_edit.setText("mondrian-tests/no-such-model")
    assert dialog.download_button.isEnabled()
    dialog.download()
    qtbot.waitUntil(lambda: dialog.process is None, timeout=LONG)
    text = dialog.message.text()
    assert text and "no-such-model" in text or "offline" in text
    assert dialog.message.objectName() == "error"
    dialog.reject()


def test_local_model_folder_status(qtbot, window, tmp_path, tiny_model_dir):
    dialog = SettingsDialog(window.service, window)
    qtbot.addWidget(dialog)
    dialog.model_edit.setText(str(tmp_path / "missing-model"))
    assert "does not exist" in dialog.model_info.text() and not dialog.download_button.isEnabled()
    dialog.model_edit.setText(str(tiny_model_dir))
    assert str(tiny_model_dir) in dialog.model_info.text()
    dialog.reject()


def test_tray_menu_and_notifications(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtGui import QGuiApplication, QImage

    tray = window.tray
    labels = [a.text() for a in tray.menu.actions() if a.text()]
    assert labels[0] == "Critique Image on Clipboard" and "Open Mondrian" in labels and "Quit Mondrian" in labels
    image = QImage(str(sample_photo(tmp_path)))
    QGuiApplication.clipboard().setImage(image)
    monkeypatch.setattr(window, "isActiveWindow", lambda: False)
    with qtbot.waitSignal(window.critique.critiqueFinished, timeout=LONG) as done:
        tray.clipboard_action.trigger()
    result = done.args[0]
    assert result.report is not None and result.photo.endswith(".png")
    assert tray.grade_action.text().startswith(f"Last grade: {grade_for_score(result.report.overall_score)}")
    assert tray.notifications and tray.notifications[-1][0] == "Critique ready"


def test_photo_args_and_empty_clipboard(qtbot, window):
    from PySide6.QtGui import QGuiApplication

    from app.ui.main import photo_args

    assert photo_args(["-psn_0_1234", "a.jpg", "--flag", "b.png"]) == ["a.jpg", "b.png"]
    QGuiApplication.clipboard().clear()
    window.paste()
    assert "clipboard holds no image" in window.critique.last_error


def test_background_preload_shows_model_loading_then_ready(qtbot, window):
    messages: list[str] = []
    window.statusBar().messageChanged.connect(lambda text: messages.append(text))
    request = window.preload_model()
    assert request is not None
    with qtbot.waitSignal(request.finished, timeout=LONG):
        pass
    assert any(m.startswith("Loading the model") for m in messages)
    assert window.statusBar().currentMessage().endswith("ready.") and window.service.host.loaded is not None
