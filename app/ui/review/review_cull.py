"""The culling side of the Review view: the cull journal (undo / redo across restarts), the loupe and
compare view, bursts as stacks, the thumbnail size, auto-advance, and copying or moving the picks.

Every change goes through :class:`app.engine.review.culling.CullJournal` and every file operation
through :mod:`app.engine.review.transfer`, the same code the CLI and API would call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSlider,
    QWidget,
)

from app.engine import atomic
from app.engine.review.culling import CullJournal
from app.engine.review.export import export_dir
from app.engine.review.summary import FrameSummary, summarize_frame
from app.engine.review.transfer import Mode, TransferResult, transfer, undo_transfer

from ..common import ui_state
from .culling import Cull, describe, keys_help, keys_line
from .loupe import CompareDialog, LoupeDialog

if TYPE_CHECKING:
    from app.engine.store.database import Store

    from .review_grid import ReviewGrid

AUTO_ADVANCE = "review/auto_advance"
TILE_SIZE = "review/tile"
STACKED = "review/stacked"


class CullController:
    """Owns the journal of the review on screen and the controls of the culling bar."""

    def __init__(self, grid: ReviewGrid, store: Store | None, say: Callable[[str], None], parent: QWidget):
        self.grid, self.store, self.say, self.parent = grid, store, say, parent
        self.review_id: str | None = None
        self.journal: CullJournal | None = None
        self.last_transfer: TransferResult | None = None
        self.loupe: LoupeDialog | CompareDialog | None = None

        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.undo_button.clicked.connect(self.undo)
        self.redo_button.clicked.connect(self.redo)
        self.auto_advance = QCheckBox("Auto-advance")
        self.auto_advance.setToolTip("Move to the next frame after P, X or 0-5 (Lightroom's Caps Lock; "
                                     "Shift+key does it once)")
        self.auto_advance.setChecked(ui_state.get_str(AUTO_ADVANCE) == "1")
        self.auto_advance.toggled.connect(self._set_auto_advance)
        self.stacks = QCheckBox("Stack bursts")
        self.stacks.setToolTip("Show each burst as its best frame; S expands or collapses it")
        self.stacks.setChecked(ui_state.get_str(STACKED) == "1")
        self.stacks.toggled.connect(self._set_stacked)
        self.size = QSlider(Qt.Orientation.Horizontal)
        self.size.setRange(80, 320)
        self.size.setFixedWidth(90)
        self.size.setToolTip("Thumbnail size")
        saved = ui_state.get_str(TILE_SIZE)
        self.size.setValue(int(saved) if saved.isdigit() else grid.tile)
        self.size.valueChanged.connect(self._set_size)
        self.files_button = QPushButton("Picks to Folder…")
        menu = QMenu(self.files_button)
        menu.addAction("Copy Picks to Folder…", lambda: self.transfer_picks("copy"))
        menu.addAction("Move Picks to Folder…", lambda: self.transfer_picks("move"))
        self.undo_files = menu.addAction("Undo the Last Copy or Move", self.undo_transfer)
        self.files_button.setMenu(menu)
        grid.auto_advance = self.auto_advance.isChecked()
        grid.stacked = self.stacks.isChecked()
        grid.tile = self.size.value()
        grid.set_tile_size(grid.tile)
        grid.cullRequested.connect(self.cull)
        grid.undoRequested.connect(self.undo)
        grid.redoRequested.connect(self.redo)
        grid.loupeRequested.connect(self.open_loupe)
        grid.compareRequested.connect(self.open_compare)
        grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        grid.customContextMenuRequested.connect(self._context_menu)
        self._update_buttons()

    def bar(self) -> QHBoxLayout:
        row = QHBoxLayout()
        for w in (self.undo_button, self.redo_button, self.auto_advance, self.stacks, QLabel("Size"), self.size,
                  self.files_button):
            row.addWidget(w)
        row.addStretch(1)
        keys = QLabel(keys_line())
        keys.setObjectName("muted")
        keys.setToolTip("\n".join(f"{k}: {what}" for k, what in keys_help()) + "\n(also in Help › Mondrian Guide)")
        row.addWidget(keys)
        return row

    # ---- the review on screen ------------------------------------------------------------------
    def open_review(self, review_id: str) -> None:
        if self.store is None or review_id == self.review_id:
            return
        self.review_id = review_id
        self.journal = CullJournal(self.store, review_id)
        self.grid.labels = dict(self.journal.labels)
        self._update_buttons()

    def _set_auto_advance(self, on: bool) -> None:
        self.grid.auto_advance = on
        if self.loupe is not None:
            self.loupe.auto_advance = on
        ui_state.set_str(AUTO_ADVANCE, "1" if on else "0")

    def _set_stacked(self, on: bool) -> None:
        self.grid.set_stacked(on)
        ui_state.set_str(STACKED, "1" if on else "0")

    def _set_size(self, edge: int) -> None:
        self.grid.set_tile_size(edge)
        ui_state.set_str(TILE_SIZE, str(edge))

    def _update_buttons(self) -> None:
        j = self.journal
        self.undo_button.setEnabled(bool(j and j.undo_stack))
        self.redo_button.setEnabled(bool(j and j.redo_stack))
        self.undo_button.setToolTip(f"Undo {j.undo_stack[-1].description}" if j and j.undo_stack else "Nothing to undo")
        self.redo_button.setToolTip(f"Redo {j.redo_stack[-1].description}" if j and j.redo_stack else "Nothing to redo")
        self.undo_files.setEnabled(self.last_transfer is not None or self._saved_transfer().is_file())

    def _saved_transfer(self) -> Path:
        return export_dir(self.review_id) / "last-transfer.json" if self.review_id else Path("/nonexistent")

    def _refresh(self, paths: list[str]) -> None:
        assert self.store is not None and self.review_id is not None and self.journal is not None
        for path in paths:
            frame = summarize_frame(self.store, self.store.reviews.get_frame(self.review_id, path))
            self.grid.update_frame(frame, self.journal.labels.get(path, ""))

    # ---- culling -------------------------------------------------------------------------------
    def cull(self, paths: list[str], field: str, value: object) -> None:
        if self.journal is None or not paths:
            return
        step = self.journal.apply(describe(Cull(field, value, False), len(paths)), paths, field, value)
        if step is not None:
            self._refresh(sorted({c.path for c in step.changes}))
            self.say(step.description)
        self._update_buttons()

    def undo(self) -> None:
        step = self.journal.undo() if self.journal else None
        if step is not None:
            self._refresh(sorted({c.path for c in step.changes}))
            self.say(f"Undid {step.description}")
        self._update_buttons()

    def redo(self) -> None:
        step = self.journal.redo() if self.journal else None
        if step is not None:
            self._refresh(sorted({c.path for c in step.changes}))
            self.say(f"Redid {step.description}")
        self._update_buttons()

    def reject_rest_of_burst(self, path: str) -> None:
        members = self.grid.burst_members(path)
        rest = [p for p in members if p != path]
        if rest:
            self.cull(rest, "flag", "reject")

    def _context_menu(self, point) -> None:
        item = self.grid.itemAt(point)
        if item is None:
            return
        path = item.data(Qt.ItemDataRole.UserRole)
        frame = self.grid.frames.get(path)
        menu = QMenu(self.grid)
        menu.addAction("Loupe (Space)", lambda: self.open_loupe(path))
        if frame is not None and frame.burst is not None:
            menu.addAction("Compare the Burst (C)", lambda: self.open_compare(self.grid.burst_members(path)))
            menu.addAction("Expand or Collapse the Stack (S)", lambda: self.grid.toggle_stack(path))
            menu.addAction("Reject the Rest of the Burst", lambda: self.reject_rest_of_burst(path))
        menu.popup(self.grid.viewport().mapToGlobal(point))

    # ---- loupe and compare ---------------------------------------------------------------------
    def _frame_of(self, path: str) -> FrameSummary | None:
        return self.grid.frames.get(path)

    def _label_of(self, path: str) -> str | None:
        return self.journal.labels.get(path) if self.journal else None

    def _wire(self, dialog: LoupeDialog | CompareDialog) -> None:
        dialog.auto_advance = self.auto_advance.isChecked()
        dialog.cullRequested.connect(self.cull)
        dialog.undoRequested.connect(self.undo)
        dialog.redoRequested.connect(self.redo)
        dialog.finished.connect(lambda _r: self._closed(dialog))
        self.loupe = dialog
        dialog.open()

    def _closed(self, dialog: LoupeDialog | CompareDialog) -> None:
        if isinstance(dialog, LoupeDialog) and dialog.focused_path() in self.grid._items:
            self.grid.setCurrentItem(self.grid._items[dialog.focused_path() or ""])
        self.loupe = None
        self.grid.setFocus()

    def open_loupe(self, path: str) -> None:
        self._wire(LoupeDialog(self.grid.visible_paths(), path, self._frame_of, self._label_of, self.parent))

    def open_compare(self, paths: list[str]) -> None:
        if len(paths) < 2:
            self.say("Compare: select two or more frames (Shift/Ctrl+click), or use it on a burst.")
            return
        self._wire(CompareDialog(paths[:6], self._frame_of, self._label_of, self.parent))

    # ---- picks to a folder ---------------------------------------------------------------------
    def transfer_picks(self, mode: Mode, folder: str | None = None) -> TransferResult | None:
        picks = [f for f in self.grid.frames.values() if f.flag == "pick"]
        if not picks:
            self.say("No picks yet: press P on the frames to keep.")
            return None
        if folder is None:
            verb = "Copy" if mode == "copy" else "Move"
            folder = QFileDialog.getExistingDirectory(self.parent, f"{verb} {len(picks)} pick(s) to")
            if not folder:
                return None
        result = transfer([(f.path, f.companions) for f in picks], folder, mode)
        self.last_transfer = result if result.placed else None
        if self.review_id is not None and result.placed:
            atomic.write_json(export_dir(self.review_id) / "last-transfer.json", result.to_dict())
        if mode == "move" and self.store is not None and self.review_id is not None:
            self._follow_moves(result, undo=False)
        self.say(result.summary())
        if result.errors:
            box = QMessageBox(QMessageBox.Icon.Warning, "Picks to folder", result.summary(), parent=self.parent)
            box.setDetailedText("\n".join(result.errors))
            box.open()
        self._update_buttons()
        return result

    def _follow_moves(self, result: TransferResult, *, undo: bool) -> None:
        """A moved frame is no longer in the reviewed folder: mark it so in the grid's tooltip."""
        moved = {p.source: p.dest for p in result.placed}
        for frame in self.grid.frames.values():
            if frame.path in moved:
                frame.error = None if undo else f"moved to {moved[frame.path]}"

    def undo_transfer(self) -> list[str]:
        result = self.last_transfer
        if result is None:
            saved = self._saved_transfer()
            if saved.is_file():
                result = TransferResult.from_dict(json.loads(saved.read_text(encoding="utf-8")))
        if result is None:
            self.say("No copy or move to undo.")
            return []
        problems = undo_transfer(result)
        if result.mode == "move":
            self._follow_moves(result, undo=True)
        self.last_transfer = None
        if self.review_id is not None:
            (export_dir(self.review_id) / "last-transfer.json").unlink(missing_ok=True)
        verb = "copy" if result.mode == "copy" else "move"
        self.say(f"Undid the {verb} of {result.frames} frame(s)" + (f"; {len(problems)} problem(s): "
                                                                    + "; ".join(problems[:3]) if problems else ""))
        self._update_buttons()
        return problems
