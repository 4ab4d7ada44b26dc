"""Defects a photographer tripped over in the window (issue 22), each driven through real widgets."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QFormLayout, QSpinBox, QWidget


def _wheel(widget: QWidget, steps: int = 1) -> None:
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(QPoint(5, 5))), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_does_not_change_a_training_setting_in_passing(qtbot) -> None:
    from app.ui.training.training_form import HyperForm

    host = QWidget()
    qtbot.addWidget(host)
    form = HyperForm(QFormLayout(host), host)
    host.show()
    spin = next(w for w in form.widgets.values() if isinstance(w, QSpinBox))
    before = spin.value()
    _wheel(spin)
    assert spin.value() == before  # scrolled past: unchanged
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    _wheel(spin)
    assert spin.value() != before  # clicked into: the wheel is the user's choice


def test_a_typed_comment_is_kept_when_another_photo_is_clicked(qtbot, tmp_path) -> None:
    from PIL import Image

    from app.engine.store.database import Store
    from app.ui.training.profiles_view import ProfilesView
    from app.ui.training.training_tasks import PortfolioPhoto

    photos = []
    for i in range(3):
        path = tmp_path / f"p{i}.jpg"
        Image.new("RGB", (40, 30), (60 * i, 80, 120)).save(path)
        photos.append(PortfolioPhoto(path))
    store = Store(tmp_path / "mondrian.db")
    view = ProfilesView(store)
    qtbot.addWidget(view)
    view.show()
    view.set_photos("street", photos)
    view.set_score(0, "composition", "7")
    view.table.selectRow(0)
    edit = view.comment_edits["composition"]
    edit.setFocus()
    qtbot.keyClicks(edit, "Flat light")  # typed, no button pressed
    view.set_score(0, "color_harmony", "6")  # a score saved meanwhile does not wipe the typing
    assert edit.text() == "Flat light"
    view.table.selectRow(1)  # the user clicks another photo
    profile = store.profiles.get_profile("street", str(photos[0].path.resolve()))
    assert profile is not None and profile.comments["composition"] == "Flat light" and profile.scores["color_harmony"] == 6

    # a photo without scores keeps the typed comment until it has scores, then saves it with them
    view.table.selectRow(2)
    qtbot.keyClicks(view.comment_edits["emotional_impact"], "Quiet")
    view.table.selectRow(1)
    assert store.profiles.get_profile("street", str(photos[2].path.resolve())) is None
    view.table.selectRow(2)
    assert view.comment_edits["emotional_impact"].text() == "Quiet"
    view.set_score(2, "emotional_impact", "8")
    assert store.profiles.get_profile("street", str(photos[2].path.resolve())).comments["emotional_impact"] == "Quiet"


def test_a_measurement_only_critique_reopens_with_its_report(qtbot, home, tmp_path) -> None:
    from app.engine.resources import resource_path
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.store.database import Store
    from app.ui.common.operations import result_from_job
    from app.ui.critique.report_view import ReportView

    store = Store(tmp_path / "mondrian.db")
    service = MondrianService(Settings(model=str(tmp_path / "no-model")), store=store)
    fresh = service.critique(resource_path("samples", "sample.jpg"), "ansel", "technical")
    job = store.jobs.find_job(fresh.job_id)
    assert job is not None and job.report is not None  # the stored report is read back, nulls and all
    reopened = result_from_job(job)
    assert reopened.report is not None and reopened.report.scores == fresh.report.scores
    view = ReportView()
    qtbot.addWidget(view)
    view.set_result(reopened)
    assert view.grade.text() == fresh.report.overall_grade != "?"
    assert view.title.text().endswith("— measurements only")  # not an advisor's name
    scored = len(fresh.report.scores)
    assert f"of the {scored} measured dimensions ({8 - scored} need a vision model)" in view.mean.text()
    plotted = view.radar.plotted(view.radar.series[0])
    assert plotted == list(fresh.report.scores) and len(plotted) < 8  # unmeasured axes are not drawn as 0


def test_deleting_a_critique_of_a_review_frame_marks_the_frame_not_reviewed(qtbot, home, tmp_path) -> None:
    import shutil

    from app.engine.resources import resource_path
    from app.engine.review.folder_review import run_review, start_review
    from app.engine.review.summary import build_summary
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.store.database import Store
    from app.ui.history import HistoryPanel

    folder = tmp_path / "shoot"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copyfile(resource_path("samples", "sample.jpg"), folder / name)
    store = Store(tmp_path / "mondrian.db")
    service = MondrianService(Settings(model=str(tmp_path / "no-model")), store=store)
    review = run_review(service, store, start_review(service, store, folder, "ansel", "technical").id)
    assert review.done + review.reused == 2
    frame = store.reviews.get_frame(review.id, str(folder / "a.jpg"))
    history = HistoryPanel(store)
    qtbot.addWidget(history)
    history.refresh()
    history.list.clearSelection()
    for i in range(history.list.count()):
        item = history.list.item(i)
        if item.data(256).id == frame.job_id:
            item.setSelected(True)
    assert history.delete_selected(confirm=False) == 1
    after = store.reviews.get_frame(review.id, frame.path)
    assert after.status == "pending" and after.job_id is None  # not a blank tile that still says done
    summary = {f.path: f for f in build_summary(store, review.id).frames}
    assert not summary[frame.path].reviewed and summary[str(folder / "b.jpg")].reviewed
    assert store.reviews.get_review(review.id).done + store.reviews.get_review(review.id).reused == 1


def test_opening_several_photos_lists_every_one_that_failed(qtbot, window, tmp_path) -> None:
    from ui_support import LONG, sample_photo

    good = sample_photo(tmp_path)
    bad = [tmp_path / "broken.jpg", tmp_path / "empty.png"]
    bad[0].write_bytes(b"\xff\xd8\xff\xe0 not a whole jpeg")
    bad[1].write_bytes(b"")
    panel = window.critique
    panel.bar.set_mode("baseline")
    panel.critique_paths([str(bad[0]), str(good), str(bad[1])])
    qtbot.waitUntil(lambda: panel.request is None and not panel.queue and panel.batch_total == 0, timeout=LONG)
    text = panel.last_error
    assert text.startswith("2 of 3 photos could not be critiqued")
    assert "broken.jpg" in text and "empty.png" in text and "sample.jpg" not in text
    assert text.count("broken.jpg") == 1  # the name once per line


def test_a_new_personal_advisor_is_listed_everywhere_at_once_without_switching(qtbot, window) -> None:
    picked = window.critique.bar.advisor_id()
    window.training.new_name.setText("Night Streets")
    new_id = window.training.create_advisor()
    assert new_id is not None
    assert window.critique.bar.advisor_id() == picked  # the Critique picker stays where the user left it
    assert window.review.advisor.findData(new_id) >= 0  # Review lists it without a restart
    assert new_id in window.panel.checks  # and so does the Panel
    # the header speaks of the next critique, not of the report below it (another advisor's, a blind one)
    from app.engine.service import ModeInfo
    from app.ui.critique.critique_bar import effective_text

    assert effective_text(ModeInfo(new_id, "auto", "lora", None, True)) == "Next critique runs as lora"


def test_an_evaluation_without_valid_reports_reads_n_a_in_the_summary_and_the_table() -> None:
    from app.engine.critique.report import DIMENSIONS
    from app.ui.training.versions_view import eval_summary
    from training.evaluate import render_markdown

    def model(valid: int) -> dict:
        return {"samples": 3, "valid_reports": valid, "mae": 2.5, "mse": 7.25, "format_compliance": valid / 3,
                "mean_latency_s": 1.0, "ms_per_token": 10.0, "prompt_ms_per_token": 0.5,
                "per_dimension": {d: {"mae": 2.5, "mse": 7.25} for d in DIMENSIONS}}

    result = {"advisor_id": "street", "version": "v1", "samples": 3, "dataset_hash": "0" * 16, "base_model": "tiny",
              "decoding": {"max_tokens": 100}, "base": model(0), "fine_tuned": model(2), "per_sample": [],
              "comparison": {"format_compliance_change": 0.67, "mse_improvement_pct": 12.0,
                             "mae_improvement_pct": 10.0, "report_latency_overhead_pct": 1.0,
                             "latency_overhead_pct": 1.0, "prompt_latency_overhead_pct": 1.0}}
    summary, table = eval_summary(result), render_markdown(result)
    assert "MAE n/a (base) → 2.50 (fine-tuned)" in summary
    assert "| score MAE | n/a | 2.50 | n/a |" in table  # the table agrees with the summary
    assert f"| {DIMENSIONS[0]} | n/a | 2.50 | n/a | 7.25 |" in table


def test_a_new_report_opens_at_its_top_and_history_follows_it(qtbot, window, tmp_path) -> None:
    from ui_support import sample_photo

    from app.ui.common.operations import result_from_job

    service, store = window.service, window.store
    jobs = []
    for i in range(2):
        result = service.critique(sample_photo(tmp_path, f"p{i}.jpg"), "ansel", "technical")
        jobs.append(store.jobs.find_job(result.job_id))
    panel = window.critique
    window.history.refresh()
    window.resize(900, 600)
    window.reopen_job(jobs[0])
    bar = panel.stack.report_scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    bar.setValue(bar.maximum())
    window.reopen_job(jobs[1])
    assert bar.value() == 0  # title and grade in view, not the old scroll position
    assert window.history.selected_job_id() == jobs[1].id
    panel.display.show_item(result_from_job(jobs[0]))
    assert window.history.selected_job_id() == jobs[0].id


def test_a_byte_identical_copy_is_flagged_as_a_duplicate(qtbot, home, tmp_path) -> None:
    import shutil

    from PIL import Image

    from app.engine.resources import resource_path
    from app.engine.review.folder_review import run_review, start_review
    from app.engine.review.summary import build_summary
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.store.database import Store
    from app.ui.review.culling import FILTERS
    from app.ui.review.review_grid import ReviewGrid

    folder = tmp_path / "shoot"
    folder.mkdir()
    shutil.copyfile(resource_path("samples", "sample.jpg"), folder / "IMG_0001.jpg")
    shutil.copyfile(folder / "IMG_0001.jpg", folder / "zz backup of IMG_0001.jpg")  # far apart in name order
    Image.new("RGB", (64, 48), (10, 200, 30)).save(folder / "IMG_0002.jpg")
    store = Store(tmp_path / "mondrian.db")
    service = MondrianService(Settings(model=str(tmp_path / "no-model")), store=store)
    review = run_review(service, store, start_review(service, store, folder, "ansel", "technical").id)
    summary = build_summary(store, review.id)
    marks = {f.name: f.duplicate_of for f in summary.frames}
    assert marks == {"IMG_0001.jpg": None, "IMG_0002.jpg": None,
                     "zz backup of IMG_0001.jpg": str(folder / "IMG_0001.jpg")}
    assert "zz backup of IMG_0001.jpg = IMG_0001.jpg" in summary.to_text()
    grid = ReviewGrid()
    qtbot.addWidget(grid)
    grid.set_frames(summary.frames)
    grid.set_filter(next(i for i, (label, _) in enumerate(FILTERS) if label == "Exact duplicates"))
    assert [p.rsplit("/", 1)[-1] for p in grid.visible_paths()] == ["zz backup of IMG_0001.jpg"]
    assert "copy of IMG_0001.jpg" in grid.item(0).text()


def test_history_rows_of_a_pair_differ_and_cancelled_review_frames_stay_out(qtbot, home, tmp_path) -> None:
    from dataclasses import replace

    from app.engine.resources import resource_path
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.store.database import Store
    from app.ui.history import HistoryPanel

    store = Store(tmp_path / "mondrian.db")
    service = MondrianService(Settings(model=str(tmp_path / "no-model")), store=store)
    photo = resource_path("samples", "sample.jpg")
    template = service.critique(photo, "ansel", "technical")
    for used, version in (("base", None), ("fine_tuned", "v2")):
        job = store.jobs.create_job(photo, "ansel", "auto", model_used=used, adapter_version=version)
        store.jobs.complete_job(job.id, replace(template, pair_id="pair-1", model_used=used, adapter_version=version))
    blind = store.jobs.create_job(photo, "ansel", "auto", model_used="ab_test_fine_tuned", adapter_version="v2")
    store.jobs.complete_job(blind.id, replace(template, model_used="ab_test_fine_tuned", adapter_version="v2"))
    review = store.reviews.open_review(str(tmp_path), "ansel", "baseline", "k", recursive=False, settings={})
    dropped = store.jobs.create_job(photo, "ansel", "baseline")
    store.reviews.link_job(dropped.id, review.id)
    store.jobs.cancel_job(dropped.id)
    history = HistoryPanel(store)
    qtbot.addWidget(history)
    history.refresh()
    labels = {job.id: history.list.item(i).text() for i, job in enumerate(history.jobs())}
    assert dropped.id not in labels  # a cancelled frame of a folder review does not clutter history
    texts = sorted(labels.values())
    assert len(set(texts)) == len(texts)  # no two identical rows
    assert any(t.endswith("comparison: base") for t in texts) and any("comparison: fine-tuned v2" in t for t in texts)
    assert any(t.endswith("blind A/B, not rated yet") for t in texts)  # the arm stays hidden until rated
    assert any(t.endswith("measurements only") for t in texts)
    store.ratings.add_rating(blind.id, 4)
    history.refresh()
    assert any(history.list.item(i).text().endswith("blind A/B: fine-tuned v2, rated 4/5")
               for i in range(history.list.count()))
