"""Issue 12, expected and missing: the photo's shooting data and notes in the report and its
exports, a zoomable photo (fit / 100 %) with the measured focus map, the radar and the measured
facts in the PDF, and a comparison reopened side by side from history. Real window, tiny model."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from ui_support import LONG, drop_files, make_window, publish_adapter, sample_photo

from app.testing.dng import add_shooting_data
from app.ui.common.operations import Comparison
from app.ui.critique import exporting
from app.ui.critique.critique_panel import PAGE_COMPARE, PAGE_REPORT


def wheel(widget, modifiers) -> None:
    """One notch of the wheel, away from the user, as the window system sends it."""
    at = QPointF(widget.width() / 2, widget.height() / 2)
    QApplication.sendEvent(widget, QWheelEvent(at, widget.mapToGlobal(at), QPoint(0, 0), QPoint(0, 120),
                                               Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase,
                                               False))


def big_photo(folder, name: str = "night.jpg"):
    """A 2400 x 1600 photo (larger than the viewer, so fit and 100 % differ) with EXIF shooting data."""
    path = folder / name
    Image.open(sample_photo(folder, "src.jpg")).resize((2400, 1600)).save(path, quality=90)
    return add_shooting_data(path, exposure=(1, 30), iso=3200, focal_mm=200)


def test_report_shows_shooting_data_and_the_viewer_zooms_with_the_focus_map(qtbot, window, tmp_path):
    panel = window.critique
    photo = big_photo(tmp_path)
    with qtbot.waitSignal(panel.critiqueFinished, timeout=LONG) as finished:
        window.open_photos([str(photo)])
    result = finished.args[0]
    assert result.shooting["iso"] == 3200
    facts = panel.report_view.facts
    assert facts.isVisible() and facts.text().startswith("Shot: 1/30 s at 200 mm, f/2.8, ISO 3200")

    panel.report_view.view_button.click()
    viewer = panel.display.viewer
    assert viewer is not None and viewer.isVisible() and not viewer.full_size  # the preview at once
    with qtbot.waitSignal(viewer.request.result, timeout=LONG):
        pass
    assert viewer.full_size and viewer.pixmap_item.pixmap().width() == 2400
    viewer.fit_button.click()
    assert 0.05 < viewer.zoom_factor < 0.5  # 2400 px in a ~900 px window
    viewer.actual_button.click()
    assert viewer.zoom_factor == 1.0 and viewer.zoom_label.text() == "100 %"
    viewer.zoom(2.0)
    assert viewer.zoom_factor == 2.0
    wheel(viewer.view.viewport(), Qt.KeyboardModifier.NoModifier)  # the plain wheel pans
    assert viewer.zoom_factor == 2.0
    wheel(viewer.view.viewport(), Qt.KeyboardModifier.ControlModifier)  # Ctrl/⌘ + wheel zooms
    assert viewer.zoom_factor == 2.0 * 1.25

    assert viewer.focus_check.isEnabled() and not viewer.overlay.isVisible()
    viewer.focus_check.setChecked(True)
    assert viewer.overlay.isVisible()
    grid = result.technical["sharpness"]["focus_map"]
    assert len(viewer.cells) == len(grid) * len(grid[0]) == 36
    sharpest = [c for c in viewer.cells if "(sharpest)" in c.toolTip()]
    assert len(sharpest) == 1 and sharpest[0].pen().widthF() >= 2
    r, c = result.technical["sharpness"]["sharpest_cell"]
    assert sharpest[0].rect().left() == 2400 * c / 6 and sharpest[0].rect().top() == 1600 * r / 6
    viewer.close()

    # Markdown and PDF of what is on screen carry the same facts; the PDF has the radar and the measurements.
    md = panel.display.export_to(tmp_path / "night.md").read_text()
    assert "- Shot: 1/30 s at 200 mm, f/2.8, ISO 3200" in md
    page = exporting.report_html(panel.display.shown.item, panel.preview, radar=True)
    assert "mondrian://radar" in page and "Measured" in page and "Horizon tilt" in page and "ISO 3200" in page
    pdf = panel.display.export_to(tmp_path / "night.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Subtype /Image") >= 2  # the photo and the radar


def test_radar_image_draws_the_scores(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.critique.critiqueFinished, timeout=LONG) as finished:
        window.open_photos([str(sample_photo(tmp_path))])
    image = exporting.radar_image(exporting.radar_series(finished.args[0]))
    coloured = sum(1 for x in range(0, image.width(), 4) for y in range(0, image.height(), 4)
                   if image.pixelColor(x, y).saturation() > 80)
    assert coloured > 20  # the filled polygon, not a blank page


def test_a_comparison_reopens_side_by_side_from_history(qtbot, tiny_model_dir, tiny_adapters, home, tmp_path):
    publish_adapter("ansel", tiny_adapters["a"], tiny_model_dir)
    window = make_window(qtbot, tiny_model_dir, home)
    try:
        panel = window.critique
        qtbot.waitUntil(lambda: "lora" in panel.bar.effective_label.text(), timeout=LONG)
        panel.bar.compare_check.setChecked(True)
        with qtbot.waitSignal(panel.critiqueFinished, timeout=LONG) as finished:
            assert drop_files(panel.dropzone, [sample_photo(tmp_path)])
        comparison = finished.args[0]
        assert isinstance(comparison, Comparison)
        base_job = window.store.jobs.get_job(comparison.base.job_id)
        tuned_job = window.store.jobs.get_job(comparison.tuned.job_id)
        assert base_job.details["pair_id"] and base_job.details["pair_id"] == tuned_job.details["pair_id"]

        panel.bar.compare_check.setChecked(False)
        with qtbot.waitSignal(panel.critiqueFinished, timeout=LONG):
            window.open_photos([str(sample_photo(tmp_path, "alone.jpg"))])
        assert panel.stack.currentIndex() == PAGE_REPORT

        for job in (base_job, tuned_job):  # either half reopens both
            window.reopen_job(job)
            assert panel.stack.currentIndex() == PAGE_COMPARE
            shown = panel.display.shown.item
            assert isinstance(shown, Comparison)
            assert (shown.base.job_id, shown.tuned.job_id) == (base_job.id, tuned_job.id)
            assert len(panel.compare_view.base_view.cards) == 8 and len(panel.compare_view.tuned_view.cards) == 8
            assert panel.compare_view.delta_labels() == {
                k: ("—" if d is None else f"{'+' if d > 0 else ''}{d:g}") for k, d in comparison.deltas().items()}
        alone = next(j for j in window.store.jobs.list_jobs() if j.photo_path.endswith("alone.jpg"))
        window.reopen_job(alone)
        assert panel.stack.currentIndex() == PAGE_REPORT
    finally:
        window.shutdown()
