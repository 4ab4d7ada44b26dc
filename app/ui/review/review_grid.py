"""The Review view's grid: one tile per frame (thumbnail, grade badge, stars, pick/reject, colour
label, burst), sorted and filtered, culled with Lightroom's keys (:mod:`app.ui.review.culling`).

The order is fixed when the user sorts or filters: a result that arrives while a review runs, or
the review finishing, repaints its tile in place and never moves the tile under the cursor. Tiles
are drawn only when they scroll into view (a shoot of thousands of frames fills at once), and
bursts can be shown as stacks: the best frame stands for the burst until it is expanded (S).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImageReader, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from app.engine.review.summary import FrameSummary

from ..common import theme
from .culling import (
    FILTERS,
    LABEL_COLOURS,
    SORTS,
    Predicate,
    cull_for_key,
    frame_grade,
    grid_action,
    is_redo,
    is_undo,
    order_key,
)

__all__ = ["FILTERS", "SORTS", "TILE", "ReviewGrid", "tile_pixmap", "tile_text"]

TILE = 128  # the default tile edge; the slider sets 80-320
PATH_ROLE = Qt.ItemDataRole.UserRole
DRAW_BUDGET_S = 0.012  # tile drawing per turn of the event loop
KEEP_DRAWN = 600  # tiles kept drawn off screen before the oldest are dropped (memory on big shoots)


def _badge_colour(frame: FrameSummary) -> QColor:
    return theme.score_color(frame.overall) if frame.reviewed else QColor(theme.MUTED)


def _scaled_source(path: str | None, edge: int) -> QPixmap | None:
    """The thumbnail decoded at tile size (Qt scales while decoding: fast for big JPEG previews)."""
    if not path or not Path(path).is_file():
        return None
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > edge:
        reader.setScaledSize(size.scaled(edge, edge, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return QPixmap.fromImage(image) if not image.isNull() else None


def tile_pixmap(frame: FrameSummary, source: QPixmap | None, edge: int = TILE, label: str | None = None,
                stacked: int = 0) -> QPixmap:
    """The thumbnail with the grade badge (top left), the flag (top right), the burst (bottom left) and
    the colour label (bottom right). ``stacked``: how many frames a collapsed burst stands for."""
    canvas = QPixmap(edge, edge)
    canvas.fill(QColor(theme.PAPER))
    painter = QPainter(canvas)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if source is not None and not source.isNull():
        scaled = source if max(source.width(), source.height()) == edge else source.scaled(
            edge, edge, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        painter.drawPixmap((edge - scaled.width()) // 2, (edge - scaled.height()) // 2, scaled)
    font = QFont(painter.font())
    font.setBold(True)
    font.setPixelSize(14)
    painter.setFont(font)
    badge = QRect(4, 4, 50 if frame.stage == "triage" else 38, 22)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(_badge_colour(frame))
    painter.drawRoundedRect(badge, 6, 6)
    painter.setPen(QColor(theme.INK if frame.reviewed and 5 <= (frame.overall or 0) < 7 else "#ffffff"))
    grade = frame_grade(frame)
    painter.drawText(badge, Qt.AlignmentFlag.AlignCenter,  # ≈: triage scores, until the full critique arrives
                     (("≈" if frame.stage == "triage" else "") + grade) if grade else
                     ("…" if frame.status == "pending" else "—"))
    if frame.flag != "none":
        mark = QRect(edge - 26, 4, 22, 22)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(theme.GOOD if frame.flag == "pick" else theme.BAD))
        painter.drawEllipse(mark)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(mark, Qt.AlignmentFlag.AlignCenter, "✓" if frame.flag == "pick" else "✕")
    if frame.burst is not None:
        text = f"B{frame.burst}" + (" ★" if frame.best_in_burst else "") + (f" ×{stacked}" if stacked > 1 else "")
        tag = QRect(4, edge - 24, 12 + 9 * len(text), 20)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(theme.INK))
        painter.drawRoundedRect(tag, 5, 5)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, text)
    if label in LABEL_COLOURS:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(LABEL_COLOURS[label]))
        painter.drawRoundedRect(QRect(edge - 30, edge - 14, 26, 10), 4, 4)
    painter.end()
    return canvas


TEXT_MARGIN = 8  # the grid cell's width beyond the text (the view's padding either side)


def elided_caption(caption: str, metrics: QFontMetrics, width: int) -> str:
    """The caption in quotes on one line of at most ``width`` pixels (``…`` where it is cut): a caption
    that wrapped pushed the problems line out of a small tile."""
    room = max(0, width - metrics.horizontalAdvance("“”"))
    return "“" + metrics.elidedText(" ".join(caption.split()), Qt.TextElideMode.ElideRight, room) + "”"


def tile_text(frame: FrameSummary, label: str | None = None, *, width: int = TILE + 24 - TEXT_MARGIN,
              font: QFont | None = None) -> str:
    """Name, stars (yours in Mondrian, else the file's, else the score's), the colour label (the cull's,
    else the file's), the file's caption (elided to ``width`` pixels in ``font``, the application's
    when None), problems and an exact copy."""
    meta = frame.file_meta
    shown = frame.reviewed or frame.user_stars is not None or (meta is not None and meta.rating is not None)
    stars = "★" * frame.stars + "☆" * (5 - frame.stars) if shown else ""
    colour = label or (f"● {meta.label}" if meta is not None and meta.label else "")
    caption = ""
    if meta is not None and meta.caption:
        caption = elided_caption(meta.caption, QFontMetrics(font if font is not None else QFont()), width)
    problems = " · ".join([p.kind for p in frame.problems]
                          + ([f"copy of {Path(frame.duplicate_of).name}"] if frame.duplicate_of else []))
    stage = f"≈ triage {frame.overall:.1f}" if frame.stage == "triage" and frame.overall is not None else ""
    failed = "failed: hover for why" if frame.status == "failed" else ""  # a blank tile looked unreviewed
    return "\n".join(part for part in (frame.name, " ".join(p for p in (stars, colour, stage) if p), caption,
                                        problems, failed) if part)


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
    cullRequested = Signal(list, str, object)  # paths, "flag" | "stars" | "label", value
    undoRequested = Signal()
    redoRequested = Signal()
    openRequested = Signal(str)  # path: the full report
    loupeRequested = Signal(str)  # path: Space / E
    compareRequested = Signal(list)  # paths: C

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setWordWrap(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.frames: dict[str, FrameSummary] = {}
        self.labels: dict[str, str] = {}  # path -> colour label (the cull journal's)
        self._items: dict[str, QListWidgetItem] = {}
        self._drawn: dict[str, None] = {}  # paths whose tile is drawn, oldest first
        self._draw_pending = False
        self._order: list[str] = []  # the fixed order: changes only when the user sorts or filters
        self.tile = TILE
        self.sort_key = "overall"
        self.predicate: Predicate = FILTERS[0][1]
        self.stacked = False
        self.expanded: set[int] = set()
        self.auto_advance = False
        self._apply_tile_size()
        self.itemActivated.connect(lambda item: self.openRequested.emit(item.data(PATH_ROLE)))
        self.verticalScrollBar().valueChanged.connect(lambda _v: self.draw_visible())

    # ---- content -------------------------------------------------------------------------------
    def set_frames(self, frames: list[FrameSummary], *, resort: bool = False) -> None:
        """Show these frames; the order on screen is kept unless ``resort`` (new frames go last)."""
        self.frames = {f.path: f for f in frames}
        self.refill(resort=resort or not self._order)

    def set_labels(self, labels: dict[str, str]) -> None:
        self.labels = dict(labels)
        self.refill()

    def update_frame(self, frame: FrameSummary, label: str | None = None) -> None:
        """Show a frame's new state in place (keeps its burst and duplicate marks, which only the whole
        review knows)."""
        old = self.frames.get(frame.path)
        if old is not None and frame.burst is None:
            frame.burst, frame.best_in_burst = old.burst, old.best_in_burst
        if old is not None and frame.duplicate_of is None:
            frame.duplicate_of = old.duplicate_of
        self.frames[frame.path] = frame
        if label is not None or frame.path in self.labels:
            if label:
                self.labels[frame.path] = label
            elif label == "":
                self.labels.pop(frame.path, None)
        item = self._items.get(frame.path)
        if item is None or not self._shown(frame):
            self.refill()
            return
        self._paint(item, frame, draw=True)

    def _stack_size(self, frame: FrameSummary) -> int:
        if not self.stacked or frame.burst is None or not frame.best_in_burst or frame.burst in self.expanded:
            return 0
        return self._burst_sizes().get(frame.burst, 0)

    def _burst_sizes(self) -> Counter[int]:
        return Counter(f.burst for f in self.frames.values() if f.burst is not None)

    def _shown(self, frame: FrameSummary) -> bool:
        if not self.predicate(frame):
            return False
        if self.stacked and frame.burst is not None and frame.burst not in self.expanded:
            return frame.best_in_burst
        return True

    def _paint(self, item: QListWidgetItem, frame: FrameSummary, *, draw: bool) -> None:
        label = self.labels.get(frame.path)
        item.setText(tile_text(frame, label, width=self.gridSize().width() - TEXT_MARGIN, font=self.font()))
        triage = "Triage scores (≈): the full critique has not run yet" if frame.stage == "triage" else ""
        item.setToolTip(tile_tooltip(frame) + "\n\n" + (frame.summary or triage or frame.error or frame.path))
        if draw:
            item.setIcon(tile_pixmap(frame, _scaled_source(frame.thumbnail, self.tile), self.tile, label,
                                     self._stack_size(frame)))
            self._drawn.pop(frame.path, None)
            self._drawn[frame.path] = None

    def visible_paths(self) -> list[str]:
        return [self.item(i).data(PATH_ROLE) for i in range(self.count())]

    def refill(self, *, resort: bool = False) -> None:
        current, selected = self.current_path(), set(self.selected_paths())
        if resort:
            self._order = [f.path for f in sorted(self.frames.values(), key=lambda f: order_key(f, self.sort_key))]
        else:
            known = set(self._order)
            self._order = [p for p in self._order if p in self.frames] + [
                f.path for f in sorted((f for f in self.frames.values() if f.path not in known),
                                       key=lambda f: order_key(f, self.sort_key))]
        self.setUpdatesEnabled(False)
        self.clear()
        self._items, self._drawn = {}, {}
        for path in self._order:
            frame = self.frames[path]
            if not self._shown(frame):
                continue
            item = QListWidgetItem()
            item.setData(PATH_ROLE, frame.path)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            item.setSizeHint(self.gridSize() - QSize(6, 6))
            self._paint(item, frame, draw=False)
            self.addItem(item)
            self._items[frame.path] = item
        if current in self._items:
            self.setCurrentItem(self._items[current])
        elif self.count():
            self.setCurrentRow(0)
        for path in selected & set(self._items):
            self._items[path].setSelected(True)
        self.setUpdatesEnabled(True)
        self.draw_visible()

    def draw_visible(self) -> None:
        """Draw the tiles on screen (and a row either side); drop the oldest drawn ones far away.
        At most DRAW_BUDGET_S of drawing per turn of the event loop: the rest follows in the next
        turn, so scrolling fast through thousands of frames never freezes the window."""
        self._draw_pending = False
        n = self.count()
        if not n:
            return
        height = self.viewport().height()
        lo, hi = 0, n - 1
        while lo < hi:  # the first item whose bottom is on screen (rows run top to bottom)
            mid = (lo + hi) // 2
            if self.visualItemRect(self.item(mid)).bottom() < -self.gridSize().height():
                lo = mid + 1
            else:
                hi = mid
        row = lo
        on_screen = []
        while row < n:
            item = self.item(row)
            if self.visualItemRect(item).top() > height + self.gridSize().height():
                break
            on_screen.append(item)
            row += 1
        started = time.perf_counter()
        for item in on_screen:
            path = item.data(PATH_ROLE)
            if path not in self._drawn:
                if time.perf_counter() - started > DRAW_BUDGET_S:
                    if not self._draw_pending:
                        self._draw_pending = True
                        QTimer.singleShot(0, self.draw_visible)
                    break
                self._paint(item, self.frames[path], draw=True)
        if len(self._drawn) > KEEP_DRAWN:
            keep = {item.data(PATH_ROLE) for item in on_screen}
            for path in list(self._drawn)[: len(self._drawn) - KEEP_DRAWN]:
                if path not in keep and path in self._items:
                    self._items[path].setIcon(QPixmap())
                    del self._drawn[path]

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.draw_visible()

    def set_sort(self, key: str) -> None:
        self.sort_key = key
        self.refill(resort=True)

    def set_filter(self, index: int) -> None:
        self.predicate = FILTERS[index][1]
        self.refill(resort=True)

    def set_stacked(self, on: bool) -> None:
        self.stacked = on
        self.refill()

    def toggle_stack(self, path: str) -> None:
        frame = self.frames.get(path)
        if frame is None or frame.burst is None:
            return
        self.expanded ^= {frame.burst}
        self.refill()

    def burst_members(self, path: str) -> list[str]:
        frame = self.frames.get(path)
        if frame is None or frame.burst is None:
            return []
        return [p for p in self._order if self.frames[p].burst == frame.burst]

    def _apply_tile_size(self) -> None:
        self.setIconSize(QSize(self.tile, self.tile))
        self.setGridSize(QSize(self.tile + 24, self.tile + 70))  # name, stars, caption, problems

    def set_tile_size(self, edge: int) -> None:
        self.tile = max(60, min(400, int(edge)))
        self._apply_tile_size()
        self.refill()

    def current_path(self) -> str | None:
        item = self.currentItem()
        return item.data(PATH_ROLE) if item is not None else None

    def selected_paths(self) -> list[str]:
        """The selection in grid order (the current frame when nothing is selected)."""
        chosen = {item.data(PATH_ROLE) for item in self.selectedItems()}
        paths = [p for p in self.visible_paths() if p in chosen]
        current = self.current_path()
        return paths or ([current] if current else [])

    def advance(self) -> None:
        row = self.currentRow()
        if row + 1 < self.count():
            self.setCurrentRow(row + 1)

    # ---- keys ----------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        path = self.current_path()
        if is_undo(event):
            self.undoRequested.emit()
            return
        if is_redo(event):
            self.redoRequested.emit()
            return
        if path is None:
            super().keyPressEvent(event)
            return
        cull = cull_for_key(event, self.auto_advance)
        if cull is not None:
            self.cullRequested.emit(self.selected_paths(), cull.field, cull.value)
            if cull.advance and len(self.selected_paths()) <= 1:
                self.advance()
            return
        action = grid_action(event)  # culling.GRID_KEYS, the map the help is written from
        if action == "loupe":
            self.loupeRequested.emit(path)
            return
        if action == "compare":
            chosen = self.selected_paths()
            self.compareRequested.emit(chosen if len(chosen) > 1 else self.burst_members(path) or chosen)
            return
        if action == "stack":
            self.toggle_stack(path)
            return
        if action == "open":
            self.openRequested.emit(path)
            return
        super().keyPressEvent(event)
