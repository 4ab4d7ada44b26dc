"""The history sidebar: past critiques from the jobs store (thumbnail, advisor, grade, date).

A search box filters by photo name, advisor, grade or status; several entries can be selected
(Shift/Ctrl-click) and deleted at once. The entry of the report on screen is highlighted.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .common import theme
from .common.qt_compat import emit, signals_blocked

if TYPE_CHECKING:
    from app.engine.advisors import Advisor
    from app.engine.store.database import JobRow, Store

log = logging.getLogger(__name__)

HISTORY_LIMIT = 200
THUMB = 48


def _when(stamp: str | None) -> str:
    if not stamp:
        return ""
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%d %b %Y, %H:%M")
    except ValueError:
        return stamp


class HistoryPanel(QFrame):
    """Lists jobs newest first; emits ``reopen(job)`` for a double-click or the Reopen button."""

    reopen = Signal(object)  # JobRow

    def __init__(self, store: Store | None, advisors: dict[str, Advisor] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.store = store
        self.advisors = advisors or {}
        self._icons: dict[str, QIcon] = {}
        self._highlight: str | None = None  # the job whose report is on screen
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 12, 10, 10)
        title = QLabel("History")
        title.setFont(theme.title_font(13))
        layout.addWidget(title)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search photos, advisors, grades")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_search)
        layout.addWidget(self.search)
        self.filter = QComboBox()
        self.filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.filter.setMinimumContentsLength(8)
        self.filter.currentIndexChanged.connect(self.refresh)
        layout.addWidget(self.filter)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(2)
        self.list.setFrameShape(QFrame.Shape.NoFrame)
        self.list.setStyleSheet("QListWidget { background: transparent; }")  # scrollbars: theme.STYLE_SHEET
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setUniformItemSizes(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.list.itemDoubleClicked.connect(lambda item: self._reopen(item))
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.reopen_button = QPushButton("Reopen")
        self.reopen_button.clicked.connect(lambda: self._reopen(self.list.currentItem()))
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self.delete_selected)
        buttons.addWidget(self.reopen_button)
        buttons.addWidget(self.delete_button)
        layout.addLayout(buttons)
        self.empty = QLabel("Critiques you run appear here.")
        self.empty.setObjectName("muted")
        self.empty.setWordWrap(True)
        layout.addWidget(self.empty)
        self.set_advisors(self.advisors)

    def set_advisors(self, advisors: dict[str, Advisor]) -> None:
        self.advisors = advisors
        current = self.filter.currentData()
        with signals_blocked(self.filter):
            self.filter.clear()
            self.filter.addItem("All advisors", None)
            for advisor_id, advisor in advisors.items():
                self.filter.addItem(getattr(advisor, "name", advisor_id), advisor_id)
            self.filter.setCurrentIndex(max(0, self.filter.findData(current)))
        self.refresh()

    def set_filter(self, advisor_id: str | None) -> None:
        self.filter.setCurrentIndex(max(0, self.filter.findData(advisor_id)))
        self.refresh()

    def refresh(self) -> None:
        if self.store is None:
            return
        try:
            jobs = self.store.jobs.list_jobs(self.filter.currentData(), limit=HISTORY_LIMIT)
        except Exception:  # a broken database must not break the window
            log.exception("listing history failed")
            jobs = []
        selected = self._highlight or self.selected_job_id()
        # a folder review's cancelled frames are not critiques the user asked for: the Review tab has them
        jobs = [j for j in jobs if not (j.review_id and j.status == "cancelled")]
        with signals_blocked(self.list):
            self.list.clear()
            for job in jobs:
                item = QListWidgetItem(self._icon(job), self._label(job))
                item.setData(Qt.ItemDataRole.UserRole, job)
                item.setToolTip(job.photo_path + (f"\n{job.error}" if job.error else ""))
                self.list.addItem(item)
                if job.id == selected:
                    self.list.setCurrentItem(item)
        self._apply_search()
        if self.list.currentItem() is not None:
            self.list.scrollToItem(self.list.currentItem())  # the entry of the report on screen, in view
        self.empty.setVisible(not jobs)

    def _apply_search(self) -> None:
        words = self.search.text().lower().split()
        for i in range(self.list.count()):
            item = self.list.item(i)
            job = item.data(Qt.ItemDataRole.UserRole)
            haystack = " ".join((item.text(), job.photo_path, job.status, job.advisor_id)).lower()
            item.setHidden(not all(w in haystack for w in words))
        self._update_buttons()

    def jobs(self, *, visible_only: bool = False) -> list[JobRow]:
        items = [self.list.item(i) for i in range(self.list.count())]
        return [it.data(Qt.ItemDataRole.UserRole) for it in items if not (visible_only and it.isHidden())]

    def selected_jobs(self) -> list[JobRow]:
        return [it.data(Qt.ItemDataRole.UserRole) for it in self.list.selectedItems() if not it.isHidden()]

    def selected_job_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole).id if item else None

    def select_job(self, job_id: str) -> bool:
        """Highlight this job's entry (the report on screen); False when it is not listed (yet:
        a refresh that lists it highlights it)."""
        self._highlight = job_id
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole).id == job_id:
                self.list.setCurrentRow(i, QItemSelectionModel.SelectionFlag.ClearAndSelect)
                self.list.scrollToItem(self.list.item(i))
                # again once laid out: opened from the Review tab, the list was hidden and had no height
                QTimer.singleShot(0, self._scroll_to_current)
                return True
        self.list.clearSelection()
        return False

    def _scroll_to_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.list.scrollToItem(item)

    def reopen_selected(self) -> None:
        self._reopen(self.list.currentItem())

    def delete_selected(self, *, confirm: bool = True) -> int:
        """Delete the selected critiques (after asking); returns how many were deleted."""
        jobs = self.selected_jobs()
        if not jobs or self.store is None:
            return 0
        what = (f"the critique of {Path(jobs[0].photo_path).name}" if len(jobs) == 1 else
                f"these {len(jobs)} critiques")
        in_reviews = sum(bool(self.store.reviews.frames_of_job(job.id)) for job in jobs)
        warning = (f"\n\n{in_reviews} of them belong to a folder review: those frames will show as not reviewed "
                   "until you review the folder again." if in_reviews > 1 else
                   "\n\nIt belongs to a folder review: that frame will show as not reviewed until you review "
                   "the folder again." if in_reviews else "")
        if confirm and QMessageBox.question(
                self, "Delete critiques", f"Delete {what}? The photos themselves are not touched.{warning}"
        ) != QMessageBox.StandardButton.Yes:
            return 0
        for job in jobs:
            self.store.jobs.delete_job(job.id)
        self.refresh()
        return len(jobs)

    # ---- helpers ------------------------------------------------------------------------------
    def _reopen(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            emit(self.reopen, item.data(Qt.ItemDataRole.UserRole))

    def _update_buttons(self) -> None:
        selected = len(self.selected_jobs())
        self.reopen_button.setEnabled(selected == 1)
        self.delete_button.setEnabled(selected > 0)
        self.delete_button.setText(f"Delete {selected}" if selected > 1 else "Delete")

    def _label(self, job: JobRow) -> str:
        advisor = self.advisors.get(job.advisor_id)
        name = getattr(advisor, "name", job.advisor_id)
        grade = job.grade or {"failed": "failed", "cancelled": "cancelled"}.get(job.status, job.status)
        kind = self._kind(job)
        return (f"{grade}  ·  {name}\n{Path(job.photo_path).name}\n{_when(job.created_at)}"
                + (f"  ·  {kind}" if kind else ""))

    def _kind(self, job: JobRow) -> str:
        """What tells the two rows of a comparison or a blind test apart (never a blind arm before
        it is rated: the rating reveals it)."""
        used = job.model_used or ""
        tuned = f"fine-tuned {job.adapter_version or ''}".strip()
        if used.startswith("ab_test_"):
            rated = self.store.ratings.list_ratings(job.id) if self.store is not None else []
            if not rated:
                return "blind A/B, not rated yet"
            return f"blind A/B: {'base' if used == 'ab_test_base' else tuned}, " + (f"rated {rated[-1].rating}/5" if rated[-1].rating is not None else "rated")
        arm = "base" if used == "base" else tuned if used == "fine_tuned" else "measurements only" if used == "none" else ""
        if job.details.get("pair_id"):
            return f"comparison: {arm}"
        return arm if used != "base" else ""

    def _icon(self, job: JobRow) -> QIcon:
        key = job.thumbnail_path or ""
        if key not in self._icons:
            pixmap = QPixmap(key) if key and Path(key).is_file() else QPixmap()
            if pixmap.isNull():
                pixmap = QPixmap(THUMB, THUMB)
                pixmap.fill(Qt.GlobalColor.lightGray)
            self._icons[key] = QIcon(pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                                   Qt.TransformationMode.SmoothTransformation))
        return self._icons[key]
