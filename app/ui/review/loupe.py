"""The loupe and the compare view of the Review grid, as in Lightroom's Library module.

* Loupe (Space or E on a tile): the frame large beside its grade, scores and summary; Z toggles
  100 % (the file's own pixels, scrollable) and fit; Left/Right move through the shoot in the grid's
  order; the culling keys work as in the grid; Esc, Space or E go back to the grid.
* Compare (C): the selected frames, or the frame's burst, side by side with their grades; Left/Right
  move the focus, the culling keys act on the focused frame.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeyEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.engine.critique.report import DIMENSION_LABELS
from app.engine.review.summary import FrameSummary

from ..common import pixmaps, theme
from .culling import cull_for_key, frame_grade, is_redo, is_undo, loupe_action, loupe_hint

FrameOf = Callable[[str], FrameSummary | None]
LabelOf = Callable[[str], str | None]


def fit_to_screen(dialog: QWidget, width: int, height: int) -> None:
    """Open at ``width`` x ``height``, or smaller where the screen is smaller (a burst of five in
    the compare view asked for 2,200 px and ran off a laptop's screen)."""
    screen = dialog.screen() or QGuiApplication.primaryScreen()
    room = screen.availableGeometry() if screen is not None else None
    if room is not None:
        width, height = min(width, room.width() - 40), min(height, room.height() - 60)
    dialog.resize(max(320, width), max(240, height))


def frame_facts(frame: FrameSummary, label: str | None) -> str:
    """Grade, mean, stars, flag, label, scores and summary as plain lines."""
    lines = [frame.name]
    if frame.reviewed:
        lines.append(f"{frame_grade(frame)}  ·  mean {frame.overall:.1f}  ·  {'★' * frame.stars}{'☆' * (5 - frame.stars)}")
        lines += [f"{DIMENSION_LABELS.get(d, d)}: {v:g}" for d, v in frame.scores.items()]
    else:
        lines.append(frame.error or "not reviewed yet")
    marks = [{"pick": "Picked", "reject": "Rejected"}.get(frame.flag, "")]
    if frame.user_stars is not None:
        marks.append(f"your stars {frame.user_stars}")
    if label:
        marks.append(f"{label} label")
    if any(marks):
        lines.append(" · ".join(m for m in marks if m))
    if frame.problems:
        lines.append("Problems: " + "; ".join(p.detail for p in frame.problems))
    if frame.summary:
        lines += ["", frame.summary]
    return "\n".join(lines)


class _CullingDialog(QDialog):
    cullRequested = Signal(list, str, object)  # paths, field, value (the grid's signal)
    undoRequested = Signal()
    redoRequested = Signal()

    def __init__(self, frame_of: FrameOf, label_of: LabelOf, parent: QWidget | None = None):
        super().__init__(parent)
        self.frame_of, self.label_of = frame_of, label_of
        self.auto_advance = False

    def focused_path(self) -> str | None:
        raise NotImplementedError

    def step(self, delta: int) -> None:
        raise NotImplementedError

    def refresh(self) -> None:
        raise NotImplementedError

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if is_undo(event):
            self.undoRequested.emit()
            self.refresh()
            return
        if is_redo(event):
            self.redoRequested.emit()
            self.refresh()
            return
        path = self.focused_path()
        cull = cull_for_key(event, self.auto_advance)
        if cull is not None and path is not None:
            self.cullRequested.emit([path], cull.field, cull.value)
            if cull.advance:
                self.step(1)
            self.refresh()
            return
        action = loupe_action(event)  # culling.LOUPE_KEYS, the map the help is written from
        if action in ("next", "previous"):
            self.step(1 if action == "next" else -1)
            return
        if action == "close":
            self.accept()
            return
        if action == "zoom" and self.zoom():
            return
        super().keyPressEvent(event)

    def zoom(self) -> bool:
        """Z: the loupe's 100 % view (the compare view has none)."""
        return False


class FittedPicture(QLabel):
    """A picture that takes the room it is given and is fitted into it, never asking for its own
    size (a row of 420 px pictures made the compare view wider than the screen)."""

    def __init__(self, image: QImage | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.image = image
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(80, 80)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.setPixmap(pixmaps.fit(self.image, max(40, self.width()), max(40, self.height())))


class LoupeDialog(_CullingDialog):
    def __init__(self, paths: list[str], start: str, frame_of: FrameOf, label_of: LabelOf,
                 parent: QWidget | None = None):
        super().__init__(frame_of, label_of, parent)
        self.setWindowTitle("Loupe")
        self.paths = paths
        self.index = paths.index(start) if start in paths else 0
        self.zoomed = False
        self._image: QImage | None = None
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroller = QScrollArea()
        self.scroller.setWidget(self.picture)
        self.scroller.setWidgetResizable(True)
        self.scroller.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.facts = QLabel()
        self.facts.setWordWrap(True)
        self.facts.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.facts.setMinimumWidth(220)
        self.facts.setMaximumWidth(320)
        self.hint = QLabel(loupe_hint())
        self.hint.setStyleSheet(f"color: {theme.MUTED}")
        side = QVBoxLayout()
        side.addWidget(self.facts, 1)
        side.addWidget(self.hint)
        layout = QHBoxLayout(self)
        layout.addWidget(self.scroller, 1)
        layout.addLayout(side)
        for w in (self.scroller, self.picture, self.facts):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        fit_to_screen(self, 1000, 700)
        self.load()

    def focused_path(self) -> str | None:
        return self.paths[self.index] if self.paths else None

    def load(self) -> None:
        path = self.focused_path()
        self._image = pixmaps.load_full(path) if path else None
        self.refresh()

    def refresh(self) -> None:
        path = self.focused_path()
        frame = self.frame_of(path) if path else None
        self.setWindowTitle(f"Loupe · {self.index + 1} of {len(self.paths)}")
        self.facts.setText(frame_facts(frame, self.label_of(frame.path)) if frame else "")
        self._show_picture()

    def _show_picture(self) -> None:
        if self._image is None or self._image.isNull():
            self.picture.setPixmap(QPixmap())
            self.picture.setText("This file cannot be shown.")
            return
        if self.zoomed:
            self.scroller.setWidgetResizable(False)
            self.picture.setPixmap(QPixmap.fromImage(self._image))
            self.picture.adjustSize()
        else:
            self.scroller.setWidgetResizable(True)
            size = self.scroller.viewport().size()
            self.picture.setPixmap(pixmaps.fit(self._image, max(50, size.width() - 4), max(50, size.height() - 4)))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._show_picture()

    def step(self, delta: int) -> None:
        target = max(0, min(len(self.paths) - 1, self.index + delta))
        if target != self.index:
            self.index = target
            self.load()

    def zoom(self) -> bool:
        self.zoomed = not self.zoomed
        self._show_picture()
        return True


class CompareDialog(_CullingDialog):
    def __init__(self, paths: list[str], frame_of: FrameOf, label_of: LabelOf, parent: QWidget | None = None):
        super().__init__(frame_of, label_of, parent)
        self.setWindowTitle(f"Compare {len(paths)} frames")
        self.paths = paths
        self.index = 0
        self.cells: list[tuple[QFrame, QLabel, QLabel]] = []
        row = QHBoxLayout(self)
        for path in paths:
            cell = QFrame()
            cell.setFrameShape(QFrame.Shape.Box)
            picture, facts = FittedPicture(pixmaps.load_preview(path, 900)), QLabel()
            facts.setWordWrap(True)
            box = QVBoxLayout(cell)
            box.addWidget(picture, 1)
            box.addWidget(facts)
            row.addWidget(cell)
            self.cells.append((cell, picture, facts))
        fit_to_screen(self, 440 * max(1, len(paths)), 700)
        self.refresh()



    def focused_path(self) -> str | None:
        return self.paths[self.index] if self.paths else None

    def step(self, delta: int) -> None:
        self.index = max(0, min(len(self.paths) - 1, self.index + delta))
        self.refresh()

    def refresh(self) -> None:
        for i, (cell, _picture, facts) in enumerate(self.cells):
            frame = self.frame_of(self.paths[i])
            facts.setText(frame_facts(frame, self.label_of(frame.path)).split("\n\n")[0] if frame else "")
            colour = theme.BLUE if i == self.index else theme.LINE
            cell.setStyleSheet(f"QFrame {{ border: 3px solid {colour}; }} QLabel {{ border: none; }}")
