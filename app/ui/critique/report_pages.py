"""The Critique tab's four pages in one stack: drop zone, live stream, report, comparison.

``show`` puts a result on the right page and returns a status line; only the report and the
comparison pages scroll, vertically (their text wraps to the width they are given).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFrame, QScrollArea, QStackedWidget, QVBoxLayout, QWidget

from ..common.dropzone import DropZone
from ..common.operations import BlindResult, Comparison
from .compare_view import CompareView
from .report_view import ReportView
from .shown import Item
from .stream_page import StreamPage

PAGE_DROP, PAGE_STREAM, PAGE_REPORT, PAGE_COMPARE = range(4)


def _scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(widget)
    return area


class ReportPages(QStackedWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.dropzone = DropZone()
        self.addWidget(self.dropzone)
        self.stream_page = StreamPage()
        self.addWidget(self.stream_page)
        self.report_view = ReportView()
        self.report_page = QWidget()  # the report, and what goes under it (the question thread)
        self.report_page.setObjectName("page")
        self._report_layout = QVBoxLayout(self.report_page)
        self._report_layout.setContentsMargins(0, 0, 0, 0)
        self._report_layout.addWidget(self.report_view)
        self.report_scroll = _scroll(self.report_page)
        self.addWidget(self.report_scroll)
        self.compare_view = CompareView()
        self.compare_scroll = _scroll(self.compare_view)
        self.addWidget(self.compare_scroll)

    def add_below_report(self, widget: QWidget) -> None:
        """Put ``widget`` under the report, scrolling with it."""
        self._report_layout.addWidget(widget)

    def set_photo(self, item: Item, photo: QImage | None) -> None:
        """Put a photo decoded late beside ``item``'s report (already on its page), nothing else."""
        (self.compare_view if isinstance(item, Comparison) else self.report_view).set_photo(photo)

    def show_item(self, item: Item, photo: QImage | None, title: str, advisor_name: str) -> str:
        """Show ``item`` on its page, scrolled to its top (title and grade first); returns the status
        line for it."""
        for area in (self.report_scroll, self.compare_scroll):
            area.verticalScrollBar().setValue(0)
        if isinstance(item, Comparison):
            self.compare_view.set_comparison(item, photo, advisor_name=advisor_name)
            self.setCurrentIndex(PAGE_COMPARE)
            return f"Compared base and {item.tuned.adapter_version or 'fine-tuned'}."
        if isinstance(item, BlindResult):
            self.report_view.set_result(item.result, photo=photo, hidden=True, title=title)
            self.setCurrentIndex(PAGE_REPORT)
            return "Rate the critique to see which model wrote it."
        self.report_view.set_result(item, photo=photo, title=title)
        self.setCurrentIndex(PAGE_REPORT)
        return f"Done: {item.report.overall_grade}." if item.report else "No report."

    def on_report(self) -> bool:
        return self.currentIndex() in (PAGE_REPORT, PAGE_COMPARE)
