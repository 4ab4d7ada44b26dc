"""The portfolio side of the Training tab: read the folder, draft profiles, estimate memory.

Each is a background request of its own (:class:`~app.ui.common.bridge.Request`) on the tab's bridges:
the scan on the quick-query bridge (it never waits behind a critique), drafts and the memory
estimate on the model's. Progress and outcomes go to the tab's controls; problems through
``problem``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from ..common.bridge import CANCELLED, InferenceBridge, Request
from ..common.qt_compat import emit
from .profiles_view import ProfilesView
from .training_controls import TrainingControls
from .training_run_page import memory_text
from .training_tasks import DraftSummary, MemoryInfo, PortfolioPhoto, draft_task, memory_task, scan_task

if TYPE_CHECKING:
    from app.engine.service import MondrianService
    from app.engine.store.database import Store


class PortfolioWork(QObject):
    problem = Signal(str)
    scanned = Signal()  # the folder's photos are listed (the tab shows them)

    def __init__(self, service: MondrianService, store: Store | None, bridge: InferenceBridge,
                 queries: InferenceBridge, controls: TrainingControls, profiles: ProfilesView,
                 advisor_id: Callable[[], str | None], parent: QObject | None = None):
        super().__init__(parent)
        self.service, self.store, self.bridge, self.queries = service, store, bridge, queries
        self.c, self.profiles, self.advisor_id = controls, profiles, advisor_id
        self.photos: list[PortfolioPhoto] = []
        self.scan: Request | None = None
        self.draft: Request | None = None
        self.memory: Request | None = None

    def set_folder(self, folder: str) -> Request | None:
        folder = folder.strip()
        if not folder:
            return None
        self.c.folder_edit.setText(folder)
        if self.scan is not None:
            self.scan.cancel()
        self.c.status.setText(f"Reading {folder}…")
        request = self.scan = self.queries.run("scan", scan_task(folder))
        request.progress.connect(self._show_progress)
        request.result.connect(self._scanned)
        request.failed.connect(self._failed)
        request.finished.connect(lambda: self._forget(request))
        return request

    def draft_profiles(self) -> Request | None:
        advisor_id = self.advisor_id()
        if not advisor_id or not self.photos or self.store is None:
            emit(self.problem, "Choose an advisor and a portfolio folder first.")
            return None
        usable = [p.path for p in self.photos if not p.problem]
        self.c.draft_button.setEnabled(False)
        self.c.status.setText(f"Drafting profiles for {len(usable)} photo(s) with the base model…")
        self.c.show_progress(0.0)
        request = self.draft = self.bridge.run("draft", draft_task(self.service, self.store, advisor_id, usable))
        request.progress.connect(self._draft_progress)
        request.result.connect(self._drafted)
        request.failed.connect(self._failed)
        request.finished.connect(lambda: self._forget(request))
        return request

    def estimate_memory(self) -> Request:
        self.c.memory_label.setText("Memory: estimating…")
        hosts = self.c.hosts.selected()
        request = self.memory = self.bridge.run("memory", memory_task(
            self.service, self.c.form.hyper(), advisor_id=self.advisor_id(), world_size=len(hosts) if hosts else 1))
        request.result.connect(self._estimated)
        request.failed.connect(self._memory_failed)
        request.finished.connect(lambda: self._forget(request))
        return request

    def update_info(self) -> None:
        if not self.photos:
            self.c.portfolio_info.setText("No portfolio yet.")
            return
        n = self.profiles.counts()
        bad = sum(1 for p in self.photos if p.problem)
        text = f"{n['photos']} photos · {n['draft']} drafts · {n['edited']} edited · {n['none']} without a profile"
        self.c.portfolio_info.setText(text + (f" · {bad} unreadable" if bad else ""))

    # ---- the requests' signals ---------------------------------------------------------------------
    def _forget(self, request: Request) -> None:
        for name in ("scan", "draft", "memory"):
            if getattr(self, name) is request:
                setattr(self, name, None)
        if request.kind == "draft":
            self.c.draft_button.setEnabled(True)
        if request.kind in ("scan", "draft"):
            self.c.show_idle()

    def _show_progress(self, message: str, fraction: float) -> None:
        self.c.status.setText(message)
        if fraction >= 0:
            self.c.show_progress(fraction)

    def _draft_progress(self, message: str, fraction: float) -> None:
        self._show_progress(message, fraction)
        if message.startswith("Drafted"):
            self.profiles.reload()
            self.update_info()

    def _scanned(self, value: object) -> None:
        self.photos = [p for p in value if isinstance(p, PortfolioPhoto)] if isinstance(value, list) else []
        self.profiles.set_photos(self.advisor_id(), self.photos)
        self.update_info()
        self.c.status.setText(f"{len(self.photos)} photo(s) in the portfolio.")
        emit(self.scanned)

    def _drafted(self, value: object) -> None:
        if not isinstance(value, DraftSummary):
            return
        self.c.show_idle()
        self.profiles.reload()
        self.update_info()
        text = f"Drafted {len(value.drafted)} profile(s); kept {value.kept} existing."
        if value.skipped:
            text += " Skipped: " + "; ".join(f"{f} ({why})" for f, why in value.skipped[:5])
        self.c.status.setText(text + " Review and correct them in the table.")

    def _estimated(self, value: object) -> None:
        if isinstance(value, MemoryInfo):
            self.c.memory_label.setText(memory_text(value.total_gb, value.budget_gb, value.fits))
            self.c.memory_label.setToolTip(value.detail)

    def _memory_failed(self, message: str) -> None:
        self.c.memory_label.setText("Memory: —")
        self._failed(message)

    def _failed(self, message: str) -> None:
        if message != CANCELLED:
            emit(self.problem, message)
        else:
            self.c.status.setText("Cancelled.")
