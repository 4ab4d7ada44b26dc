"""The Critique tab on the real tiny model: drops, streaming, cancel, bad photos, history, export."""

from __future__ import annotations

import json

import pytest
from ui_support import LONG, drop_files, sample_photo

from app.engine.critique.report import DIMENSIONS, grade_for_score
from app.ui.common.bridge import CANCELLED
from app.ui.critique.critique_panel import PAGE_DROP, PAGE_REPORT


def test_drop_with_file_urls_streams_a_report_with_eight_cards(qtbot, window, tmp_path):
    panel = window.critique
    photo = sample_photo(tmp_path)
    tokens: list[str] = []
    window.bridge.submitted.connect(lambda request: request.token.connect(tokens.append))
    with qtbot.waitSignal(panel.critiqueFinished, timeout=LONG) as finished:
        assert drop_files(panel.dropzone, [photo])
    result = finished.args[0]
    assert result.report is not None and result.effective_mode == "baseline"
    assert panel.stack.currentIndex() == PAGE_REPORT
    cards = panel.report_view.cards
    assert [c.key for c in cards] == list(DIMENSIONS)
    assert all(c.score is not None and 0 <= c.score <= 10 for c in cards)
    assert panel.report_view.grade.text() == grade_for_score(result.report.overall_score)
    # The text streamed in before the report: what was shown is what the model wrote.
    assert "".join(tokens) == result.raw_text == panel.stream_page.plain_text()
    footer = panel.report_view.footer.text()
    assert "baseline" in footer and "tok/s" in footer and "No adapter" in footer
    assert photo.read_bytes() == sample_photo(tmp_path / "..", "again.jpg").read_bytes()  # photo untouched


def test_drop_on_the_window_and_history_reopen_and_delete(qtbot, window, tmp_path):
    photo = sample_photo(tmp_path, "street.jpg")
    with qtbot.waitSignal(window.critique.critiqueFinished, timeout=LONG) as finished:
        assert drop_files(window, [photo])
    first = finished.args[0]
    qtbot.waitUntil(lambda: len(window.history.jobs()) == 1, timeout=LONG)
    job = window.history.jobs()[0]
    assert job.id == first.job_id and job.grade == first.report.overall_grade
    assert job.thumbnail_path and job.advisor_id == "ansel"

    window.critique.report_view.set_result(first)  # scribble over the view, then reopen from history
    window.critique.stack.setCurrentIndex(PAGE_DROP)
    window.history.select_job(job.id)
    window.history.reopen_selected()
    view = window.critique.report_view
    assert window.critique.stack.currentIndex() == PAGE_REPORT
    assert len(view.cards) == 8 and view.grade.text() == grade_for_score(first.report.overall_score)
    assert [c.score for c in view.cards] == [first.report.dimensions[k].score for k in DIMENSIONS]

    window.history.set_filter("fan_ho")
    assert window.history.jobs() == []
    window.history.set_filter(None)
    window.history.select_job(job.id)
    window.history.delete_selected(confirm=False)
    assert window.history.jobs() == [] and window.store.jobs.find_job(job.id) is None


def test_bad_photo_gives_a_clear_message_and_the_app_keeps_working(qtbot, window, tmp_path):
    panel = window.critique
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    assert drop_files(panel.dropzone, [bad])
    with qtbot.waitSignal(panel.request.failed, timeout=LONG) as failed:
        pass
    assert failed.args[0] != CANCELLED
    assert panel.notice.isVisible() or not panel.isVisible()
    assert "broken.jpg" in panel.notice.text()
    assert panel.stack.currentIndex() == PAGE_DROP
    assert bad.read_bytes().startswith(b"\xff\xd8\xff\xe0 this")

    with qtbot.waitSignal(panel.critiqueFinished, timeout=LONG):
        assert drop_files(panel.dropzone, [sample_photo(tmp_path)])
    assert not panel.notice.isVisible()
    assert len(panel.report_view.cards) == 8


def test_export_markdown_json_pdf(qtbot, window, tmp_path):
    from app.ui.critique import exporting

    with qtbot.waitSignal(window.critique.critiqueFinished, timeout=LONG) as finished:
        window.open_photos([str(sample_photo(tmp_path))])
    result = finished.args[0]
    md = exporting.export(result, tmp_path / "out.md")
    assert md.read_text().startswith("# Critique of") and "Composition" in md.read_text()
    data = json.loads(exporting.export(result, tmp_path / "out.json").read_text())
    assert set(data["report"]["dimensional_analysis"]) == set(DIMENSIONS)
    pdf = exporting.export(result, tmp_path / "out.pdf", window.critique.preview)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 2000
    with pytest.raises(ValueError, match="unknown export format"):
        exporting.export(result, tmp_path / "out.docx")


def _record_decode_threads(monkeypatch) -> list:
    """The thread of every preview decode of a reopened job (app.ui.critique.preview_decode)."""
    import threading

    from app.ui.critique import preview_decode

    decoded_on: list[threading.Thread] = []
    real = preview_decode.load_preview

    def recording(photo, *args, **kwargs):
        decoded_on.append(threading.current_thread())
        return real(photo, *args, **kwargs)

    monkeypatch.setattr(preview_decode, "load_preview", recording)
    return decoded_on


def test_a_dropped_photo_is_decoded_once_off_the_ui_thread_and_shown_beside_stream_and_report(
        qtbot, window, tmp_path, monkeypatch):
    """The critique task decodes the photo once (the engine's prepare, off the UI thread: a RAW or
    HEIC takes seconds) and the window shows that decode's preview; nothing decodes it again (the
    preview, the job's thumbnail)."""
    import threading

    from app.engine.photos import decode, prepare
    from app.ui.common import pixmaps
    from app.ui.critique import preview_decode

    decodes: list[tuple[str, threading.Thread]] = []

    def counting(module, name):
        real = getattr(module, name)

        def record(path, *args, **kwargs):
            decodes.append((f"{module.__name__}.{name}", threading.current_thread()))
            return real(path, *args, **kwargs)

        monkeypatch.setattr(module, name, record)

    for module, name in ((prepare, "decode_photo"), (decode, "decode_photo"), (pixmaps, "load_preview"),
                         (preview_decode, "load_preview")):
        counting(module, name)
    panel = window.critique
    photo = sample_photo(tmp_path)
    with qtbot.waitSignal(panel.critiqueFinished, timeout=LONG) as finished:
        panel.critique_paths([str(photo)])
    assert panel.stream_page.has_photo() and panel.display.shown.photo is not None
    assert not panel.display.shown.photo.isNull() and panel.preview is panel.display.shown.photo
    assert [name for name, _ in decodes] == ["app.engine.photos.prepare.decode_photo"]
    assert decodes[0][1] is not threading.main_thread()
    qtbot.waitUntil(lambda: len(window.history.jobs()) == 1, timeout=LONG)
    job = window.history.jobs()[0]
    assert job.id == finished.args[0].job_id and job.thumbnail_path  # made from the same decode
    assert len(decodes) == 1


def test_reopening_from_history_decodes_the_preview_off_the_ui_thread(qtbot, window, tmp_path, monkeypatch):
    """A RAW or HEIC reopened from History must not freeze the window: the report comes up at once,
    its photo when the query worker has decoded it (the photo, else the stored thumbnail)."""
    import threading

    panel = window.critique
    photo = sample_photo(tmp_path, "reopen.jpg")
    with qtbot.waitSignal(panel.critiqueFinished, timeout=LONG):
        panel.critique_paths([str(photo)])
    qtbot.waitUntil(lambda: len(window.history.jobs()) == 1, timeout=LONG)
    job = window.history.jobs()[0]
    decoded_on = _record_decode_threads(monkeypatch)
    for present in (True, False):  # the photo itself, then (moved away) its thumbnail
        if not present:
            photo.rename(tmp_path / "moved.jpg")
        decoded_on.clear()
        window.history.select_job(job.id)
        window.history.reopen_selected()
        assert panel.stack.currentIndex() == PAGE_REPORT and len(panel.report_view.cards) == 8
        qtbot.waitUntil(lambda: panel.display.shown.photo is not None, timeout=LONG)
        assert decoded_on and all(t is not threading.main_thread() for t in decoded_on)
        assert not panel.report_view.photo.pixmap().isNull()
