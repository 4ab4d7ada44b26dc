"""The Review view's "Teach My Advisor From This Shoot": the Training tab runs ``training.learn`` on
that review (a real process), shows it and reports what it says. A review nobody culled is refused
by the engine with its reason, shown in the tab (the full training run is tests/test_training_learn.py)."""

from __future__ import annotations

from pathlib import Path

from ui_support import LONG

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
