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
    assert not view.undo_button.isEnabled()  # nothing written yet: nothing to undo
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
    assert store.reviews.get_frame(review.id, first).flag == "pick" and store.reviews.get_frame(review.id, first).stars == 4
    assert store.reviews.get_frame(review.id, second).flag == "reject"
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
    asked: list[str] = []
    view.confirm = lambda title, text, details: asked.append(text) is not None  # answers "no"
    assert view.write_sidecars() is None and sorted(p.name for p in folder.iterdir()) == before
    assert not view.undo_button.isEnabled()  # a dry run and a declined write leave nothing to undo
    view.fields["rating"].setChecked(True)
    view.fields["flag"].setChecked(True)
    view.confirm = lambda title, text, details: asked.append(text) is None  # answers "yes"
    written = view.write_sidecars()
    assert written is not None and written.batch_id
    assert asked[-1].startswith(f"{written.files_changing} sidecar(s) would change: ")
    assert "of them ratings, labels, captions or flags" in asked[-1] and "plus flag, rating" in asked[-1]
    rating = read_sidecar(folder / f"{Path(first).name}.xmp")["Xmp.xmp.Rating"]
    assert rating == "4"
    raw = view.grid.frames[str(folder / PAIR_RAW)]
    expected = "-1" if raw.flag == "reject" else str(raw.user_stars if raw.user_stars is not None
                                                       else stars_for_score(raw.overall))
    assert read_sidecar(folder / f"{PAIR_RAW}.xmp")["Xmp.xmp.Rating"] == expected
    assert view.undo_button.isEnabled()  # a write of this review's, not undone
    view.undo_button.click()
    assert "restored" in view.status.text() and not (folder / f"{PAIR_RAW}.xmp").exists()
    assert sorted(p.name for p in folder.iterdir()) == before
    assert not view.undo_button.isEnabled()  # undone: nothing left to undo

    # reopening the finished review runs nothing again, and the status says so (not "6 critiqued")
    with qtbot.waitSignal(view.reviewFinished, timeout=LONG):
        view.review(folder)
    assert view.status.text().startswith("Completed, this run: nothing critiqued, 1 failed; 6 done before this run "
                                         "(of 7 frames)"), view.status.text()


def test_cancel_keeps_what_was_done_and_the_next_run_continues(qtbot, window, tmp_path: Path) -> None:
    folder = _small_shoot(tmp_path)
    view = window.review
    view.set_mode("baseline")
    request = view.review(folder)
    qtbot.waitUntil(lambda: view.review_id is not None and window.store.reviews.get_review(view.review_id).done >= 1,
                    timeout=LONG)
    with qtbot.waitSignal(request.finished, timeout=LONG):
        view.cancel_button.click()
    assert "Cancelled" in view.status.text() and not view.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: window.store.reviews.get_review(view.review_id).state == "cancelled", timeout=LONG)
    done = window.store.reviews.get_review(view.review_id).done
    assert 1 <= done < 6
    with qtbot.waitSignal(view.reviewFinished, timeout=LONG) as finished:
        view.review(folder)
    assert finished.args[0].id == view.review_id and finished.args[0].done == 6


def test_tiles_show_what_the_files_already_say(qtbot) -> None:
    from PySide6.QtGui import QFontMetrics

    from app.engine.review.summary import FrameSummary
    from app.engine.sidecars import UserMetadata
    from app.ui.review.review_grid import TEXT_MARGIN, ReviewGrid, tile_text, tile_tooltip

    meta = UserMetadata(rating=5, label="Purple", flag="pick", caption="Grandma's 90th birthday on the terrace",
                        sources={"rating": "embedded XMP", "label": "embedded XMP", "flag": "embedded XMP",
                                 "caption": "sidecar IMG_1.xmp"})
    frame = FrameSummary(path="/shoot/IMG_1.jpg", companions=[], status="done", job_id=None, error=None, grade="F",
                         overall=2.0, flag="pick", file_meta=meta)
    assert frame.stars == 5  # the photographer's 5, not the score's 1
    text = tile_text(frame)
    assert "★★★★★ ● Purple" in text and "caption: Grandma's 90th birthday on the terrace (sidecar IMG_1.xmp)" in \
        tile_tooltip(frame)
    wide = tile_text(frame, width=1000)  # room enough: the whole caption
    assert "“Grandma's 90th birthday on the terrace”" in wide.splitlines()

    # at the default 128 px tile a long caption is cut to one line of the tile's width, and the
    # problems line stays in the tile (the caption wrapped to two lines and pushed it out)
    from app.engine.review.grading import Problem

    frame.problems = [Problem("blur", "soft everywhere")]
    grid = ReviewGrid()
    qtbot.addWidget(grid)
    grid.set_frames([frame])
    item = grid._items[frame.path]
    assert item.toolTip().startswith("IMG_1.jpg, from its files:")
    lines = item.text().splitlines()
    metrics, room = QFontMetrics(grid.font()), grid.gridSize().width() - TEXT_MARGIN
    caption = next(line for line in lines if line.startswith("“"))
    assert caption.startswith("“Grandma") and caption.endswith("…”") and metrics.horizontalAdvance(caption) <= room
    assert lines[-1] == "blur" and len(lines) == 4  # name, stars, caption, problems: one line each
    assert all(metrics.horizontalAdvance(line) <= room for line in lines[1:])
    grid.set_tile_size(320)  # a bigger tile shows more of the caption
    bigger = next(line for line in grid._items[frame.path].text().splitlines() if line.startswith("“"))
    assert len(bigger) > len(caption)


def test_hands_on_lightroom_folder_default_write_and_undo(qtbot, window, tmp_path: Path) -> None:
    """Issue 19's hands-on check: a folder Lightroom touched (ratings, labels, captions embedded in
    JPEGs, a sidecar beside a RAW); review; write with the default policy; undo."""
    import os

    import numpy as np
    from test_metadata_reader import _caption, _embed, _packet
    from test_sidecars import GRANDMA, _exiv2_read

    from app.testing.dng import write_dng

    folder = tmp_path / "lightroomed"
    folder.mkdir()
    shoot = make_shoot(tmp_path / "full")
    shutil.copyfile(shoot / BURST[0], folder / "grandma.jpg")
    _embed(folder / "grandma.jpg", _packet('xmp:Rating="5" xmp:Label="Purple"', _caption("Grandma's 90th birthday")))
    shutil.copyfile(shoot / TILTED, folder / "horizon.jpg")
    write_dng(folder / "IMG_7.NEF", np.full((48, 64, 3), 90, np.uint8))
    (folder / "IMG_7.xmp").write_text(GRANDMA, encoding="utf-8")
    photos = {p.name: p.read_bytes() for p in folder.iterdir()}
    view = window.review
    view.mode.setCurrentText("baseline")
    with qtbot.waitSignal(view.reviewFinished, timeout=LONG):
        view.review(folder)
    frames = {Path(p).name: f for p, f in view.grid.frames.items()}
    assert frames["grandma.jpg"].stars == 5 and "● Purple" in view.grid._items[str(folder / "grandma.jpg")].text()
    assert frames["IMG_7.NEF"].stars == 5 and frames["IMG_7.NEF"].file_meta.caption.startswith("Grandma")  # type: ignore[union-attr]
    assert "Lightroom keeps pick flags in its catalog only" in view.note.toolTip()  # the full note; the label is short

    sidecar = folder / "IMG_7.xmp"
    before = _exiv2_read(sidecar)
    view.convention.setCurrentIndex(view.convention.findData("lightroom"))
    asked: list[str] = []
    view.confirm = lambda title, text, details: asked.append(text) is None
    result = view.write_sidecars()
    assert result is not None and result.standard_fields_changing == 0 and "0 of them ratings" in asked[0]
    after = _exiv2_read(sidecar)
    for key, value in before.items():  # arrays, structs, language alternatives: all as they were
        if key not in ("Xmp.dc.subject", "Xmp.lr.hierarchicalSubject"):
            assert after[key] == value, key
    assert after["Xmp.xmp.Rating"][1] == "5" and "Xmp.mondrian.Overall" in after
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in photos and p.suffix != ".xmp"} == {
        n: b for n, b in photos.items() if not n.endswith(".xmp")}  # the photos: byte for byte
    written = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.glob("*.xmp")}
    view.write_sidecars()  # nothing left to change: same bytes, same mtime
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.glob("*.xmp")} == written
    view.undo_button.click()
    assert sidecar.read_text(encoding="utf-8") == GRANDMA
    assert sorted(p.name for p in folder.iterdir()) == sorted(photos)
    assert os.stat(sidecar).st_size == len(GRANDMA.encode())
