"""The window in daily use (issue 12): export, queueing, wrapping, 900x600, failed reports, memory,
settings, keys, history, paste, reference photos; on the real window and the tiny model."""

from __future__ import annotations

import json
import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtTest import QTest
from ui_support import LONG, drop_files, make_window, publish_adapter, sample_photo, wait_first_token

from app.engine.critique.report import DIMENSIONS, DimensionScore, Report
from app.engine.critique.result import CritiqueResult
from app.engine.vocabulary import ModelUsed
from app.ui.common.bridge import TaskContext
from app.ui.common.operations import BlindResult, Comparison
from app.ui.critique.critique_panel import PAGE_REPORT
from app.ui.critique.report_view import footer_text


def _report(comment: str = "Fine.") -> Report:
    dims = {k: DimensionScore(score=6, comment=comment, recommendation=comment) for k in DIMENSIONS}
    return Report(dimensions=dims, summary=comment)


def _result(photo: str, report: Report | None, **kw) -> CritiqueResult:
    return CritiqueResult(photo=photo, advisor_id="ansel", requested_mode="baseline", effective_mode="baseline",
                          report=report, **kw)


def _pace(monkeypatch, seconds: float = 0.01) -> None:
    """Pace the tiny model's tokens like a real model's so a run is still going when we act."""
    real = TaskContext.on_token

    def paced(self, request_id, text):
        time.sleep(seconds)
        real(self, request_id, text)

    monkeypatch.setattr(TaskContext, "on_token", paced)


def test_export_is_the_report_on_screen_or_disabled(qtbot, window, tmp_path):
    panel = window.critique
    coffee = sample_photo(tmp_path, "coffee.jpg")
    with qtbot.waitSignal(panel.critiqueFinished, timeout=LONG):
        window.open_photos([str(coffee)])
    assert panel.bar.export_button.isEnabled() and panel.display.shown.photo_path == coffee
    rocket = tmp_path / "rocket.jpg"
    rocket.write_bytes(b"not a photo at all")
    qtbot.waitUntil(lambda: panel.request is None, timeout=LONG)
    window.open_photos([str(rocket)])
    qtbot.waitUntil(lambda: panel.request is None, timeout=LONG)
    assert "rocket.jpg" in panel.notice.text()
    assert not panel.bar.export_button.isEnabled() and panel.display.export_to(tmp_path / "x.md") is None
    assert not (tmp_path / "x.md").exists()

    job = window.history.jobs()[-1]  # the coffee critique, reopened: export is that report and photo
    window.reopen_job(job)
    assert panel.bar.export_button.isEnabled() and panel.display.shown.photo_path.name == "coffee.jpg"
    data = json.loads(panel.display.export_to(tmp_path / "out.json").read_text())
    assert data["photo"].endswith("coffee.jpg") and data["job_id"] == job.id
    pdf = panel.display.export_to(tmp_path / "out.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_photos_opened_mid_run_are_queued_with_a_count(qtbot, tiny_model_dir, home, tmp_path, monkeypatch):
    _pace(monkeypatch, 0.005)
    window = make_window(qtbot, tiny_model_dir, home)
    try:
        panel = window.critique
        statuses: list[str] = []
        panel.statusMessage.connect(statuses.append)
        done: list[object] = []
        panel.critiqueFinished.connect(done.append)
        wait_first_token(qtbot, window, lambda: window.open_photos([str(sample_photo(tmp_path, "one.jpg"))]))
        window.open_photos([str(sample_photo(tmp_path, "two.jpg")), str(sample_photo(tmp_path, "three.jpg"))])
        assert "2 queued" in panel.status.label.text()
        qtbot.waitUntil(lambda: len(done) == 3, timeout=LONG)
        assert [r.photo.rsplit("/", 1)[-1] for r in done] == ["one.jpg", "two.jpg", "three.jpg"]
        assert any("(2 of 3)" in s for s in statuses) and any("(3 of 3)" in s for s in statuses)
        assert sorted(j.status for j in window.store.jobs.list_jobs()) == ["completed"] * 3
    finally:
        window.shutdown()


def test_esc_cancels_and_ctrl_comma_opens_settings(qtbot, tiny_model_dir, home, tmp_path, monkeypatch):
    _pace(monkeypatch)
    window = make_window(qtbot, tiny_model_dir, home)
    try:
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5000)
        wait_first_token(qtbot, window, lambda: window.open_photos([str(sample_photo(tmp_path))]))
        QTest.keyClick(window, Qt.Key.Key_Escape)
        assert window.critique.request is None and window.critique.notice.kind == "cancelled"
        QTest.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
        assert window.settings_dialog is not None and window.settings_dialog.isVisible()
        window.settings_dialog.reject()
        assert window.settings_dialog is None
    finally:
        window.shutdown()


def test_long_unbroken_text_wraps_and_never_scrolls_sideways(qtbot, window):
    panel = window.critique
    window.resize(900, 600)
    word = "https://example.com/" + "a" * 2500
    panel.display.show_item(_result("/photos/long.jpg", _report(word)))
    qtbot.wait(50)
    area = panel.stack.report_scroll
    assert area.horizontalScrollBar().maximum() == 0
    assert panel.report_view.width() <= area.viewport().width()
    card = panel.report_view.cards[0]
    assert card.comment.width() < 900 and card.comment.height() > 5 * card.comment.fontMetrics().height()

    tuned = _result("/photos/long.jpg", _report(word), adapter_version="v1", model_used="fine_tuned")
    panel.display.show_item(Comparison(base=_result("/photos/long.jpg", _report(word)), tuned=tuned))
    qtbot.wait(50)
    area = panel.stack.compare_scroll
    assert area.horizontalScrollBar().maximum() == 0
    table = panel.compare_view.table.parentWidget()
    assert table.geometry().right() <= area.viewport().width()  # the deltas are reachable
    assert window.width() == 900


def test_window_fits_900_by_600_on_every_page(qtbot, window):
    panel = window.critique
    blind = BlindResult(_result("/p/b.jpg", _report(), model_used="ab_test_base", adapter_version="v2"),
                        ModelUsed.AB_TEST_BASE, "v2")
    for show in (lambda: None, lambda: panel.display.show_item(_result("/p/a.jpg", _report())), lambda: panel.display.show_item(blind),
                 lambda: window.tabs.setCurrentWidget(window.training)):
        show()
        window.resize(900, 600)
        qtbot.wait(20)
        assert (window.width(), window.height()) == (900, 600), window.minimumSizeHint()
    window.tabs.setCurrentWidget(panel)
    assert window.history.isVisible()


def test_blind_banner_and_footer_never_contradict_or_linger(qtbot, window):
    panel = window.critique
    base_arm = _result("/p/b.jpg", _report(), model_used="ab_test_base", adapter_version="v2")
    assert "Adapter v2" not in footer_text(base_arm) and "Base model" in footer_text(base_arm)
    panel.display.show_item(BlindResult(base_arm, ModelUsed.AB_TEST_BASE, "v2"))
    assert panel.rating_bar.isVisible() and "hidden" in panel.report_view.footer.text()
    panel.display.rate(3)
    assert "base model" in panel.rating_bar.prompt.text() and "Base model" in panel.report_view.footer.text()
    panel.display.show_item(_result("/p/other.jpg", _report()))  # an unrelated report: no banner from the blind test
    assert not panel.rating_bar.isVisible()


def test_a_failed_report_says_the_cause_first_with_the_fix(qtbot, window):
    panel = window.critique
    problems = [f"dimension '{k}' is missing" for k in DIMENSIONS] + ["'overall_grade' is missing",
                                                                     "generation stopped at the 2000-token limit"]
    panel.display.show_item(_result("/p/cut.jpg", None, parse_problems=problems, raw_text='{"dimensional_analysis": {'))
    text = panel.notice.text()
    assert text.startswith("The model ran out of room") and "2000-token" in text and "Max tokens" in text
    assert text.count(".") <= 3 and "missing" not in text
    assert panel.notice.button("Open Settings…") and panel.notice.button("Critique again")


def test_the_window_remembers_size_advisor_mode_and_folders(qtbot, tiny_model_dir, home, tmp_path):
    from app.ui.common import ui_state

    window = make_window(qtbot, tiny_model_dir, home)
    window.resize(1000, 700)
    window.critique.bar.set_advisor("fan_ho")
    window.critique.bar.set_mode("baseline")
    ui_state.remember_folder(ui_state.OPEN_FOLDER, sample_photo(tmp_path))
    window.shutdown()
    again = make_window(qtbot, tiny_model_dir, home)
    try:
        assert (again.width(), again.height()) == (1000, 700)
        assert again.critique.bar.advisor_id() == "fan_ho" and again.critique.bar.mode() == "baseline"
        assert ui_state.folder(ui_state.OPEN_FOLDER) == str(tmp_path)
    finally:
        again.shutdown()


def test_settings_never_save_an_invalid_model_folder_and_speak_in_buttons(qtbot, window, tmp_path):
    from app.engine.settings import settings_path
    from app.ui.common.failure import notice_text
    from app.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(window.service, window)
    qtbot.addWidget(dialog)
    before = window.service.settings.model
    dialog.model_edit.setText(str(tmp_path / "not-a-model"))
    dialog.accept()
    assert dialog.message.objectName() == "error" and dialog.message.text().startswith("Not saved")
    assert window.service.settings.model == before and not settings_path().exists()
    dialog.reject()
    engine = "No model. Download it once with `mondrian download x` (needs internet)"
    text = notice_text(engine, "none", "auto")
    assert "python" not in text and "Download" in text and "Settings" in text


def test_compare_is_offered_only_with_an_adapter(qtbot, tiny_model_dir, tiny_adapters, home):
    window = make_window(qtbot, tiny_model_dir, home)
    try:
        check = window.critique.bar.compare_check
        assert not check.isEnabled() and "Training tab" in check.toolTip()
        publish_adapter("ansel", tiny_adapters["a"], tiny_model_dir)
        window.critique.bar.reload_advisors()
        assert check.isEnabled()
    finally:
        window.shutdown()


def test_history_follows_the_report_searches_and_deletes_several(qtbot, window, tmp_path):
    panel, history = window.critique, window.history
    done: list[object] = []
    panel.critiqueFinished.connect(done.append)
    window.open_photos([str(sample_photo(tmp_path, "street.jpg")), str(sample_photo(tmp_path, "harbour.jpg"))])
    qtbot.waitUntil(lambda: len(done) == 2 and len(history.jobs()) == 2, timeout=LONG)
    first, second = done
    assert history.selected_job_id() == second.job_id
    window.reopen_job(window.store.jobs.get_job(first.job_id))
    assert history.selected_job_id() == first.job_id and panel.stack.currentIndex() == PAGE_REPORT

    history.search.setText("harbour")
    assert [j.id for j in history.jobs(visible_only=True)] == [second.job_id]
    history.search.clear()
    history.list.selectAll()
    assert history.delete_button.text() == "Delete 2"
    assert history.delete_selected(confirm=False) == 2 and window.store.jobs.list_jobs() == []


def test_history_scrollbar_track_is_light(qtbot, window):
    for i in range(40):
        window.store.jobs.create_job(f"/photos/p{i}.jpg", "ansel", "auto")
    window.history.refresh()
    window.resize(900, 600)
    qtbot.wait(20)
    bar = window.history.list.verticalScrollBar()
    assert bar.isVisible()
    image = bar.grab().toImage()
    dark = sum(1 for x in range(image.width()) for y in range(image.height())
               if image.pixelColor(x, y).lightness() < 60)
    assert dark < 0.05 * image.width() * image.height()


def test_pasted_images_are_named_by_time(qtbot, window, tmp_path):
    QGuiApplication.clipboard().setImage(QImage(str(sample_photo(tmp_path))))
    with qtbot.waitSignal(window.critique.critiqueFinished, timeout=LONG) as done:
        window.paste()
    name = done.args[0].photo.rsplit("/", 1)[-1]
    assert name.startswith("Pasted image, ") and name.endswith(".png") and ":" not in name
    assert window.critique.report_view.title.text().startswith("Pasted image, ")


def test_reference_photos_are_added_from_the_window(qtbot, window, tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    sample_photo(refs, "ref1.jpg")
    request = window.add_reference_photos(str(refs))
    assert request is not None
    with qtbot.waitSignal(request.finished, timeout=LONG):
        pass
    assert window.store.profiles.count_profiles("ansel") == 1
    assert "1 reference photo added" in window.statusBar().currentMessage()
    assert "1 reference photo" in window.critique.bar.advisor_info.text()


def test_save_comments_says_it_saved(qtbot, window, tmp_path):
    from app.ui.training.profiles_view import ProfilesView
    from app.ui.training.training_tasks import PortfolioPhoto

    view = ProfilesView(window.store)
    qtbot.addWidget(view)
    view.set_photos("ansel", [PortfolioPhoto(sample_photo(tmp_path, "mine.jpg"))])
    view.table.selectRow(0)
    view.comment_edits["composition"].setText("Strong diagonal.")
    view.save_button.click()
    assert view.saved_label.text().startswith("Kept, not saved yet: mine.jpg has no scores")
    view.set_score(0, "composition", "7")
    view.table.selectRow(0)
    view.comment_edits["composition"].setText("Strong diagonal.")
    view.save_button.click()
    assert view.saved_label.text().startswith("Saved mine.jpg")
    assert view.profile_of(tmp_path / "mine.jpg").comments["composition"] == "Strong diagonal."


def test_drop_queues_rather_than_replacing(qtbot, tiny_model_dir, home, tmp_path, monkeypatch):
    _pace(monkeypatch, 0.005)
    window = make_window(qtbot, tiny_model_dir, home)
    try:
        wait_first_token(qtbot, window, lambda: window.open_photos([str(sample_photo(tmp_path, "first.jpg"))]))
        running = window.critique.request
        assert drop_files(window.critique.stream_page, [sample_photo(tmp_path, "later.jpg")]) or \
            drop_files(window, [sample_photo(tmp_path, "later.jpg")])
        assert window.critique.request is running and window.critique.queue
        qtbot.waitUntil(lambda: len(window.store.jobs.list_jobs(status="completed")) == 2, timeout=LONG)
    finally:
        window.shutdown()


def test_portfolio_scan_progress_reaches_100_percent(qtbot, tmp_path):
    from app.ui.common.bridge import InferenceBridge
    from app.ui.training.training_tasks import scan_task

    for i in range(6):
        sample_photo(tmp_path, f"p{i}.jpg")
    bridge = InferenceBridge()
    try:
        request = bridge.run("scan", scan_task(tmp_path))
        fractions: list[float] = []
        request.progress.connect(lambda _m, f: fractions.append(f))
        with qtbot.waitSignal(request.finished, timeout=LONG):
            pass
        assert fractions and fractions[-1] == 1.0 and fractions == sorted(fractions)
    finally:
        bridge.shutdown()
