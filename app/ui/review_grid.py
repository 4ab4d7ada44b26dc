"""The Review view's grid: one tile per frame (thumbnail, grade badge, stars, pick/reject, burst),
sorted and filtered, culled with Lightroom's keys: P pick, X reject, U unflag, 0-5 stars, arrows to
move, Return to open the frame's full report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS
from app.engine.review.grading import PROBLEMS
from app.engine.review.summary import FrameSummary

from . import theme

TILE = 150
PATH_ROLE = Qt.ItemDataRole.UserRole

Predicate = Callable[[FrameSummary], bool]
WEAK_BELOW = 5.0  # "weak in <dimension>": a score under the middle of the scale


def _grade(letter: str) -> Predicate:
    return lambda f: bool(f.grade) and f.grade is not None and f.grade[0] == letter


def _problem(kind: str) -> Predicate:
    return lambda f: any(p.kind == kind for p in f.problems)


def _weak(dim: str) -> Predicate:
    def weak(f: FrameSummary) -> bool:
        score = f.scores.get(dim)
        return score is not None and score < WEAK_BELOW
    return weak


def _filters() -> list[tuple[str, Predicate]]:
    out: list[tuple[str, Predicate]] = [
        ("All frames", lambda f: True),
        ("Picks", lambda f: f.flag == "pick"),
        ("Rejects", lambda f: f.flag == "reject"),
        ("Unflagged", lambda f: f.flag == "none"),
    ]
    out += [(f"Grade {letter}", _grade(letter)) for letter in "ABCDF"]
    out.append(("Any technical problem", lambda f: bool(f.problems)))
    out += [(kind.capitalize(), _problem(kind)) for kind in PROBLEMS]
    out += [("In a burst", lambda f: f.burst is not None), ("Best of each burst", lambda f: f.best_in_burst)]
    out += [(f"Weak {DIMENSION_LABELS[d].lower()} (< {WEAK_BELOW:g})", _weak(d)) for d in DIMENSIONS]
    out.append(("Not reviewed", lambda f: not f.reviewed))
    return out


FILTERS = _filters()
SORTS: list[tuple[str, str]] = [("Overall", "overall")] + [(DIMENSION_LABELS[d], d) for d in DIMENSIONS] + [
    ("Name", "name"), ("Capture time", "time")]


def _badge_colour(frame: FrameSummary) -> QColor:
    return theme.score_color(frame.overall) if frame.reviewed else QColor(theme.MUTED)


def tile_pixmap(frame: FrameSummary, source: QPixmap | None) -> QPixmap:
    """The thumbnail with the grade badge (top left), the flag (top right) and the burst (bottom left)."""
    canvas = QPixmap(TILE, TILE)
    canvas.fill(QColor(theme.PAPER))
    painter = QPainter(canvas)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if source is not None and not source.isNull():
        scaled = source.scaled(TILE, TILE, Qt.AspectRatioMode.KeepAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
        painter.drawPixmap((TILE - scaled.width()) // 2, (TILE - scaled.height()) // 2, scaled)
    font = QFont(painter.font())
    font.setBold(True)
    font.setPixelSize(14)
    painter.setFont(font)
    badge = QRect(4, 4, 38, 22)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(_badge_colour(frame))
    painter.drawRoundedRect(badge, 6, 6)
    painter.setPen(QColor(theme.INK if frame.reviewed and (frame.overall or 0) >= 5 and (frame.overall or 0) < 7
                          else "#ffffff"))
    painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, frame.grade or ("…" if frame.status == "pending" else "—"))
    if frame.flag != "none":
        mark = QRect(TILE - 26, 4, 22, 22)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(theme.GOOD if frame.flag == "pick" else theme.BAD))
        painter.drawEllipse(mark)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(mark, Qt.AlignmentFlag.AlignCenter, "✓" if frame.flag == "pick" else "✕")
    if frame.burst is not None:
        tag = QRect(4, TILE - 24, 44 if frame.best_in_burst else 34, 20)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(theme.INK))
        painter.drawRoundedRect(tag, 5, 5)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, f"B{frame.burst}" + (" ★" if frame.best_in_burst else ""))
    painter.end()
    return canvas


def tile_text(frame: FrameSummary) -> str:
    """Name, stars (yours in Mondrian, else the file's, else the score's), the file's label and caption, problems."""
    meta = frame.file_meta
    shown = frame.reviewed or frame.user_stars is not None or (meta is not None and meta.rating is not None)
    stars = "★" * frame.stars + "☆" * (5 - frame.stars) if shown else ""
    label = f"● {meta.label}" if meta is not None and meta.label else ""
    caption = ""
    if meta is not None and meta.caption:
        caption = "“" + (meta.caption if len(meta.caption) <= 28 else meta.caption[:27].rstrip() + "…") + "”"
    problems = " · ".join(p.kind for p in frame.problems)
    return "\n".join(part for part in (frame.name, " ".join(p for p in (stars, label) if p), caption, problems)
                     if part)


def tile_tooltip(frame: FrameSummary) -> str:
    """What the files already say (rating, label, flag, caption, and where each was read)."""
    meta = frame.file_meta
    if meta is None or meta.empty and not meta.problems:
        return f"{frame.name}: no rating, label, flag or caption in its files"
    lines = [f"{frame.name}, from its files:"]
    for field in ("rating", "label", "flag", "caption"):
        value = getattr(meta, field)
        if value is not None:
            lines.append(f"{field}: {value} ({meta.sources.get(field, '?')})")
    lines += meta.problems
    return "\n".join(lines)


class ReviewGrid(QListWidget):
    flagRequested = Signal(str, str)  # path, "pick" | "reject" | "none"
    starsRequested = Signal(str, int)  # path, 0-5
    openRequested = Signal(str)  # path

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(TILE, TILE))
        self.setGridSize(QSize(TILE + 24, TILE + 84))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setWordWrap(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.frames: dict[str, FrameSummary] = {}
        self._pixmaps: dict[str, QPixmap] = {}
        self._items: dict[str, QListWidgetItem] = {}
        self.sort_key = "overall"
        self.predicate: Predicate = FILTERS[0][1]
        self.itemActivated.connect(lambda item: self.openRequested.emit(item.data(PATH_ROLE)))

    # ---- content -------------------------------------------------------------------------------
    def set_frames(self, frames: list[FrameSummary]) -> None:
        self.frames = {f.path: f for f in frames}
        self.refill()

    def update_frame(self, frame: FrameSummary) -> None:
        """Show a frame's new state (keeps its burst marks, which only the whole review knows)."""
        old = self.frames.get(frame.path)
        if old is not None and frame.burst is None:
            frame.burst, frame.best_in_burst = old.burst, old.best_in_burst
        self.frames[frame.path] = frame
        item = self._items.get(frame.path)
        if item is None or not self.predicate(frame):
            self.refill()
            return
        self._paint(item, frame)

    def _source(self, frame: FrameSummary) -> QPixmap | None:
        key = frame.thumbnail or ""
        if key and key not in self._pixmaps and Path(key).is_file():
            self._pixmaps[key] = QPixmap(key)
        return self._pixmaps.get(key)

    def _paint(self, item: QListWidgetItem, frame: FrameSummary) -> None:
        item.setIcon(tile_pixmap(frame, self._source(frame)))
        item.setText(tile_text(frame))
        item.setToolTip(tile_tooltip(frame) + "\n\n" + (frame.summary or frame.error or frame.path))

    def _order(self, frame: FrameSummary) -> tuple[float, str]:
        if self.sort_key == "name":
            return (0.0, frame.name.lower())
        if self.sort_key == "time":
            return (0.0, (frame.taken_at or "~") + frame.name.lower())
        value = frame.overall if self.sort_key == "overall" else frame.scores.get(self.sort_key)
        return (-(value if value is not None else -1.0), frame.name.lower())

    def visible_paths(self) -> list[str]:
        return [self.item(i).data(PATH_ROLE) for i in range(self.count())]

    def refill(self) -> None:
        current = self.current_path()
        self.clear()
        self._items = {}
        for frame in sorted((f for f in self.frames.values() if self.predicate(f)), key=self._order):
            item = QListWidgetItem()
            item.setData(PATH_ROLE, frame.path)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            item.setSizeHint(self.gridSize() - QSize(6, 6))
            self._paint(item, frame)
            self.addItem(item)
            self._items[frame.path] = item
        if current in self._items:
            self.setCurrentItem(self._items[current])
        elif self.count():
            self.setCurrentRow(0)

    def set_sort(self, key: str) -> None:
        self.sort_key = key
        self.refill()

    def set_filter(self, index: int) -> None:
        self.predicate = FILTERS[index][1]
        self.refill()

    def current_path(self) -> str | None:
        item = self.currentItem()
        return item.data(PATH_ROLE) if item is not None else None

    # ---- keys ----------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        path = self.current_path()
        key = event.key()
        if path is not None and event.modifiers() in (Qt.KeyboardModifier.NoModifier,
                                                       Qt.KeyboardModifier.KeypadModifier):
            if key == Qt.Key.Key_P:
                self.flagRequested.emit(path, "pick")
                return
            if key == Qt.Key.Key_X:
                self.flagRequested.emit(path, "reject")
                return
            if key == Qt.Key.Key_U:
                self.flagRequested.emit(path, "none")
                return
            if Qt.Key.Key_0 <= key <= Qt.Key.Key_5:
                self.starsRequested.emit(path, int(key) - int(Qt.Key.Key_0))
                return
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.openRequested.emit(path)
                return
        super().keyPressEvent(event)
