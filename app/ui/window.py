"""The main window: history sidebar, Critique and Training tabs, menus, drops, paste, tray.

The window is handed its engine objects (service, bridge, store); it never reaches for globals.
It fits 900x600 (the history sidebar gives way on the Training tab, which does not use it), and
remembers its size, splitter and folders between sessions (:mod:`app.ui.common.ui_state`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QImage,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QSplitter, QTabWidget, QWidget

from app.engine import atomic
from app.engine.resources import resource_path

from .common import theme, ui_state
from .common.bridge import CANCELLED, InferenceBridge, Request
from .common.dropzone import local_paths
from .common.operations import BlindResult, Comparison, item_from_jobs, load_task, pasted_photo_path
from .common.qt_compat import emit
from .critique.critique_panel import CritiquePanel
from .critique.reference_photos import index_task, summary_text
from .history import HistoryPanel
from .tray import MondrianTray
from .window_menus import build_menus

if TYPE_CHECKING:
    from app.engine.critique.result import CritiqueResult
    from app.engine.service import MondrianService
    from app.engine.store.database import JobRow, Store

    from .quit_guard import QuitGuard
    from .training.training_tab import TrainingTab

log = logging.getLogger(__name__)


def app_icon() -> QIcon:
    try:
        return QIcon(str(resource_path("icons", "mondrian.png")))
    except FileNotFoundError:
        return QIcon()


class _Tabs(QTabWidget):
    """A tab widget as small as its *current* page needs (Qt's own takes the largest page's
    minimum, so the Training tab's controls would set the Critique tab's minimum width)."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        page = self.currentWidget()
        bar = self.tabBar().sizeHint()
        if page is None:
            return super().minimumSizeHint()
        hint = page.minimumSizeHint().expandedTo(page.minimumSize())
        return QSize(max(hint.width(), 200), hint.height() + bar.height())


class MainWindow(QMainWindow):
    shown = Signal()  # first time the window is on screen (the benchmark times launch to this)
    MIN_SIZE = QSize(900, 600)  # a 13-inch laptop at a larger text size
    open_action: QAction  # these four: window_menus.build_menus
    paste_action: QAction
    settings_action: QAction
    references_action: QAction
    escape: QShortcut

    def __init__(self, service: MondrianService, store: Store | None = None, *,
                 bridge: InferenceBridge | None = None, preload: bool = False, tray: bool = True):
        super().__init__()
        self.service = service
        self.store = store
        self.bridge = bridge or InferenceBridge(service, self)
        self.queries = InferenceBridge(None, self)  # quick questions, never queued behind a critique
        self._closed = False
        self._shown_once = False
        self._preload_on_show = preload
        self._preload: Request | None = None
        self._index: Request | None = None
        self.settings_dialog: QWidget | None = None
        self.setWindowTitle("Mondrian")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setStyleSheet(theme.STYLE_SHEET)
        self.resize(1180, 800)

        self.critique = CritiquePanel(service, self.bridge, store, queries=self.queries)
        self.history = HistoryPanel(store, self.critique.bar.advisors)
        self.history.reopen.connect(self.reopen_job)
        self.critique.historyChanged.connect(self.history.refresh)
        self.critique.critiqueFinished.connect(self._critique_finished)
        self.critique.jobShown.connect(self.history.select_job)
        self.critique.settingsRequested.connect(self.open_settings)
        self.critique.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 8000))

        self.tabs = _Tabs()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.critique, "Critique")
        self.training: TrainingTab | None = None
        self._add_training_tab()
        self._add_review_tab()
        self._add_panel_tab()
        self.tabs.currentChanged.connect(self._tab_changed)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.history)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(1, False)
        self.splitter.setSizes([230, 950])
        self.setCentralWidget(self.splitter)
        build_menus(self, self)
        ui_state.restore_window(self, self.splitter, self.MIN_SIZE)

        self.tray = MondrianTray(app_icon(), self) if tray else None
        if self.tray is not None:
            self.tray.critiqueClipboard.connect(self.paste)
            self.tray.showWindow.connect(self.bring_to_front)
            self.tray.quitRequested.connect(QApplication.quit)
        self.quit_guard: QuitGuard | None = None
        if self.training is not None:
            from .quit_guard import QuitGuard

            self.quit_guard = QuitGuard(self, self.training, self.tray, lambda: self.exit_app())
        self.exit_app: Callable[[], None] = lambda: QApplication.exit(0)  # the end of a quit that waited

    def confirm_quit(self) -> bool:
        """May the app quit now? Asks first while a training run is going (:mod:`app.ui.quit_guard`)."""
        return self.quit_guard is None or self._closed or self.quit_guard.confirm()

    def _add_training_tab(self) -> None:
        from .training.training_tab import TrainingTab

        self.training = TrainingTab(self.service, self.bridge, self.store, queries=self.queries)
        self.training.advisorsChanged.connect(self._advisors_changed)
        self.training.trainingFinished.connect(self._training_finished)
        self.tabs.addTab(self.training, "Training")

    def _add_review_tab(self) -> None:
        from .review.review_view import ReviewView

        self.review = ReviewView(self.service, self.bridge, self.store)
        self.review.jobRequested.connect(self.reopen_job)
        self.review.reviewFinished.connect(lambda _row: self.history.refresh())
        self.review.teachRequested.connect(self.teach_from_review)
        self.tabs.addTab(self.review, "Review")

    def _add_panel_tab(self) -> None:
        from .panel.panel_view import PanelView

        self.panel = PanelView(self.service, self.bridge)
        self.panel.panelFinished.connect(lambda _results: self.history.refresh())
        self.tabs.addTab(self.panel, "Panel")

    # ---- photos in ------------------------------------------------------------------------------
    def open_photos(self, paths: list[str]) -> None:
        """Photos from the command line, the Dock icon or Finder's Open With."""
        self.tabs.setCurrentWidget(self.critique)
        self.critique.critique_paths([str(p) for p in paths])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.open_photos(paths)

    def paste(self) -> None:
        """Critique the clipboard: file URLs (copied in Finder) or image data (a screenshot)."""
        mime = QGuiApplication.clipboard().mimeData()
        paths = local_paths(mime) if mime is not None else []
        if paths:
            self.open_photos(paths)
            return
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.critique.show_error("The clipboard holds no image or photo file to critique.")
            return
        self.open_photos([str(self._save_pasted(image))])

    def _save_pasted(self, image: QImage) -> Path:
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")  # type: ignore[call-overload]  # PySide6 takes str; its stub says bytes
        target = pasted_photo_path()
        atomic.write_bytes(target, bytes(io.BytesIO(data.data()).getvalue()))
        return target

    def escape_pressed(self) -> None:
        """Esc stops the running critique; with nothing running it dismisses the banner."""
        if self.critique.request is not None:
            self.critique.cancel()
        else:
            self.critique.clear_notice()

    # ---- results ------------------------------------------------------------------------------
    def reopen_job(self, job: JobRow) -> None:
        """Show a history entry; one half of a comparison reopens both, side by side."""
        self.tabs.setCurrentWidget(self.critique)
        self.critique.show_job(job, item_from_jobs(self.service.paired_jobs(job)))

    def _critique_finished(self, item: CritiqueResult | Comparison | BlindResult) -> None:
        result = item.tuned if isinstance(item, Comparison) else item.result if isinstance(item, BlindResult) else item
        grade = result.report.overall_grade if result.report else "no report"
        if self.tray is not None:
            self.tray.set_last_grade(f"{grade} · {Path(str(result.photo)).name}")
            if not self.isActiveWindow():
                self.tray.notify("Critique ready", f"{Path(str(result.photo)).name}: grade {grade}")

    def teach_from_review(self, advisor_id: str, review_id: str) -> None:
        """The Review view's "Teach my advisor from this shoot": the Training tab runs and shows it."""
        if self.training is not None:
            self.training.teach_from_review(advisor_id, review_id)
            self.tabs.setCurrentWidget(self.training)  # the run, or why it did not start (one already runs)

    def _training_finished(self, message: str) -> None:
        if self.tray is not None:
            self.tray.notify("Training finished", message)

    def _advisors_changed(self, _advisor_id: str = "") -> None:
        """A personal advisor was created or trained: every picker lists it at once; none switches to it."""
        self.critique.bar.reload_advisors()
        self.history.set_advisors(self.critique.bar.advisors)
        self.review.reload_advisors()
        self.panel.reload_advisors()

    # ---- dialogs --------------------------------------------------------------------------------
    def open_settings(self) -> None:
        """Settings as a window-modal sheet (``open``, not a nested event loop)."""
        from .settings_dialog import SettingsDialog

        if self.settings_dialog is not None:
            self.settings_dialog.raise_()
            return
        busy = self.bridge.busy
        dialog = SettingsDialog(self.service, self, busy=busy)
        self.settings_dialog = dialog

        def saved() -> None:
            self.critique.bar.reload_advisors()
            if busy and dialog.values()["model"] != self.service.model_ref:
                self.statusBar().showMessage("The new model is used after Mondrian restarts.", 10000)

        dialog.accepted.connect(saved)
        dialog.finished.connect(lambda _code: setattr(self, "settings_dialog", None))
        dialog.open()

    def open_help(self) -> None:
        from .help_dialog import HelpDialog

        HelpDialog(self).open()

    def add_reference_photos(self, folder: str | None = None) -> Request | None:
        """Pick a folder and index it as the current advisor's reference photos (RAG)."""
        advisor_id = self.critique.bar.advisor_id()
        if advisor_id is None or self.store is None:
            return None
        name = self.critique.bar.advisor_name(advisor_id)
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, f"Reference photos for {name}",
                                                      ui_state.folder(ui_state.REFERENCE_FOLDER))
            if not folder:
                return None
        ui_state.remember_folder(ui_state.REFERENCE_FOLDER, folder)
        request = self.bridge.run("index", index_task(self.service, advisor_id, folder))
        request.progress.connect(lambda message, _f: self.statusBar().showMessage(message))
        request.result.connect(lambda summary: self._indexed(name, summary))
        request.failed.connect(partial(self._index_failed, Path(folder).name))
        self._index = request
        return request

    def _index_failed(self, folder_name: str, message: str) -> None:
        self._index = None
        if message != CANCELLED:
            self.critique.show_error(f"Could not add the reference photos of {folder_name}: {message}")

    def _indexed(self, name: str, summary: object) -> None:
        self._index = None
        self.statusBar().showMessage(summary_text(name, summary), 15000)  # type: ignore[arg-type]
        self.critique.bar.reload_advisors()

    def open_ab_stats(self) -> None:
        from .critique.ab_stats import ABStatsDialog

        ABStatsDialog(self.store, self).exec()

    def bring_to_front(self) -> None:
        if self.quit_guard is not None:
            self.quit_guard.cancel_wait()
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # ---- lifecycle -------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            emit(self.shown)
            if self._preload_on_show:
                from PySide6.QtCore import QTimer

                QTimer.singleShot(200, self.preload_model)

    def preload_model(self) -> Request | None:
        """Load the model in the background so the first critique starts at once."""
        if self._closed or self.bridge.busy:
            return None
        request = self.bridge.run("load", load_task(self.service))
        request.progress.connect(lambda message, _f: self.statusBar().showMessage(message))
        request.result.connect(self._preload_result)
        request.failed.connect(lambda message: self.statusBar().showMessage(
            f"The model could not be loaded: {message}", 15000))
        self._preload = request
        return request

    def _preload_result(self, model_id: object) -> None:
        name = str(model_id).rstrip("/").split("/")[-1]
        ready = self.service.model_loaded
        self.statusBar().showMessage(f"Model {name} ready." if ready else
                                     "No model installed: open Settings to download one or choose a folder.", 8000)

    # ---- size, state, lifecycle ---------------------------------------------------------------------
    def _tab_changed(self, _index: int) -> None:
        """The history sidebar belongs to critiques: it gives its room to the Training tab."""
        self.history.setVisible(self.tabs.currentWidget() is self.critique)
        self.tabs.updateGeometry()

    def save_state(self) -> None:
        ui_state.save_window(self, self.splitter)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Without a menubar icon, closing the window quits: ask first while training runs."""
        keeps_running = self.tray is not None and self.tray.icon is not None
        if not keeps_running and not self._closed and not self.confirm_quit():
            event.ignore()
            return
        self.save_state()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop everything in order: training process, worker, model thread, store (aboutToQuit)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.save_state()
        except Exception:  # quitting must not fail over a preferences file
            log.exception("could not save the window state")
        if self.training is not None:
            self.training.shutdown()
        if self.tray is not None:
            self.tray.hide()
        self.queries.shutdown()
        self.bridge.shutdown()
        if self.store is not None:
            self.store.close()
