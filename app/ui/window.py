"""The main window: history sidebar, Critique and Training tabs, menus, drops, paste, tray.

The window is handed its engine objects (service, bridge, store); it never reaches for globals.
"""

from __future__ import annotations

import io
import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QImage,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter, QTabWidget

from app import __version__
from app.engine import atomic
from app.engine.resources import resource_path

from . import theme
from .actions import action
from .bridge import InferenceBridge
from .critique_panel import CritiquePanel
from .dropzone import local_paths
from .history import HistoryPanel
from .operations import BlindResult, Comparison, load_task, pasted_photo_path, result_from_job
from .pixmaps import load_preview
from .qt_compat import emit
from .tray import MondrianTray

if TYPE_CHECKING:
    from .training_tab import TrainingTab

log = logging.getLogger(__name__)


def app_icon() -> QIcon:
    try:
        return QIcon(str(resource_path("icons", "mondrian.png")))
    except FileNotFoundError:
        return QIcon()


class MainWindow(QMainWindow):
    shown = Signal()  # first time the window is on screen (the benchmark times launch to this)

    def __init__(self, service: Any, store: Any = None, *, bridge: InferenceBridge | None = None,
                 preload: bool = False, tray: bool = True):
        super().__init__()
        self.service = service
        self.store = store
        self.bridge = bridge or InferenceBridge(service, self)
        self.queries = InferenceBridge(None, self)  # quick questions, never queued behind a critique
        self._closed = False
        self._shown_once = False
        self._preload = preload
        self._preload_id: str | None = None
        self.setWindowTitle("Mondrian")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setStyleSheet(theme.STYLE_SHEET)
        self.resize(1280, 860)

        self.critique = CritiquePanel(service, self.bridge, store, queries=self.queries)
        self.history = HistoryPanel(store, self.critique._advisors)
        self.history.setMinimumWidth(220)
        self.history.reopen.connect(self.reopen_job)
        self.critique.historyChanged.connect(self.history.refresh)
        self.critique.critiqueFinished.connect(self._critique_finished)
        self.critique.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.bridge.progress.connect(self._preload_progress)
        self.bridge.result.connect(self._preload_result)
        self.bridge.failed.connect(self._preload_failed)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.critique, "Critique")
        self.training: TrainingTab | None = None
        self._add_training_tab()

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.history)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([250, 1030])
        self.setCentralWidget(splitter)
        self._build_menus()

        self.tray = MondrianTray(app_icon(), self) if tray else None
        if self.tray is not None:
            self.tray.critiqueClipboard.connect(self.paste)
            self.tray.showWindow.connect(self.bring_to_front)
            self.tray.quitRequested.connect(QApplication.quit)

    def _add_training_tab(self) -> None:
        from .training_tab import TrainingTab

        self.training = TrainingTab(self.service, self.bridge, self.store, queries=self.queries)
        self.training.advisorsChanged.connect(self._advisors_changed)
        self.training.trainingFinished.connect(self._training_finished)
        self.tabs.addTab(self.training, "Training")

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = action("&Open Photo…", self, self.critique.open_dialog,
                                  shortcut=QKeySequence.StandardKey.Open)
        self.paste_action = action("&Paste Photo", self, self.paste, shortcut=QKeySequence.StandardKey.Paste)
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.paste_action)
        export = file_menu.addMenu("&Export")
        for label, kind in (("Markdown", "markdown"), ("JSON", "json"), ("PDF", "pdf")):
            export.addAction(action(f"{label}…", self, partial(self.critique.export_dialog, kind)))
        file_menu.addSeparator()
        file_menu.addAction(action("&Settings…", self, self.open_settings,
                                   shortcut=QKeySequence.StandardKey.Preferences,
                                   role=QAction.MenuRole.PreferencesRole))
        file_menu.addSeparator()
        file_menu.addAction(action("&Quit", self, QApplication.quit, shortcut=QKeySequence.StandardKey.Quit,
                                   role=QAction.MenuRole.QuitRole))
        view = self.menuBar().addMenu("&View")
        compare = QAction("&Compare Base and Fine-tuned", self, checkable=True,
                          shortcut=QKeySequence("Ctrl+Shift+C"))
        compare.toggled.connect(self.critique.compare_check.setChecked)
        self.critique.compare_check.toggled.connect(compare.setChecked)
        view.addAction(compare)
        view.addAction(action("&A/B Statistics…", self, self.open_ab_stats))
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(action("&About Mondrian", self, self._about, role=QAction.MenuRole.AboutRole))

    # ---- photos in ------------------------------------------------------------------------------
    def open_photos(self, paths: list[str]) -> None:
        """Photos from the command line, the Dock icon or Finder's Open With."""
        self.tabs.setCurrentWidget(self.critique)
        self.critique.critique_paths([str(p) for p in paths])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
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
        raw = bytes(io.BytesIO(data.data()).getvalue())
        target = pasted_photo_path(raw)
        if not target.exists():
            atomic.write_bytes(target, raw)
        return target

    # ---- results ------------------------------------------------------------------------------
    def reopen_job(self, job: Any) -> None:
        self.tabs.setCurrentWidget(self.critique)
        photo = load_preview(job.photo_path) if Path(job.photo_path).is_file() else None
        if photo is None and job.thumbnail_path:
            photo = load_preview(job.thumbnail_path)
        self.critique.current_photo = Path(job.photo_path)
        self.critique.show_item(result_from_job(job), photo=photo)

    def _critique_finished(self, item: Any) -> None:
        result = item.tuned if isinstance(item, Comparison) else item.result if isinstance(item, BlindResult) else item
        grade = result.report.overall_grade if result.report else "no report"
        if self.tray is not None:
            self.tray.set_last_grade(f"{grade} · {Path(str(result.photo)).name}")
            if not self.isActiveWindow():
                self.tray.notify("Critique ready", f"{Path(str(result.photo)).name}: grade {grade}")

    def _training_finished(self, message: str) -> None:
        if self.tray is not None:
            self.tray.notify("Training finished", message)

    def _advisors_changed(self, advisor_id: str = "") -> None:
        self.critique.reload_advisors(select=advisor_id or None)
        self.history.set_advisors(self.critique._advisors)

    # ---- dialogs --------------------------------------------------------------------------------
    def open_settings(self) -> None:
        from .settings_dialog import SettingsDialog

        busy = self.bridge.busy
        dialog = SettingsDialog(self.service, self, busy=busy)
        if dialog.exec():
            self.critique.reload_advisors()
            if busy and dialog.values()["model"] != self.service.model_ref:
                self.statusBar().showMessage("The new model is used after Mondrian restarts.", 10000)

    def open_ab_stats(self) -> None:
        from .ab_stats import ABStatsDialog

        ABStatsDialog(self.store, self).exec()

    def _about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.about(self, "About Mondrian",
                          f"Mondrian {__version__}\nPrivate, offline photo critique from a local vision-language "
                          "model.")

    def bring_to_front(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # ---- lifecycle -------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            emit(self.shown)
            if self._preload:
                from PySide6.QtCore import QTimer

                QTimer.singleShot(200, self.preload_model)

    def preload_model(self) -> str | None:
        """Load the model in the background so the first critique starts at once."""
        if self._closed or self.bridge.busy:
            return None
        self._preload_id = self.bridge.submit("load", load_task(self.service))
        return self._preload_id

    def _preload_progress(self, rid: str, message: str, _fraction: float) -> None:
        if rid == self._preload_id:
            self.statusBar().showMessage(message)

    def _preload_result(self, rid: str, model_id: object) -> None:
        if rid == self._preload_id:
            self._preload_id = None
            name = str(model_id).rstrip("/").split("/")[-1]
            ready = self.service.model_loaded
            self.statusBar().showMessage(f"Model {name} ready." if ready else
                                         "No model installed: open Settings to choose or download one.", 8000)

    def _preload_failed(self, rid: str, message: str) -> None:
        if rid == self._preload_id:
            self._preload_id = None
            self.statusBar().showMessage(f"The model could not be loaded: {message}", 15000)

    def shutdown(self) -> None:
        """Stop everything in order: training process, worker, model thread, store (aboutToQuit)."""
        if self._closed:
            return
        self._closed = True
        if self.training is not None:
            self.training.shutdown()
        if self.tray is not None:
            self.tray.hide()
        self.queries.shutdown()
        self.bridge.shutdown()
        if self.store is not None:
            self.store.close()
