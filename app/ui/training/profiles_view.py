"""The portfolio's thumbnails and an editable table of draft profiles (the training targets).

Drafts come from the base model; the user corrects scores, comments and the summary. An edit is
saved to the store at once as the user's own profile (``source="user"``, ``edited``), which the
dataset builder then prefers over any draft.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS, DimensionScore, Report
from app.engine.photos.decode import file_sha256

from ..common import theme
from ..common.qt_compat import emit
from ..common.radar import SHORT_LABELS
from .training_tasks import PortfolioPhoto

if TYPE_CHECKING:
    from app.engine.store.database import ProfileRow, Store

log = logging.getLogger(__name__)

COL_PHOTO = 0
COL_GRADE = len(DIMENSIONS) + 1
COL_SOURCE = len(DIMENSIONS) + 2
SOURCE_TEXT = {"model": "draft", "user": "edited", "targets": "targets file"}


class ProfilesView(QWidget):
    """Thumbnail grid (top), profile table (middle), comments of the selected photo (bottom)."""

    edited = Signal(str)  # photo path whose profile the user changed
    problem = Signal(str)  # a message for the user (an invalid score, a store error)

    def __init__(self, store: Store | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = store
        self.advisor_id: str | None = None
        self.photos: list[PortfolioPhoto] = []
        self._profiles: dict[str, ProfileRow] = {}
        self._loading = False
        self._detail_row = -1  # the photo whose comments the edits show
        self._dirty = False  # the user typed since the edits were filled or saved
        self._drafts: dict[str, tuple[dict[str, str], str]] = {}  # typed before the photo had scores
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(96, 96))
        self.grid.setGridSize(QSize(116, 124))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setWordWrap(True)
        self.grid.currentRowChanged.connect(self._grid_selected)
        splitter.addWidget(self.grid)

        self.table = QTableWidget(0, len(DIMENSIONS) + 3)
        self.table.setHorizontalHeaderLabels(["Photo", *(SHORT_LABELS[k] for k in DIMENSIONS), "Grade", "Source"])
        for i, key in enumerate(DIMENSIONS, start=1):
            header = self.table.horizontalHeaderItem(i)
            if header is not None:
                header.setToolTip(f"{DIMENSION_LABELS[key]} score, 0-10 (double-click to edit)")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(COL_PHOTO, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.itemChanged.connect(self._item_changed)
        self.table.currentCellChanged.connect(lambda row, *_: self._show_detail(row))
        splitter.addWidget(self.table)

        detail = QWidget()
        form = QFormLayout(detail)
        form.setContentsMargins(8, 6, 8, 6)
        self.detail_title = QLabel("Select a photo to edit its comments.")
        self.detail_title.setFont(theme.title_font(11))
        form.addRow(self.detail_title)
        self.comment_edits: dict[str, QLineEdit] = {}
        for key in DIMENSIONS:
            edit = QLineEdit()
            edit.setPlaceholderText("comment")
            self.comment_edits[key] = edit
            form.addRow(DIMENSION_LABELS[key].replace("&", "&&"), edit)
        self.summary_edit = QLineEdit()
        form.addRow("Summary", self.summary_edit)
        for edit in (*self.comment_edits.values(), self.summary_edit):  # saved as you go, like the scores
            edit.textEdited.connect(self._typed)
            edit.editingFinished.connect(self._commit_typed)
        self.save_button = QPushButton("Save comments")
        self.save_button.clicked.connect(self.save_detail)
        self.saved_label = QLabel()
        self.saved_label.setObjectName("muted")
        self.saved_label.setWordWrap(True)
        form.addRow(self.save_button, self.saved_label)
        splitter.addWidget(detail)
        splitter.setSizes([170, 260, 260])
        layout.addWidget(splitter)
        self._set_detail_enabled(False)

    # ---- data ---------------------------------------------------------------------------------
    def set_photos(self, advisor_id: str | None, photos: list[PortfolioPhoto]) -> None:
        self.advisor_id = advisor_id
        self.photos = list(photos)
        self.grid.clear()
        for photo in self.photos:
            pixmap = QPixmap(str(photo.thumbnail)) if photo.thumbnail else QPixmap()
            if pixmap.isNull():
                pixmap = QPixmap(96, 96)
                pixmap.fill(QColor(theme.LINE))
            item = QListWidgetItem(QIcon(pixmap), photo.path.name)
            item.setToolTip(photo.problem or str(photo.path))
            self.grid.addItem(item)
        self.reload()

    def reload(self) -> None:
        """Re-read the profiles from the store (after drafting or an edit elsewhere)."""
        self._profiles = {}
        if self.store is not None and self.advisor_id:
            try:
                self._profiles = {p.image_path: p for p in self.store.profiles.list_profiles(self.advisor_id)}
            except Exception as exc:  # noqa: BLE001 - the view says it could not read them
                emit(self.problem, f"could not read the profiles: {exc}")
        current = self.table.currentRow()
        self._loading = True
        self.table.setRowCount(len(self.photos))
        for row, photo in enumerate(self.photos):
            profile = self.profile_of(photo.path)
            name = QTableWidgetItem(photo.path.name)
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            if photo.problem:
                name.setForeground(QBrush(QColor(theme.BAD)))
                name.setToolTip(photo.problem)
            self.table.setItem(row, COL_PHOTO, name)
            for col, key in enumerate(DIMENSIONS, start=1):
                score = profile.scores.get(key) if profile else None
                item = QTableWidgetItem("" if score is None else f"{score:g}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if score is not None:
                    item.setBackground(QBrush(_tint(theme.score_color(score))))
                self.table.setItem(row, col, item)
            grade = QTableWidgetItem(profile.overall_grade or "" if profile else "")
            grade.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            grade.setFlags(grade.flags() & ~Qt.ItemFlag.ItemIsEditable)  # derived from the scores
            grade.setToolTip("The grade follows the mean of the scores; edit the scores to change it.")
            self.table.setItem(row, COL_GRADE, grade)
            source = QTableWidgetItem(SOURCE_TEXT.get(profile.source, profile.source) if profile else "—")
            source.setFlags(source.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, COL_SOURCE, source)
        self._loading = False
        if 0 <= current < len(self.photos):
            self._show_detail(current)

    def profile_of(self, path: Path) -> ProfileRow | None:
        return self._profiles.get(str(path.resolve()))

    def counts(self) -> dict[str, int]:
        """How many photos have a draft, an edited profile, or nothing yet."""
        out = {"photos": len(self.photos), "draft": 0, "edited": 0, "none": 0}
        for photo in self.photos:
            p = self.profile_of(photo.path)
            key = "none" if p is None else "edited" if (p.edited or p.source == "user") else "draft"
            out[key] += 1
        return out

    # ---- editing ------------------------------------------------------------------------------
    def set_score(self, row: int, key: str, value: str) -> None:
        """Edit a score cell as the user would (tests use this)."""
        item = self.table.item(row, 1 + list(DIMENSIONS).index(key))
        if item is None:
            raise IndexError(f"no score cell at row {row}")
        item.setText(value)

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._loading or self.advisor_id is None:
            return
        row, col = item.row(), item.column()
        photo = self.photos[row]
        profile = self.profile_of(photo.path)
        scores = dict(profile.scores) if profile else {}
        text = item.text().strip()
        if 1 <= col <= len(DIMENSIONS):
            key = DIMENSIONS[col - 1]
            try:
                value = float(text)
                if not 0 <= value <= 10:
                    raise ValueError
            except ValueError:
                emit(self.problem, f"{photo.path.name}: {DIMENSION_LABELS[key]} score must be a number from 0 to 10, "
                     f"not {text!r}")
                self.reload()
                return
            scores[key] = round(value)
        else:
            return
        self._save(photo.path, scores, None, None)

    def _typed(self, _text: str) -> None:
        self._dirty = True

    def _commit_typed(self) -> None:
        if self._dirty:
            self.save_detail(self._detail_row)

    def save_detail(self, row: int | None = None) -> None:
        row = self.table.currentRow() if row is None or row < 0 else row
        if not 0 <= row < len(self.photos):
            return
        self._dirty = False
        photo = self.photos[row]
        profile = self.profile_of(photo.path)
        comments = {k: e.text().strip() for k, e in self.comment_edits.items()}
        if profile is None or not any(v is not None for v in profile.scores.values()):
            self._drafts[str(photo.path)] = (comments, self.summary_edit.text().strip())
            self.saved_label.setText(f"Kept, not saved yet: {photo.path.name} has no scores. Type its scores in the "
                                     "table (or draft them) and these comments are saved with them.")
            return
        if self._save(photo.path, dict(profile.scores) if profile else {}, comments, self.summary_edit.text().strip()):
            self.saved_label.setText(f"Saved {photo.path.name} at {datetime.now():%H:%M:%S}: training uses "
                                     "these comments.")

    def _save(self, path: Path, scores: dict[str, float | None],
              comments: dict[str, str] | None, summary: str | None) -> bool:
        if self.store is None or not self.advisor_id:
            emit(self.problem, f"{path.name}: there is no history database to save the profile in")
            return False
        profile = self.profile_of(path)
        old_comments = profile.comments if profile else {}
        recs = profile.recommendations if profile else {}
        draft = self._drafts.pop(str(path), None)
        if comments is None and draft is not None:  # comments typed before the photo had scores
            comments, summary = draft[0], draft[1] if summary is None else summary
        comments = comments if comments is not None else old_comments
        dims = {k: DimensionScore(score=scores[k], comment=comments.get(k, "") or "", recommendation=recs.get(k, "") or "")
                for k in DIMENSIONS if scores.get(k) is not None}
        report = Report(dimensions=dims,
                        summary=summary if summary is not None else (profile.summary or "" if profile else ""))
        try:
            digest = profile.content_hash if profile and profile.content_hash else file_sha256(path)
            self.store.profiles.upsert_profile(self.advisor_id, str(path.resolve()), digest, report, source="user", edited=True)
        except Exception as exc:  # noqa: BLE001 - the view says it was not saved
            emit(self.problem, f"{path.name}: could not save the profile ({exc})")
            self.saved_label.setText(f"Not saved: {exc}")
            self.reload()
            return False
        self.reload()
        emit(self.edited, str(path))
        return True

    # ---- selection ------------------------------------------------------------------------------
    def _grid_selected(self, row: int) -> None:
        if 0 <= row < self.table.rowCount() and self.table.currentRow() != row:
            self.table.selectRow(row)

    def _set_detail_enabled(self, on: bool) -> None:
        for edit in (*self.comment_edits.values(), self.summary_edit, self.save_button):
            edit.setEnabled(on)

    def _show_detail(self, row: int) -> None:
        if self._dirty and 0 <= self._detail_row < len(self.photos) and row != self._detail_row:
            self.save_detail(self._detail_row)  # typed, then clicked another photo: keep what was typed
        if not 0 <= row < len(self.photos):
            self._set_detail_enabled(False)
            return
        photo = self.photos[row]
        profile = self.profile_of(photo.path)
        self.detail_title.setText(f"{photo.path.name} — "
                                  + ("no profile yet: draft it or type scores" if profile is None else
                                     SOURCE_TEXT.get(profile.source, profile.source)))
        if not (self._dirty and row == self._detail_row):  # a score saved meanwhile never wipes typing
            draft = self._drafts.get(str(photo.path))
            comments = draft[0] if draft else (profile.comments if profile else {})
            for key, edit in self.comment_edits.items():
                edit.setText(comments.get(key, ""))
                edit.setCursorPosition(0)
            self.summary_edit.setText(draft[1] if draft else (profile.summary or "" if profile else ""))
            self.summary_edit.setCursorPosition(0)
            self.saved_label.setText("")
        self._detail_row = row
        self._set_detail_enabled(True)
        if self.grid.currentRow() != row:
            self.grid.setCurrentRow(row)


def _tint(color: QColor) -> QColor:
    tinted = QColor(color)
    tinted.setAlpha(55)
    return tinted
