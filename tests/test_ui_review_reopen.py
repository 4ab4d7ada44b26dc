"""The Review tab after a restart shows the last review as it was left: its frames, the cull and
its undo history, Teach and Export offered; a review deleted since is not looked for."""

from __future__ import annotations

import shutil
from pathlib import Path

from review_support import BURST, make_shoot
from ui_support import LONG, make_window


def test_the_last_review_comes_back_after_a_restart(qtbot, tiny_model_dir: Path, home: Path, tmp_path: Path) -> None:
    full = make_shoot(tmp_path / "full")
    folder = tmp_path / "shoot"
    folder.mkdir()
    for name in BURST:
        shutil.copyfile(full / name, folder / name)
    first = make_window(qtbot, tiny_model_dir, home)
    view = first.review
    assert view.last.request is None  # nothing remembered yet: no task at start-up
    with qtbot.waitSignal(view.reviewFinished, timeout=LONG) as finished:
        view.set_critique("none")
        view.review(folder)
    review_id = finished.args[0].id
    picked = sorted(view.grid.frames)[0]
    view.culling.cull([picked], "flag", "pick")
    first.shutdown()

    again = make_window(qtbot, tiny_model_dir, home)  # the window opened again, same data folder
    view = again.review
    assert view.last.request is not None
    try:
        qtbot.waitUntil(lambda: view.review_id == review_id, timeout=LONG)  # read on the worker thread
        assert view.review_id == review_id and view.grid.count() == len(BURST)
        assert view.grid.frames[picked].flag == "pick"
        assert view.status.text().startswith("Last review: shoot · 3 frames")
        assert view.teach_button.isEnabled() and view.export_button.isEnabled()
        assert view.culling.undo_button.isEnabled()  # the cull's undo history came back with it
        view.culling.undo()
        assert again.store.reviews.get_frame(review_id, picked).flag == "none"
    finally:
        again.shutdown()
