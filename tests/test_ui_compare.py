"""Cancel mid-stream, base vs fine-tuned side by side, and the blind A/B test, on the tiny model."""

from __future__ import annotations

import time

import pytest
from ui_support import LONG, drop_files, make_window, publish_adapter, sample_photo, wait_first_token

from app.engine.critique.report import DIMENSIONS
from app.engine.vocabulary import ModelUsed
from app.ui.common.bridge import CANCELLED, TaskContext
from app.ui.common.operations import BlindResult, Comparison
from app.ui.critique.ab_stats import stats_rows
from app.ui.critique.critique_panel import PAGE_COMPARE, PAGE_REPORT, PAGE_STREAM


def test_cancel_mid_stream_drops_late_output(qtbot, tiny_model_dir, home, tmp_path, monkeypatch):
    # The tiny model writes a report in a fraction of a second; pace its tokens like a real model's
    # (on the model thread) so the cancel lands mid-stream.
    real_on_token = TaskContext.on_token

    def paced(self, request_id, text):
        time.sleep(0.01)
        real_on_token(self, request_id, text)

    monkeypatch.setattr(TaskContext, "on_token", paced)
    window = make_window(qtbot, tiny_model_dir, home)
    try:
        panel, bridge = window.critique, window.bridge
        seen: list[tuple[str, str]] = []

        def watch(request) -> None:  # every request the bridge runs, through its own signals
            request.token.connect(lambda _text: seen.append(("token", request.id)))
            request.result.connect(lambda _value: seen.append(("result", request.id)))

        bridge.submitted.connect(watch)
        request = wait_first_token(qtbot, window, lambda: window.open_photos([str(sample_photo(tmp_path))]))
        rid = panel.current_id
        assert rid == request.id
        ends: list[tuple] = []
        request.failed.connect(lambda message: ends.append(("failed", rid, message)))
        request.finished.connect(lambda: ends.append(("finished", rid)))
        panel.cancel()  # the bridge ends the request at once, before the worker has even noticed
        assert ends == [("failed", rid, CANCELLED), ("finished", rid)]
        assert panel.current_id is None and not panel.status.cancel_button.isEnabled()
        # The photo and the partial text stay on screen, marked cancelled, with Critique again (issue 12 #2).
        assert panel.stack.currentIndex() == PAGE_STREAM and panel.status.label.text() == "Cancelled."
        assert panel.stream_page.has_photo() and panel.stream_page.plain_text()
        assert panel.notice.kind == "cancelled" and "Cancelled" in panel.notice.text()
        assert not panel.bar.export_button.isEnabled()  # no report on screen: nothing to export
        cut = len(seen)

        # The app keeps working: Critique again runs the same photo (after the host noticed the cancel).
        monkeypatch.setattr(TaskContext, "on_token", real_on_token)
        with qtbot.waitSignal(panel.critiqueFinished, timeout=LONG) as again:
            panel.notice.button("Critique again").click()
        assert again.args[0].photo == str(tmp_path / "sample.jpg")
        assert not panel.notice.isVisible() and panel.stack.currentIndex() == PAGE_REPORT
        assert not [kind for kind, r in seen[cut:] if r == rid], "late output of the cancelled request leaked"
        assert ("result", rid) not in seen
        jobs = window.store.jobs.list_jobs()
        assert sorted(j.status for j in jobs) == ["cancelled", "completed"]

        # Reopening the cancelled entry says what happened (not "could not be read as a report").
        qtbot.waitUntil(lambda: len(window.history.jobs()) == 2, timeout=LONG)
        cancelled = next(j for j in window.history.jobs() if j.status == "cancelled")
        window.history.select_job(cancelled.id)
        window.history.reopen_selected()
        assert panel.notice.kind == "cancelled" and "stopped on" in panel.notice.text()
        assert "could not be read" not in panel.report_view.banner.text()
        assert panel.notice.button("Critique again") is not None
    finally:
        window.shutdown()


def test_comparison_shows_base_and_fine_tuned_side_by_side(qtbot, tiny_model_dir, tiny_adapters, home, tmp_path):
    version = publish_adapter("ansel", tiny_adapters["a"], tiny_model_dir)
    window = make_window(qtbot, tiny_model_dir, home)
    try:
        panel = window.critique
        qtbot.waitUntil(lambda: "lora" in panel.bar.effective_label.text(), timeout=LONG)
        assert version.version in panel.bar.advisor_info.text() and "active" in panel.bar.advisor_info.text()
        panel.bar.compare_check.setChecked(True)
        with qtbot.waitSignal(panel.critiqueFinished, timeout=LONG) as finished:
            assert drop_files(panel.dropzone, [sample_photo(tmp_path)])
        comparison = finished.args[0]
        assert isinstance(comparison, Comparison)
        assert comparison.base.effective_mode == "baseline" and comparison.base.adapter_version is None
        assert comparison.tuned.effective_mode == "lora" and comparison.tuned.adapter_version == version.version
        assert panel.stack.currentIndex() == PAGE_COMPARE
        view = panel.compare_view
        assert len(view.base_view.cards) == 8 and len(view.tuned_view.cards) == 8
        deltas = comparison.deltas()
        assert set(deltas) == set(DIMENSIONS)
        for key, text in view.delta_labels().items():
            d = deltas[key]
            assert text == ("—" if d is None else f"{'+' if d > 0 else ''}{d:g}")
        assert [s.label for s in view.radar.series] == ["base", "fine-tuned"]
        used = sorted(j.model_used for j in window.store.jobs.list_jobs())
        assert used == ["base", "fine_tuned"]
    finally:
        window.shutdown()


@pytest.mark.parametrize(("split", "arm"), [(1.0, "fine_tuned"), (0.0, "base")])
def test_blind_ab_hides_the_arm_until_rated_and_records_the_rating(qtbot, tiny_model_dir, tiny_adapters, home,
                                                                   tmp_path, split, arm):
    version = publish_adapter("ansel", tiny_adapters["a"], tiny_model_dir)
    window = make_window(qtbot, tiny_model_dir, home, ab_test_enabled=True, ab_test_split=split)
    try:
        panel = window.critique
        with qtbot.waitSignal(panel.critiqueFinished, timeout=LONG) as finished:
            assert drop_files(panel.dropzone, [sample_photo(tmp_path)])
        blind = finished.args[0]
        assert isinstance(blind, BlindResult) and blind.arm == ModelUsed(f"ab_test_{arm}") and blind.adapter_version == version.version
        assert panel.stack.currentIndex() == PAGE_REPORT and panel.rating_bar.isVisible()
        footer = panel.report_view.footer.text()
        assert "hidden" in footer and "lora" not in footer and "baseline" not in footer
        assert "fine-tuned" not in panel.report_view.banner.text() and "A/B" not in panel.report_view.banner.text()

        panel.display.rate(4)
        job = window.store.jobs.get_job(blind.result.job_id)
        assert job.model_used == f"ab_test_{arm}" and job.user_rating == 4
        assert [r.rating for r in window.store.ratings.list_ratings(job.id)] == [4]
        assert ("fine-tuned model" if arm == "fine_tuned" else "base model") in panel.rating_bar.prompt.text()
        assert "hidden" not in panel.report_view.footer.text()
        assert not any(b.isEnabled() for b in panel.rating_bar.buttons)
        rates = {w.adapter_version: w for w in window.store.ratings.ab_win_rates()}
        mine = rates[version.version]
        assert (mine.rated_fine_tuned, mine.rated_base) == ((1, 0) if arm == "fine_tuned" else (0, 1))
        rows = stats_rows(window.store)
        assert rows[0][0] == version.version and "4.00 (1)" in rows[0]
    finally:
        window.shutdown()
