"""The window at 900x600, the smallest it is made for (issue 22, defect 18): every page keeps that
size, no title is clipped (measured with the label's own font), the Panel's scores are on screen,
and an idle training progress bar does not claim "100 %"."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget
from test_ui_daily import _report, _result

from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS, DimensionScore, Report
from app.engine.critique.result import CritiqueResult
from app.ui.common.operations import Comparison
from app.ui.training.training_process import Step

SIZE = (900, 600)


def _text_fits(label: QLabel) -> bool:
    """The label's text is drawn whole: on one line within its width, or (word-wrapped) each word
    within its width and the lines within its height."""
    metrics, room = label.fontMetrics(), label.contentsRect()
    text = label.text().replace("&&", "&")
    if not label.wordWrap():
        return metrics.horizontalAdvance(text) <= room.width()
    words_fit = all(metrics.horizontalAdvance(word) <= room.width() for word in text.split())
    lines = metrics.boundingRect(room, int(label.alignment()) | 0x1000, text)  # Qt.TextWordWrap
    return words_fit and lines.height() <= room.height()


def _inside(widget: QWidget, viewport: QWidget) -> bool:
    """The whole widget lies within the visible part of a scroll area's viewport."""
    top_left = widget.mapTo(viewport, widget.rect().topLeft())
    return viewport.rect().contains(top_left) and viewport.rect().contains(
        widget.mapTo(viewport, widget.rect().bottomRight()))


def _at_size(qtbot, window) -> None:
    window.resize(*SIZE)
    qtbot.wait(30)
    assert (window.width(), window.height()) == SIZE, window.minimumSizeHint()


def _varied_report(seed: int) -> Report:
    dims = {k: DimensionScore(score=(seed + i) % 10, comment="Fine.", recommendation="Keep it.")
            for i, k in enumerate(DIMENSIONS)}
    return Report(dimensions=dims, summary="Fine.")


def test_card_titles_are_whole_in_the_report_and_the_comparison(qtbot, window) -> None:
    panel = window.critique
    panel.display.show_item(_result("/photos/a.jpg", _report()))
    _at_size(qtbot, window)
    titles = [card.title for card in panel.report_view.cards]
    assert [t.text() for t in titles] == [DIMENSION_LABELS[k] for k in DIMENSIONS]
    assert all(_text_fits(t) for t in titles), [(t.text(), t.width()) for t in titles if not _text_fits(t)]

    tuned = _result("/photos/a.jpg", _report(), adapter_version="v1", model_used="fine_tuned")
    panel.display.show_item(Comparison(base=_result("/photos/a.jpg", _report()), tuned=tuned))
    _at_size(qtbot, window)
    titles = [card.title for view in panel.compare_view.findChildren(type(panel.report_view))
              for card in view.cards]
    assert titles and all(_text_fits(t) for t in titles), [t.text() for t in titles if not _text_fits(t)]


def test_the_panel_shows_every_score_at_900_by_600(qtbot, window) -> None:
    window.tabs.setCurrentWidget(window.panel)
    advisors = list(window.service.advisors())[:5]
    window.panel.show_results([CritiqueResult(photo="/photos/a.jpg", advisor_id=a, requested_mode="baseline",
                                              effective_mode="baseline", report=_varied_report(i))
                               for i, a in enumerate(advisors)])
    _at_size(qtbot, window)
    body = window.panel.body.parentWidget()
    scroll = body.parentWidget().parentWidget()
    qtbot.waitUntil(lambda: body.height() >= body.minimumSizeHint().height())  # the scroll area's deferred fit
    assert scroll.horizontalScrollBar().maximum() == 0  # nothing to the right of the window
    table = window.panel.table
    cells = [item.widget() for r in range(table.rowCount()) for c in range(table.columnCount())
             if (item := table.itemAtPosition(r, c)) is not None]
    assert len(cells) == (len(DIMENSIONS) + 1) * (len(advisors) + 2)
    assert [c.text() for c in cells[1:len(advisors) + 1]] == [window.service.advisors()[a].name for a in advisors]
    clipped = [(c.text(), c.width()) for c in cells if not _text_fits(c)]
    assert not clipped, clipped
    viewport = scroll.viewport()
    assert all(c.mapTo(viewport, c.rect().topRight()).x() <= viewport.width() for c in cells)
    scroll.ensureWidgetVisible(cells[-1])  # the last score can be scrolled to, and is then on screen
    assert _inside(cells[-1], viewport)


def test_versions_headers_are_whole(qtbot, window) -> None:
    tab = window.training
    window.tabs.setCurrentWidget(tab)
    tab.tabs.setCurrentWidget(tab.versions)
    _at_size(qtbot, window)
    header = tab.versions.table.horizontalHeader()
    metrics = header.fontMetrics()
    model = tab.versions.table.model()
    short = [model.headerData(i, header.orientation()) for i in range(header.count())
             if header.sectionSize(i) < metrics.horizontalAdvance(str(model.headerData(i, header.orientation()))) + 8]
    assert not short, short


def test_every_page_keeps_900_by_600(qtbot, window, tmp_path) -> None:
    for page in (window.critique, window.training, window.review, window.panel):
        window.tabs.setCurrentWidget(page)
        _at_size(qtbot, window)
    from test_ui_culling import _frames

    from app.ui.review.review_grid import FILTERS

    review = window.review  # a filter that matches nothing says so, and the window keeps its size
    window.tabs.setCurrentWidget(review)
    review.grid.set_frames(_frames(tmp_path, [8.0, 6.0]), resort=True)
    review.filter.setCurrentIndex(next(i for i, (label, _) in enumerate(FILTERS) if label == "Exact duplicates"))
    assert review.grid.count() == 0 and review.empty.isVisible()
    _at_size(qtbot, window)
    window.tabs.setCurrentWidget(window.training)
    window.training.tabs.setCurrentWidget(window.training.versions)
    _at_size(qtbot, window)


def test_an_idle_training_bar_shows_no_percentage(qtbot, window, tmp_path) -> None:
    assert not window.review.progress.isTextVisible()  # nor the Review's before a review starts
    tab = window.training
    assert tab.progress.value() == 0 and not tab.progress.isTextVisible()
    with qtbot.waitSignal(tab.runner.finished, timeout=60_000) as done:
        tab.runner.start([Step("Check", "this", [])])  # a step that runs and ends well at once
        tab.controls.show_progress(0.4)
        assert tab.progress.isTextVisible() and tab.progress.text() == "40%"
    assert done.args[0] is True
    assert tab.progress.value() == 0 and not tab.progress.isTextVisible()

    folder = tmp_path / "portfolio"
    folder.mkdir()
    from ui_support import sample_photo

    sample_photo(folder)
    with qtbot.waitSignal(tab.portfolio.scanned, timeout=60_000):
        tab.set_portfolio(str(folder))
    qtbot.waitUntil(lambda: tab.portfolio.scan is None, timeout=60_000)
    assert tab.progress.value() == 0 and not tab.progress.isTextVisible()


def test_the_compare_view_of_a_burst_of_five_fits_the_screen(qtbot, tmp_path) -> None:
    from PIL import Image
    from test_ui_culling import _frames

    from app.ui.review.loupe import CompareDialog

    frames = _frames(tmp_path, [8.0, 7.0, 6.0, 5.0, 4.0])
    for f in frames:
        Image.new("RGB", (1200, 800), (90, 120, 150)).save(f.path)
    by_path = {f.path: f for f in frames}
    compare = CompareDialog([f.path for f in frames], by_path.get, lambda _p: None)
    qtbot.addWidget(compare)
    compare.show()
    qtbot.waitExposed(compare)
    room = compare.screen().availableGeometry()
    assert compare.width() <= room.width() and compare.height() <= room.height()
    assert compare.minimumSizeHint().width() <= SIZE[0]  # five frames do not force a wide dialog
    for _cell, picture, _facts in compare.cells:
        shown = picture.pixmap()
        assert 40 <= shown.width() <= picture.width() and shown.height() <= picture.height()


def test_a_blank_comment_reads_no_comment_and_a_blank_advice_shows_no_arrow(qtbot) -> None:
    from app.ui.critique.report_view import DimensionCard

    card = DimensionCard("lighting", DimensionScore(score=4, comment="  ", recommendation=" \n"))
    qtbot.addWidget(card)
    assert card.comment.text() == "No comment." and card.recommendation.isHidden()
    card = DimensionCard("lighting", DimensionScore(score=4, comment="Soft light.", recommendation="Wait."))
    qtbot.addWidget(card)
    assert card.comment.text() == "Soft light." and card.recommendation.text() == "→ Wait."


def test_a_frame_that_failed_says_so_on_its_tile(tmp_path) -> None:
    from app.engine.review.summary import FrameSummary
    from app.ui.review.review_grid import tile_text

    broken = FrameSummary(path=str(tmp_path / "broken.jpg"), companions=[], status="failed", job_id=None,
                          error="broken.jpg: truncated or corrupt JPEG data", overall=None, grade=None)
    assert tile_text(broken).splitlines() == ["broken.jpg", "failed: hover for why"]
    pending = FrameSummary(path=str(tmp_path / "later.jpg"), companions=[], status="pending", job_id=None,
                           error=None, overall=None, grade=None)
    assert tile_text(pending) == "later.jpg"


def test_a_report_opened_from_the_review_tab_scrolls_its_history_entry_into_view(qtbot, window, tmp_path) -> None:
    from ui_support import sample_photo

    service, store = window.service, window.store
    jobs = [store.jobs.find_job(service.critique(sample_photo(tmp_path, f"p{i:02d}.jpg"), "ansel", "technical").job_id)
            for i in range(14)]
    window.history.refresh()
    window.tabs.setCurrentWidget(window.review)  # the history sidebar is hidden on this tab
    _at_size(qtbot, window)
    oldest = jobs[0]  # listed last, far below the fold at 600 px
    window.reopen_job(oldest)
    listing = window.history.list
    assert window.history.selected_job_id() == oldest.id

    def entry_in_view() -> bool:
        return listing.viewport().rect().intersects(listing.visualItemRect(listing.currentItem()))

    qtbot.waitUntil(entry_in_view, timeout=2000)
