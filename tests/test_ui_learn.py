"""The Review view's "Teach Advisor" ("teach my advisor from this shoot"): the Training tab runs
``training.learn`` on that review (a real process), shows it and reports what it says. A review nobody
culled is refused by the engine with its reason, shown in the tab; a shoot reviewed and culled in the
window by keyboard trains a new version whose agreement table the Versions view shows."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from ui_support import LONG

from app.engine.adapters import versions as adapter_versions
from training.pipeline import LEARN


def test_teach_button_runs_learning_on_the_review_in_the_training_tab(qtbot, window, tmp_path: Path) -> None:
    from app.engine.store.reviews import FrameRow

    store = window.store
    review = store.reviews.open_review(str(tmp_path), "ansel", "baseline", "k", recursive=False, settings={})
    store.reviews.set_frames(review.id, [FrameRow(review.id, str(tmp_path / "a.jpg"))])
    view = window.review
    assert not view.teach_button.isEnabled()  # no review yet
    view.review_id = review.id
    view._on_finished()  # the review ended: the button is offered
    assert view.teach_button.isEnabled()
    tab = window.training
    with qtbot.waitSignal(tab.runner.stepStarted, timeout=LONG) as started:
        view.teach_button.click()
    assert started.args == [LEARN] and window.tabs.currentWidget() is tab
    assert tab.advisor_id() == "ansel"
    with qtbot.waitSignal(tab.runner.finished, timeout=LONG) as done:
        pass
    assert done.args[0] is False
    assert "has a decision" in tab.last_error and "cull the shoot first" in tab.last_error


# What the synthetic photographer decides on each frame, as the keys they press (P pick, X reject, 1-5 stars).
KEYS = {"sharp": [Qt.Key.Key_P, Qt.Key.Key_4], "dark": [Qt.Key.Key_2], "blurred": [Qt.Key.Key_X]}


def _keys_for(path: str) -> list[Qt.Key]:
    return KEYS[Path(path).stem.split("_")[1]]


def test_a_shoot_culled_in_the_window_teaches_the_advisor(qtbot, window, tmp_path: Path) -> None:
    """The whole loop as a photographer goes through it: a personal advisor, a real review of a folder
    with bursts, a cull by keyboard in the grid and in the loupe, Teach Advisor, the real learning
    process, the new version and its agreement table in the Versions view."""
    from app.testing.synthetic_photographer import make_bursts
    from app.ui.review.loupe import LoupeDialog

    tab, view = window.training, window.review
    bursts = make_bursts(tmp_path / "shoot", 2)
    # a personal advisor with a one-line persona (a short prompt: the tiny model's steps are quick)
    tab.new_name.setText("Me")
    tab.new_persona.setPlainText("Likes sharp, bright frames.")
    assert tab.create_advisor() == "me"
    view.advisor.setCurrentIndex(view.advisor.findData("me"))  # listed at once in the Review view
    assert view.advisor.currentData() == "me"

    # the review of the folder, triage only (scores for every frame is all learning needs)
    window.tabs.setCurrentWidget(view)
    view.set_critique("none")
    request = view.review(tmp_path / "shoot")
    assert request is not None and not view.teach_button.isEnabled()  # not before the review is through
    with qtbot.waitSignal(request.finished, timeout=LONG):
        pass
    assert view.review_id is not None and view.teach_button.isEnabled(), view.status.text()
    review = window.store.reviews.get_review(view.review_id)
    assert review.advisor_id == "me" and review.total == 6
    assert view.progress.value() == view.progress.maximum() == 6  # done: not the "0%" it once left standing

    # the first burst culled in the grid: click a tile, press its keys
    grid = view.grid
    grid.setFocus()
    for path, _flag, _stars in bursts[0]:
        rect = grid.visualItemRect(grid._items[str(path)])
        qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert grid.current_path() == str(path)
        for key in _keys_for(str(path)):
            qtbot.keyClick(grid, key)
    # the second in the loupe (E), frame after frame (Right), back to the grid (Esc)
    rect = grid.visualItemRect(grid._items[str(bursts[1][0][0])])
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.keyClick(grid, Qt.Key.Key_E)
    loupe = view.culling.loupe
    assert isinstance(loupe, LoupeDialog)
    second = {str(p) for p, _f, _s in bursts[1]}
    for _ in range(len(loupe.paths)):  # to the first frame, then through them all
        qtbot.keyClick(loupe, Qt.Key.Key_Left)
    for _ in range(len(loupe.paths)):
        focused = loupe.focused_path()
        if focused in second:
            for key in _keys_for(focused):
                qtbot.keyClick(loupe, key)
        qtbot.keyClick(loupe, Qt.Key.Key_Right)
    qtbot.keyClick(loupe, Qt.Key.Key_Escape)
    assert view.culling.loupe is None
    culled = {Path(f.path).name: (f.flag if f.flag != "none" else None, f.stars)  # "none": unflagged
              for f in window.store.reviews.list_frames(review.id)}
    assert culled == {f"burst{i:02d}_{kind}.jpg": value for i in range(2) for kind, value in
                      (("sharp", ("pick", 4)), ("dark", (None, 2)), ("blurred", ("reject", None)))}

    # Teach Advisor: the Training tab runs training.learn on this review, a few steps on the tiny model
    tab.learn_steps.setValue(2)
    with qtbot.waitSignal(tab.runner.stepStarted, timeout=LONG) as started:
        qtbot.mouseClick(view.teach_button, Qt.MouseButton.LeftButton)
    assert started.args == [LEARN] and window.tabs.currentWidget() is tab and tab.advisor_id() == "me"
    assert not tab.train_button.isEnabled() and tab.cancel_button.isEnabled()
    window.tabs.setCurrentWidget(view)  # Teach again while it runs: refused, and the Training tab says why
    qtbot.mouseClick(view.teach_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is tab and tab.last_error == "A training command is already running."
    with qtbot.waitSignal(tab.runner.finished, timeout=LONG) as done:
        pass
    assert done.args[0] is True, (done.args, tab.last_error, tab.log.toPlainText()[-3000:])
    steps = [e for _label, e in tab.runner.events if e.kind == "step"]
    assert [e.step for e in steps] == [1, 2]
    assert tab.new_version == "v1" and "Me v1 is ready. Agreement with your culls (ORPO)" in tab.status.text()
    assert tab.train_button.isEnabled() and not tab.cancel_button.isEnabled() and not tab.last_error

    # the Versions view: v1 selected, its agreement table from eval.json
    versions = tab.versions
    assert tab.tabs.currentWidget() is versions
    assert versions.selected_version() == "v1"
    table = versions.agreement
    assert not table.isHidden() and versions.eval_view.isHidden()
    rows = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
    assert [r[:2] for r in rows] == [["training", "before"], ["training", "after"],
                                     ["held out", "before"], ["held out", "after"]]
    assert all(r[2] == "3" for r in rows)  # a burst of three: three ordered pairs each side
    assert versions.eval_title.text() == "Evaluation of v1: agreement with your culls"
    # its title once widened the window to 1025 px (a bold line that did not wrap): the window is made for 900
    assert all(w.minimumSizeHint().width() < 450 for w in (versions.eval_title, versions.eval_summary,
                                                            versions.agreement, versions.agreement_note))
    listed = [versions.table.item(0, c).text() for c in range(versions.table.columnCount())]
    assert listed[4:6] == ["—", "—"] and listed[6].endswith(" agreement")  # no MAE: agreement, held out
    # the portfolio evaluation has no dataset here and would replace the agreement table: not offered
    assert not versions.evaluate_button.isEnabled() and versions.activate_button.isEnabled()
    assert versions.agreement_note.text().startswith("Held-out pairwise agreement, after minus before")
    version = adapter_versions.get_version("me", "v1")
    saved = json.loads((version.path / "eval.json").read_text(encoding="utf-8"))
    assert saved["reviews"] == [review.id] and {f["source"] for f in saved["frames_detail"]} == {"window"}
    assert len(saved["frames_detail"]) == 6 and saved["training"]["steps"] == 2

    # taught again, longer, and cancelled at its first step: nothing published, and the tab says so
    tab.learn_steps.setValue(40)
    window.tabs.setCurrentWidget(view)
    with qtbot.waitSignal(tab.runner.progressEvent, timeout=LONG,
                          check_params_cb=lambda _label, e: e.kind == "step"):
        qtbot.mouseClick(view.teach_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(tab.runner.finished, timeout=LONG) as stopped:
        qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    assert stopped.args[0] is False and stopped.args[1] == f"{LEARN}: stopped"
    assert tab.status.text().startswith("Teaching stopped: nothing was published") and not tab.last_error
    assert [v.version for v in adapter_versions.list_versions("me")] == ["v1"]


def test_the_loss_axis_tells_apart_a_loss_that_moves_in_the_third_decimal() -> None:
    """A two-step teaching run's loss moved from 7.0175 to 7.0165: the axis read 7.02 / 7.02 / 7.02."""
    from app.ui.training.loss_plot import tick_decimals

    assert tick_decimals(7.0165, 7.0175) == 4 and tick_decimals(1.0, 3.0) == 2 and tick_decimals(2.0, 2.0) == 2
    low, high = 7.0165, 7.0175
    labels = {f"{low + (high - low) * f:.{tick_decimals(low, high)}f}" for f in (0.0, 0.5, 1.0)}
    assert len(labels) == 3


def test_the_teaching_choices_make_the_learn_command(qtbot, window) -> None:
    """Steps and method from "Teaching from culls", remembered; "Activate the new version when done"
    unticked never activates, ticked leaves learn's rule (only when it agrees better)."""
    tab = window.training
    assert tab.learn_steps.value() == 60 and tab.learn_method.currentData() == "orpo"  # training.learn's defaults
    tab.learn_steps.setValue(7)
    tab.learn_method.setCurrentIndex(tab.learn_method.findData("sft"))
    [step] = tab.teach_steps("ansel", "r1")
    assert step.label == LEARN and step.argv()[:2] == ["-m", "training.learn"]
    args = step.argv()[2:]
    assert args[args.index("--steps") + 1] == "7" and args[args.index("--method") + 1] == "sft"
    assert "--activate" not in args and args[args.index("--from-review") + 1] == "r1"
    tab.activate.setChecked(False)
    args = tab.teach_steps("ansel", "r1")[0].argv()
    assert args[args.index("--activate") + 1] == "never"
    tab._remember()
    from app.ui.training.training_form import remembered

    assert remembered()["learn_steps"] == 7 and remembered()["learn_method"] == "sft"
