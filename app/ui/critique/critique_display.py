"""The Critique tab's report half: what is on screen, reopening it, the photo viewer, the blind
rating and export, as a :class:`ReportDisplay` the panel holds (composition: it is handed the
widgets it drives and says what happened through its signals).

What the report page shows is one :class:`~app.ui.critique.shown.Shown` value (the item, its photo and
its file): export reads only that, so a file never pairs one photo with another photo's
critique, and it is disabled whenever no report is on screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage

from app.engine.critique.result import CritiqueResult

from ..common.failure import explain
from ..common.operations import BlindResult, Comparison, Item
from ..common.qt_compat import emit
from .photo_viewer import PhotoViewer, focus_map_of
from .preview_decode import decode_preview
from .report_view import weights_text
from .shown import Shown, export_dialog, export_shown

if TYPE_CHECKING:
    from app.engine.service import MondrianService
    from app.engine.store.database import JobRow, Store

    from ..ask.ask_panel import AskPanel
    from ..common.bridge import InferenceBridge
    from ..common.notice_bar import NoticeBar
    from ..common.rating_bar import RatingBar
    from .critique_bar import CritiqueBar
    from .report_pages import ReportPages


class ReportDisplay(QObject):
    """The report on screen (:attr:`shown`) and what acts on it. Owns no widget: it is handed the
    bar (names, the export button), the notice and rating bars, the pages and the Ask panel."""

    jobShown = Signal(str)  # the job whose report is now on screen
    historyChanged = Signal()  # a rating was recorded
    settingsRequested = Signal()  # "Open Settings…" on a failed report
    retryRequested = Signal()  # "Critique again"
    statusChanged = Signal(str)
    errorRaised = Signal(str)  # something the user must read (e.g. a rating not recorded)

    def __init__(self, service: MondrianService, store: Store | None, queries: InferenceBridge | None, *,
                 bar: CritiqueBar, notice: NoticeBar, rating_bar: RatingBar, pages: ReportPages, ask: AskPanel,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.service, self.store, self.queries = service, store, queries
        self.bar, self.notice, self.rating_bar, self.pages, self.ask = bar, notice, rating_bar, pages, ask
        self.shown: Shown | None = None
        self.viewer: PhotoViewer | None = None  # the last photo viewer opened
        pages.report_view.photoRequested.connect(self.view_photo)
        pages.currentChanged.connect(lambda _i: self.update_export())
        rating_bar.rated.connect(self.rate)
        bar.exportRequested.connect(self.export_dialog)

    def _retry(self) -> None:
        emit(self.retryRequested)

    def _status(self, text: str) -> None:
        emit(self.statusChanged, text)

    # ---- showing results ---------------------------------------------------------------------
    def show_item(self, item: Item, photo: QImage | None = None, photo_path: Path | None = None) -> None:
        """Show a result (a finished request, or one reopened from history) with its own photo."""
        self.shown = Shown(item, photo, None)
        result = self.shown.result
        self.shown.photo_path = photo_path or Path(str(result.photo))
        self._status(self.pages.show_item(item, photo, self._title(result),
                                               self.bar.advisor_name(result.advisor_id)))
        if isinstance(item, BlindResult):
            self.rating_bar.ask()
        else:
            self.rating_bar.hide()
        failed = [r for r in ((item.base, item.tuned) if isinstance(item, Comparison) else (result,))
                  if r.report is None and (r.parse_problems or r.raw_text)]
        if failed:
            why = explain(failed[0].parse_problems, failed[0].raw_text)
            self.notice.show_notice(why.text(), "error", [("Open Settings…", lambda: emit(self.settingsRequested)),
                                                          ("Critique again", self._retry)])
        self.update_export()
        self.ask.show_for(item if isinstance(item, CritiqueResult) else None,
                          self.bar.advisor_name(result.advisor_id))
        if self.shown.job_id:
            emit(self.jobShown, self.shown.job_id)

    def show_job(self, job: JobRow, item: CritiqueResult | Comparison) -> None:
        """Reopen a stored job (a comparison side by side); a cancelled or failed one says what
        happened and offers to retry."""
        path = Path(job.photo_path)
        self.notice.clear()
        self.show_item(item, photo=None, photo_path=path)
        shown = self.shown
        if shown is not None:  # the photo (else its thumbnail) comes in when decoded off the UI thread
            decode_preview(self.queries, (path, job.thumbnail_path or None),
                           lambda image: self.attach_photo(shown, image))
        if job.status in ("cancelled", "failed"):
            actions = [("Critique again", self._retry)] if path.is_file() else []
            notice = item.notice if isinstance(item, CritiqueResult) else None
            self.notice.show_notice(notice or "", "cancelled" if job.status == "cancelled" else "error", actions)

    def attach_photo(self, shown: Shown, image: QImage | None) -> None:
        """Put a preview decoded after the report came up beside it, if that report is still on
        screen and has none (the text, the notices and the rating stay as they are)."""
        if image is None or self.shown is not shown or shown.photo is not None:
            return
        shown.photo = image
        self.pages.set_photo(shown.item, image)

    def view_photo(self) -> PhotoViewer | None:
        """The photo on screen at full size, with the focus map of its measurements."""
        if self.shown is None:
            return None
        result = self.shown.result
        viewer = PhotoViewer(self.shown.photo, self.shown.photo_path, focus_map_of(result.technical),
                             Path(str(result.photo)).name, self.queries, self.pages)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.open()
        self.viewer = viewer
        return viewer

    def update_export(self) -> None:
        on_report = self.pages.on_report()
        self.bar.export_button.setEnabled(self.shown is not None and on_report)
        self.bar.export_button.setToolTip("" if self.bar.export_button.isEnabled() else
                                          "Export saves the report on screen: there is none right now")

    def _title(self, result: CritiqueResult) -> str:
        return f"{Path(str(result.photo)).name} — {self.bar.advisor_name(result.advisor_id)}"

    def rate(self, value: int) -> None:
        """Record the blind rating and reveal which model wrote it (the footer says the same)."""
        item = self.shown.item if self.shown else None
        if not isinstance(item, BlindResult):
            return
        job_id = item.result.job_id
        store = self.store or self.service.store
        if store is not None and job_id:
            try:
                store.ratings.add_rating(job_id, value)
            except Exception as exc:  # noqa: BLE001 - the user is told; the critique stays
                emit(self.errorRaised, f"Could not record the rating: {exc}")
                return
        self.rating_bar.revealed(f"Thanks — you gave {value}/5. This critique was written by "
                                 f"{weights_text(item.result, sentence=True)}.")
        self.pages.report_view.reveal()
        emit(self.historyChanged)

    # ---- export -------------------------------------------------------------------------------
    def export_dialog(self, kind: str) -> None:
        if self.shown is not None and self.bar.export_button.isEnabled():
            path = export_dialog(self.pages, self.shown, kind)
            if path is not None:
                self.export_to(path)

    def export_to(self, path: str | Path) -> Path | None:
        """Write the report on screen (and only it) to ``path``."""
        if self.shown is None:
            return None
        store = self.store or self.service.store
        job_id = self.shown.job_id if isinstance(self.shown.item, CritiqueResult) else None
        turns = store.conversations.list_turns(job_id) if store is not None and job_id else []
        target = export_shown(self.pages, self.shown, path, turns)
        if target is not None:
            self._status(f"Exported {target}")
        return target
