"""The Review view in the real window on the tiny model: the grid fills in, sort and filter, cull
with Lightroom's keys, open a frame's report, cancel and continue, write sidecars."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import Qt
from review_support import BLURRED, BURST, CORRUPT, PAIR_JPEG, PAIR_RAW, TILTED, make_shoot
from ui_support import LONG

from app.engine.review.grading import stars_for_score
from app.engine.sidecars import read_sidecar


def _small_shoot(tmp_path: Path) -> Path:
    full = make_shoot(tmp_path / "full")
    folder = tmp_path / "shoot"
    folder.mkdir()
    for name in (PAIR_RAW, PAIR_JPEG, *BURST, BLURRED, TILTED, CORRUPT):
        shutil.copyfile(full / name, folder / name)
    return folder  # seven frames


def test_review_fills_the_grid_and_culls_with_the_keyboard(qtbot, window, tmp_path: Path) -> None:
    folder = _small_shoot(tmp_path)
    view = window.review
    window.tabs.setCurrentWidget(view)
    view.set_mode("baseline")
    seen = []
    with qtbot.waitSignal(view.reviewFinished, timeout=LONG) as finished:
        request = view.review(folder)
        request.progress.connect(lambda _m, _f: seen.append(view.grid.count()))
    review = finished.args[0]
    assert review.state == "completed" and review.total == 7 and review.done == 6 and review.failed == 1
    assert seen and seen[0] == 7  # the grid shows every frame as soon as the folder is scanned
    assert view.grid.count() == 7 and view.progress.value() == 7 and "6 critiqued" in view.status.text()
    frames = view.grid.frames
    assert PAIR_JPEG not in {Path(p).name for p in frames}
    tiles = [view.grid.item(i).text() for i in range(view.grid.count())]
    assert all(t.split("\n")[0] for t in tiles) and any("★" in t for t in tiles)

    # sort by any dimension, best first; filter by problem and by burst
    view.sort.setCurrentIndex(view.sort.findText("Lighting"))
    lights = [frames[p].scores.get("lighting", -1) for p in view.grid.visible_paths()]
    assert lights == sorted(lights, reverse=True)
    view.filter.setCurrentIndex(view.filter.findText("Blur"))
    assert [Path(p).name for p in view.grid.visible_paths()] == [BLURRED]
    view.filter.setCurrentIndex(view.filter.findText("In a burst"))
    assert sorted(Path(p).name for p in view.grid.visible_paths()) == sorted(BURST)
    view.filter.setCurrentIndex(view.filter.findText("Best of each burst"))
    assert len(view.grid.visible_paths()) == 1
    view.filter.setCurrentIndex(0)
    view.sort.setCurrentIndex(view.sort.findText("Name"))

    # P / X / 0-5 / arrows, as in Lightroom
    view.grid.setFocus()
    view.grid.setCurrentRow(0)
    first = view.grid.current_path()
    qtbot.keyClick(view.grid, Qt.Key.Key_P)
    qtbot.keyClick(view.grid, Qt.Key.Key_4)
    qtbot.keyClick(view.grid, Qt.Key.Key_Right)
    second = view.grid.current_path()
    assert second != first
    qtbot.keyClick(view.grid, Qt.Key.Key_X)
    store = window.store
    assert store.get_frame(review.id, first).flag == "pick" and store.get_frame(review.id, first).stars == 4
    assert store.get_frame(review.id, second).flag == "reject"
    assert view.grid.frames[first].stars == 4 and "★★★★☆" in view.grid._items[first].text()
    view.filter.setCurrentIndex(view.filter.findText("Picks"))
    assert view.grid.visible_paths() == [first]
    view.filter.setCurrentIndex(0)

    # Return opens the frame's full report in the Critique tab
    view.grid.setCurrentRow(view.grid.visible_paths().index(str(folder / TILTED)))
    qtbot.keyClick(view.grid, Qt.Key.Key_Return)
    assert window.tabs.currentWidget() is window.critique

    # sidecars: a dry run writes nothing, then darktable's IMG_0001.dng.xmp
    window.tabs.setCurrentWidget(view)
    before = sorted(p.name for p in folder.iterdir())
    view.convention.setCurrentIndex(view.convention.findData("darktable"))
    view.dry_run.setChecked(True)
    view.write_sidecars()
    assert sorted(p.name for p in folder.iterdir()) == before and "would change" in view.status.text()
    view.dry_run.setChecked(False)
    view.write_sidecars()
    rating = read_sidecar(folder / f"{Path(first).name}.xmp")["Xmp.xmp.Rating"]
    assert rating == "4"
    raw = view.grid.frames[str(folder / PAIR_RAW)]
    expected = "-1" if raw.flag == "reject" else str(raw.user_stars if raw.user_stars is not None
                                                       else stars_for_score(raw.overall))
    assert read_sidecar(folder / f"{PAIR_RAW}.xmp")["Xmp.xmp.Rating"] == expected


def test_cancel_keeps_what_was_done_and_the_next_run_continues(qtbot, window, tmp_path: Path) -> None:
    folder = _small_shoot(tmp_path)
    view = window.review
    view.set_mode("baseline")
    request = view.review(folder)
    qtbot.waitUntil(lambda: view.review_id is not None and window.store.get_review(view.review_id).done >= 1,
                    timeout=LONG)
    with qtbot.waitSignal(request.finished, timeout=LONG):
        view.cancel_button.click()
    assert "Cancelled" in view.status.text() and not view.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: window.store.get_review(view.review_id).state == "cancelled", timeout=LONG)
    done = window.store.get_review(view.review_id).done
    assert 1 <= done < 6
    with qtbot.waitSignal(view.reviewFinished, timeout=LONG) as finished:
        view.review(folder)
    assert finished.args[0].id == view.review_id and finished.args[0].done == 6
