"""The history sidebar: past critiques from the jobs store (thumbnail, advisor, grade, date)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from . import theme
from .qt_compat import emit

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

    def __init__(self, store: Any, advisors: dict[str, Any] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.store = store
        self.advisors = advisors or {}
        self._icons: dict[str, QIcon] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 12, 10, 10)
        title = QLabel("History")
        title.setFont(theme.title_font(13))
        layout.addWidget(title)
        self.filter = QComboBox()
        self.filter.currentIndexChanged.connect(self.refresh)
        layout.addWidget(self.filter)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(2)
        self.list.setFrameShape(QFrame.Shape.NoFrame)
        self.list.setStyleSheet("QListWidget { background: transparent; }")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setUniformItemSizes(True)
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

    def set_advisors(self, advisors: dict[str, Any]) -> None:
        self.advisors = advisors
        current = self.filter.currentData()
        self.filter.blockSignals(True)
        self.filter.clear()
        self.filter.addItem("All advisors", None)
        for advisor_id, advisor in advisors.items():
            self.filter.addItem(getattr(advisor, "name", advisor_id), advisor_id)
        index = self.filter.findData(current)
        self.filter.setCurrentIndex(max(0, index))
        self.filter.blockSignals(False)
        self.refresh()

    def set_filter(self, advisor_id: str | None) -> None:
        self.filter.setCurrentIndex(max(0, self.filter.findData(advisor_id)))
        self.refresh()

    def refresh(self) -> None:
        if self.store is None:
            return
        try:
            jobs = self.store.list_jobs(self.filter.currentData(), limit=HISTORY_LIMIT)
        except Exception:  # noqa: BLE001 - a broken database must not break the window
            log.exception("listing history failed")
            jobs = []
        selected = self.selected_job_id()
        self.list.clear()
        for job in jobs:
            item = QListWidgetItem(self._icon(job), self._label(job))
            item.setData(Qt.ItemDataRole.UserRole, job)
            item.setToolTip(job.photo_path + (f"\n{job.error}" if job.error else ""))
            self.list.addItem(item)
            if job.id == selected:
                self.list.setCurrentItem(item)
        self.empty.setVisible(not jobs)
        self._update_buttons()

    def jobs(self) -> list[Any]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def selected_job_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole).id if item else None

    def select_job(self, job_id: str) -> bool:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole).id == job_id:
                self.list.setCurrentRow(i)
                return True
        return False

    def reopen_selected(self) -> None:
        self._reopen(self.list.currentItem())

    def delete_selected(self, *, confirm: bool = True) -> None:
        item = self.list.currentItem()
        if item is None or self.store is None:
            return
        job = item.data(Qt.ItemDataRole.UserRole)
        if confirm and QMessageBox.question(
                self, "Delete critique", f"Delete the critique of {Path(job.photo_path).name}? "
                "The photo itself is not touched.") != QMessageBox.StandardButton.Yes:
            return
        self.store.delete_job(job.id)
        self.refresh()

    # ---- helpers ------------------------------------------------------------------------------
    def _reopen(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            emit(self.reopen, item.data(Qt.ItemDataRole.UserRole))

    def _update_buttons(self) -> None:
        has = self.list.currentItem() is not None
        self.reopen_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    def _label(self, job: Any) -> str:
        advisor = self.advisors.get(job.advisor_id)
        name = getattr(advisor, "name", job.advisor_id)
        grade = job.grade or {"failed": "failed", "cancelled": "cancelled"}.get(job.status, job.status)
        return f"{grade}  ·  {name}\n{Path(job.photo_path).name}\n{_when(job.created_at)}"

    def _icon(self, job: Any) -> QIcon:
        key = job.thumbnail_path or ""
        if key not in self._icons:
            pixmap = QPixmap(key) if key and Path(key).is_file() else QPixmap()
            if pixmap.isNull():
                pixmap = QPixmap(THUMB, THUMB)
                pixmap.fill(Qt.GlobalColor.lightGray)
            self._icons[key] = QIcon(pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                                   Qt.TransformationMode.SmoothTransformation))
        return self._icons[key]
