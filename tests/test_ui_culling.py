"""Culling in the Review grid with real Qt widgets and a real store: grade badges, filters and legend
from one function; keys (Lightroom's, Shift/auto-advance, labels 6-9, several frames at once); undo
and redo across a restart; stable order while results arrive; stacks; loupe and compare; the
thumbnail slider; copying picks with their pairs and sidecars (and undoing it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from app.engine.critique.report import grade_for_score
from app.engine.review.grading import STAR_BANDS, stars_for_score
from app.engine.review.summary import FrameSummary
from app.engine.store.database import Store
from app.engine.store.reviews import FrameRow
from app.ui.review.culling import FILTERS, legend_text
from app.ui.review.loupe import CompareDialog, LoupeDialog
from app.ui.review.review_cull import CullController
from app.ui.review.review_grid import ReviewGrid

MEANS = [9.6, 8.8, 8.3, 7.9, 7.1, 6.5, 5.9, 5.2, 4.7, 3.0, 0.5]


def _frames(folder: Path, means: list[float | None]) -> list[FrameSummary]:
    out = []
    for i, mean in enumerate(means):
        f = FrameSummary(path=str(folder / f"f{i:02d}.jpg"), companions=[], status="done" if mean is not None
                         else "pending", job_id=None, error=None, overall=mean, grade="A" if mean is not None else None)
        out.append(f)
    return out


def _filter(label_start: str) -> int:
    return next(i for i, (label, _) in enumerate(FILTERS) if label.startswith(label_start))


def test_grade_badges_filters_and_legend_use_one_function(qtbot, tmp_path: Path) -> None:
    # the model said "A" for every frame: the window must grade from the scores, as the legend says
    grid = ReviewGrid()
    qtbot.addWidget(grid)
    frames = _frames(tmp_path, [*MEANS, None])
    grid.set_frames(frames)
    shown: dict[str, set[str]] = {}
    for _floor, stars, grades in STAR_BANDS:
        letter = grades[0]
        grid.set_filter(_filter(f"Grade {letter} ({stars}★)"))
        shown[letter] = set(grid.visible_paths())
        expected = {f.path for f in frames if f.overall is not None and grade_for_score(f.overall)[0] == letter}
        assert shown[letter] == expected and expected, letter
        # the legend's star count for the letter is the stars of every frame it shows
        assert {stars_for_score(grid.frames[p].overall) for p in shown[letter]} == {stars}
    assert set().union(*shown.values()) == {f.path for f in frames if f.overall is not None}
    assert all(f"{stars}★" in legend_text() for _fl, stars, _g in STAR_BANDS)
    assert "A grades" in legend_text() and "(F)" in legend_text()


def _controller(qtbot, tmp_path: Path, names: list[str]) -> tuple[CullController, Store, str, list[str]]:
    store = Store(tmp_path / "mondrian.db")
    review = store.reviews.open_review(str(tmp_path), "ansel", "baseline", "k", recursive=False, settings={})
    paths = [str(tmp_path / n) for n in names]
    store.reviews.set_frames(review.id, [FrameRow(review.id, p, position=i) for i, p in enumerate(paths)])
    host = QWidget()
    qtbot.addWidget(host)
    grid = ReviewGrid(host)
    grid.resize(700, 500)
    said: list[str] = []
    controller = CullController(grid, store, said.append, host)
    controller.said = said  # type: ignore[attr-defined]
    controller.open_review(review.id)
    from app.engine.review.summary import summarize_frame

    grid.set_frames([summarize_frame(store, store.reviews.get_frame(review.id, p)) for p in paths], resort=True)
    return controller, store, review.id, paths


def test_keys_undo_redo_and_a_restart(qtbot, home: Path, tmp_path: Path) -> None:
    controller, store, rid, paths = _controller(qtbot, tmp_path, ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    grid = controller.grid
    grid.setFocus()
    grid.setCurrentRow(0)
    qtbot.keyClick(grid, Qt.Key.Key_P)
    assert store.reviews.get_frame(rid, paths[0]).flag == "pick" and grid.current_path() == paths[0]
    qtbot.keyClick(grid, Qt.Key.Key_X, Qt.KeyboardModifier.ShiftModifier)  # Shift: reject, then the next frame
    assert store.reviews.get_frame(rid, paths[0]).flag == "reject" and grid.current_path() == paths[1]
    qtbot.keyClick(grid, Qt.Key.Key_Exclam, Qt.KeyboardModifier.ShiftModifier)  # Shift+1 on a US keyboard
    assert store.reviews.get_frame(rid, paths[1]).stars == 1 and grid.current_path() == paths[2]
    controller.auto_advance.setChecked(True)  # Lightroom's Caps Lock
    qtbot.keyClick(grid, Qt.Key.Key_3)
    assert store.reviews.get_frame(rid, paths[2]).stars == 3 and grid.current_path() == paths[3]
    controller.auto_advance.setChecked(False)
    qtbot.keyClick(grid, Qt.Key.Key_6)  # red label
    assert controller.journal is not None and controller.journal.labels == {paths[3]: "Red"}
    assert "Red" in grid.item(3).text()

    # several frames at once
    grid.clearSelection()
    for p in paths[:2]:
        grid._items[p].setSelected(True)
    qtbot.keyClick(grid, Qt.Key.Key_5)
    assert [store.reviews.get_frame(rid, p).stars for p in paths[:2]] == [5, 5]
    assert controller.journal.undo_stack[-1].description == "5 stars on 2 frames"

    qtbot.keyClick(grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [store.reviews.get_frame(rid, p).stars for p in paths[:2]] == [None, 1]
    assert "Undid 5 stars on 2 frames" in controller.said[-1]  # type: ignore[attr-defined]
    qtbot.keyClick(grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert [store.reviews.get_frame(rid, p).stars for p in paths[:2]] == [5, 5]

    # a restart: a new grid and controller on the same database undo where the last one stopped
    again, _store, _rid, _paths = _controller(qtbot, tmp_path / "..", [])
    again.store, again.review_id = store, None
    again.open_review(rid)
    assert again.grid.labels == {paths[3]: "Red"} and again.undo_button.isEnabled()
    for _ in range(3):
        again.undo()
    assert store.reviews.get_frame(rid, paths[2]).stars is None and again.journal is not None and again.journal.labels == {}
    assert store.reviews.get_frame(rid, paths[0]).flag == "reject"


def test_results_never_move_the_tile_under_the_cursor(qtbot, tmp_path: Path) -> None:
    grid = ReviewGrid()
    qtbot.addWidget(grid)
    frames = _frames(tmp_path, [None] * 6)
    grid.set_frames(frames, resort=True)
    before = grid.visible_paths()
    grid.setCurrentRow(2)
    under_cursor = grid.current_path()
    for f, mean in zip(frames, [2.0, 9.0, 5.0, 8.0, 1.0, 9.5], strict=True):  # results arrive, best last
        f.overall, f.status = mean, "done"
        grid.update_frame(f)
    grid.set_frames(list(frames))  # the review finishes
    assert grid.visible_paths() == before and grid.current_path() == under_cursor
    grid.refill(resort=True)  # the user asks for it
    assert grid.visible_paths()[0] == frames[5].path


def test_stacks_loupe_compare_and_slider(qtbot, tmp_path: Path) -> None:
    from PIL import Image

    frames = _frames(tmp_path, [7.0, 8.0, 6.0, 5.0])
    for i, f in enumerate(frames):
        Image.new("RGB", (64, 48), (40 * i, 90, 200)).save(f.path)
        f.thumbnail = f.path
    for f in frames[:3]:
        f.burst = 1
    frames[1].best_in_burst = True
    grid = ReviewGrid()
    qtbot.addWidget(grid)
    grid.resize(700, 500)
    grid.show()
    grid.set_frames(frames, resort=True)
    grid.set_stacked(True)
    assert grid.visible_paths() == [frames[1].path, frames[3].path]  # the burst shows its best frame
    grid.setCurrentRow(0)
    qtbot.keyClick(grid, Qt.Key.Key_S)
    assert len(grid.visible_paths()) == 4
    compared: list[list[str]] = []
    loupes: list[str] = []
    grid.compareRequested.connect(compared.append)
    grid.loupeRequested.connect(loupes.append)
    grid.setCurrentRow(0)
    qtbot.keyClick(grid, Qt.Key.Key_C)
    assert sorted(compared[-1]) == sorted(f.path for f in frames[:3])
    qtbot.keyClick(grid, Qt.Key.Key_Space)
    qtbot.keyClick(grid, Qt.Key.Key_E)
    assert loupes == [grid.current_path()] * 2

    loupe = LoupeDialog(grid.visible_paths(), frames[1].path, grid.frames.get, lambda _p: "Green")
    qtbot.addWidget(loupe)
    loupe.show()
    culls: list[tuple[list[str], str, object]] = []
    loupe.cullRequested.connect(lambda paths, field, value: culls.append((paths, field, value)))
    fitted = loupe.picture.pixmap().size()
    qtbot.keyClick(loupe, Qt.Key.Key_Z)
    assert loupe.picture.pixmap().size().width() == 64 and fitted.width() > 64  # 100 %: the file's own pixels
    assert "B" in loupe.facts.text() and "Green label" in loupe.facts.text()
    qtbot.keyClick(loupe, Qt.Key.Key_Right)
    assert loupe.focused_path() == grid.visible_paths()[loupe.index] and loupe.index == 1 + grid.visible_paths().index(
        frames[1].path)
    qtbot.keyClick(loupe, Qt.Key.Key_P)
    assert culls == [([loupe.focused_path()], "flag", "pick")]
    qtbot.keyClick(loupe, Qt.Key.Key_Escape)
    assert not loupe.isVisible()

    compare = CompareDialog([f.path for f in frames[:3]], grid.frames.get, lambda _p: None)
    qtbot.addWidget(compare)
    compare.cullRequested.connect(lambda paths, field, value: culls.append((paths, field, value)))
    qtbot.keyClick(compare, Qt.Key.Key_Right)
    qtbot.keyClick(compare, Qt.Key.Key_X)
    assert culls[-1] == ([frames[1].path], "flag", "reject") and len(compare.cells) == 3

    grid.set_tile_size(240)
    assert grid.iconSize().width() == 240 and grid.item(0).icon().availableSizes()[0].width() == 240


def test_copy_picks_with_their_pair_and_undo(qtbot, home: Path, tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for name in ("IMG_1.CR3", "IMG_1.JPG", "IMG_1.xmp", "other.jpg"):
        (shoot / name).write_bytes(name.encode())
    controller, store, rid, paths = _controller(qtbot, shoot, ["IMG_1.CR3", "other.jpg"])
    store.reviews.set_frames(rid, [FrameRow(rid, paths[0], companions=[str(shoot / "IMG_1.JPG")], position=0),
                           FrameRow(rid, paths[1], position=1)])
    from app.engine.review.summary import summarize_frame

    controller.grid.set_frames([summarize_frame(store, store.reviews.get_frame(rid, p)) for p in paths])
    assert controller.transfer_picks("copy", str(tmp_path / "picks")) is None  # no picks yet
    controller.cull([paths[0]], "flag", "pick")
    result = controller.transfer_picks("copy", str(tmp_path / "picks"))
    assert result is not None and result.frames == 1
    assert sorted(p.name for p in (tmp_path / "picks").iterdir()) == ["IMG_1.CR3", "IMG_1.JPG", "IMG_1.xmp"]
    assert "Copied 1 frame(s), 3 file(s)" in controller.said[-1]  # type: ignore[attr-defined]
    assert controller.undo_files.isEnabled()
    assert controller.undo_transfer() == [] and list((tmp_path / "picks").iterdir()) == []
    assert (shoot / "IMG_1.CR3").read_bytes() == b"IMG_1.CR3"


@pytest.mark.parametrize("size", [80, 320])
def test_slider_bounds(qtbot, home: Path, tmp_path: Path, size: int) -> None:
    controller, *_ = _controller(qtbot, tmp_path, ["a.jpg"])
    controller.size.setValue(size)
    assert controller.grid.iconSize().width() == size
