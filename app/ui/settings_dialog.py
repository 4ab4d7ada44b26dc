"""Settings: model (with download), image size, decoding, data folder, blind A/B.

Values live in :class:`app.engine.settings.Settings` (typed, versioned, saved as JSON). The dialog
edits the service's own Settings object in place, because the engine holds a reference to it.
Download is a button: it runs the engine's download in a separate process with the network allowed
(the app itself stays offline: the Hugging Face libraries read the offline switch once, at
import), its progress read from that process's output. A model folder the dialog calls invalid is
never saved.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.engine import paths
from app.engine.model import source as model_source
from app.engine.service import MondrianService
from app.engine.settings import Settings, SettingValueError, bounds, save_settings

from .common.wheel_guard import guard_all
from .training.training_process import child_environment

if TYPE_CHECKING:
    from app.engine.service import MondrianService

log = logging.getLogger(__name__)

_PROGRESS = re.compile(r'"done": (\d+), "total": (\d+)')  # `download --json`: progress events, in bytes
_OFFLINE_HINTS = ("connection", "resolve", "network", "offline", "timed out", "unreachable", "name or service")


def apply_settings(target: Settings, values: dict[str, Any]) -> list[str]:
    """Copy ``values`` onto ``target`` (in place); returns the names that changed."""
    changed = []
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)
            changed.append(name)
    return changed


def switch_model(service: MondrianService, model_ref: str) -> None:
    """Point the service at another model without blocking: the old one is dropped in the background
    (with every cache of it), the new one loads on next use."""
    service.switch_model(model_ref)


class SettingsDialog(QDialog):
    def __init__(self, service: MondrianService, parent: QWidget | None = None, *, busy: bool = False):
        super().__init__(parent)
        self.service = service
        self.busy = busy
        self.setWindowTitle("Mondrian Settings")
        self.setMinimumWidth(560)
        s: Settings = service.settings
        layout = QVBoxLayout(self)
        form = QFormLayout()

        row = QHBoxLayout()
        self.model_edit = QLineEdit(s.model)
        self.model_edit.setToolTip("A Hugging Face repo id (org/name) or a local mlx-vlm model folder")
        self.model_edit.textChanged.connect(self._model_status)
        row.addWidget(self.model_edit, 1)
        choose = QPushButton("Folder…")
        choose.clicked.connect(self._choose_model_folder)
        row.addWidget(choose)
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download)
        row.addWidget(self.download_button)
        form.addRow("Model", row)
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        self.model_info.setObjectName("muted")
        form.addRow("", self.model_info)
        self.download_progress = QProgressBar()
        self.download_progress.setRange(0, 1000)
        self.download_progress.hide()
        form.addRow("", self.download_progress)

        self.max_edge = QSpinBox()
        self.max_edge.setRange(*(int(b) for b in bounds("max_image_edge")))
        self.max_edge.setSingleStep(64)
        self.max_edge.setSuffix(" px")
        self.max_edge.setValue(s.max_image_edge)
        form.addRow("Max image edge", self.max_edge)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(*(int(b) for b in bounds("max_tokens")))
        self.max_tokens.setSpecialValueText("automatic (a report always completes)")  # 0: derived from the model
        self.max_tokens.setValue(s.max_tokens)
        form.addRow("Max tokens per report", self.max_tokens)
        self.constrained = QCheckBox("Constrained decoding (always a valid report)")
        self.constrained.setChecked(s.constrained_decoding)
        form.addRow("", self.constrained)
        self.grounding = QCheckBox("Put measured photo facts into the prompt")
        self.grounding.setChecked(s.grounding)
        form.addRow("", self.grounding)

        row = QHBoxLayout()
        data = QLabel(str(paths.data_dir()))
        data.setToolTip("Set MONDRIAN_HOME before starting Mondrian to keep everything in another folder")
        row.addWidget(data, 1)
        show = QPushButton("Show")
        show.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.data_dir()))))
        row.addWidget(show)
        form.addRow("Data folder", row)

        self.ab_enabled = QCheckBox("Blind A/B test: base or fine-tuned at random, rate before it is revealed")
        self.ab_enabled.setChecked(s.ab_test_enabled)
        form.addRow("", self.ab_enabled)
        self.ab_split = QDoubleSpinBox()
        self.ab_split.setRange(0.0, 1.0)
        self.ab_split.setSingleStep(0.05)
        self.ab_split.setValue(s.ab_test_split)
        self.ab_split.setToolTip("Share of blind runs that use the fine-tuned adapter")
        form.addRow("A/B split (fine-tuned share)", self.ab_split)
        layout.addLayout(form)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.hide()
        layout.addWidget(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.process: QProcess | None = None
        guard_all(self)
        self._model_status()

    # ---- model -----------------------------------------------------------------------------
    def _choose_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an mlx-vlm model folder")
        if folder:
            self.model_edit.setText(folder)

    def _model_status(self) -> None:
        ref = self.model_edit.text().strip()
        local = model_source.looks_like_local(ref) if ref else True
        self.download_button.setEnabled(bool(ref) and not local and self.process is None)
        if not ref:
            self.model_info.setText("Enter a model.")
        elif local:
            try:
                self.model_info.setText(f"Local folder: {model_source.resolve_model(ref)}")
            except model_source.ModelNotAvailableError as exc:
                self.model_info.setText(str(exc))
        elif model_source.is_model_available(ref):
            self.model_info.setText("A Hugging Face model, downloaded and ready.")
        else:
            self.model_info.setText("A Hugging Face model, not on this Mac yet: press Download to get it.")

    def download(self) -> None:
        """``mondrian download REF --json`` in its own process, online; progress from its JSON lines."""
        ref = self.model_edit.text().strip()
        if not ref or self.process is not None:
            return
        env = child_environment()
        for var in model_source.OFFLINE_VARS:
            env.remove(var)
        env.insert(model_source.ONLINE_ENV, "1")
        proc = QProcess(self)
        proc.setProcessEnvironment(env)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        proc.readyReadStandardOutput.connect(self._download_output)
        proc.finished.connect(self._download_done)
        self.process = proc
        self._download_log = ""
        self.download_progress.setValue(0)
        self.download_progress.show()
        self.download_button.setEnabled(False)
        self._say(f"Downloading {ref}…")
        proc.start(sys.executable, ["-m", "app", "download", ref, "--json"])

    def _download_output(self) -> None:
        if self.process is None:
            return
        text = bytes(self.process.readAllStandardOutput().data()).decode("utf-8", "replace")
        self._download_log += text
        found = _PROGRESS.findall(text)
        if found:
            done, total = (float(x) / 1e6 for x in found[-1])
            if total > 0:
                self.download_progress.setValue(int(1000 * done / total))
                self._say(f"Downloading… {done:.0f} of {total:.0f} MB")

    def _download_done(self, code: int, _status: QProcess.ExitStatus) -> None:
        self._download_output()
        self.process = None
        self.download_progress.hide()
        if code == 0:
            self._say("Model downloaded and ready.")
        else:
            lines = [line.strip() for line in self._download_log.replace("\r", "\n").splitlines() if line.strip()]
            error = next((line for line in lines if line.lower().startswith("error:")), lines[-1] if lines else "")
            if any(h in error.lower() for h in _OFFLINE_HINTS):
                error = ("You appear to be offline, so the model cannot be downloaded now. Connect to the internet "
                         "and try again, or choose a local model folder. (" + error + ")")
            self._say(error or f"The download failed (exit code {code}).", error=True)
        self._model_status()

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.setObjectName("error" if error else "banner")
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.setText(text)
        self.message.show()

    # ---- save -------------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        return {
            "model": self.model_edit.text().strip() or self.service.settings.model,
            "max_image_edge": self.max_edge.value(),
            "max_tokens": self.max_tokens.value(),
            "constrained_decoding": self.constrained.isChecked(),
            "grounding": self.grounding.isChecked(),
            "ab_test_enabled": self.ab_enabled.isChecked(),
            "ab_test_split": round(self.ab_split.value(), 4),
        }

    def model_problem(self) -> str | None:
        """Why the model field cannot be saved (a local folder that is not a usable model), or None.
        A Hugging Face repo id not downloaded yet is fine: Download gets it."""
        ref = self.model_edit.text().strip()
        if not ref or not model_source.looks_like_local(ref):
            return None
        try:
            model_source.resolve_model(ref)
        except model_source.ModelNotAvailableError as exc:
            return f"Not saved: {exc}. Choose a folder with an mlx-vlm model (Folder…), or enter a Hugging Face " \
                   "model name and press Download."
        return None

    def accept(self) -> None:
        problem = self.model_problem()
        if problem:
            self._say(problem, error=True)
            self.model_edit.setFocus()
            return
        settings: Settings = self.service.settings
        old_model = settings.model
        try:
            changed = apply_settings(settings, self.values())
        except SettingValueError as exc:  # the setting's own rule (the same text as the CLI's)
            self._say(str(exc), error=True)
            return
        if "model" in changed and not self.busy:
            switch_model(self.service, settings.model)  # idle: quick; the new model loads on next use
        try:
            save_settings(settings)
        except OSError as exc:
            settings.model = old_model
            self._say(f"Could not save the settings: {exc}", error=True)
            return
        log.info("settings saved (%s)", ", ".join(changed) or "no change")
        super().accept()

    def done(self, result: int) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.waitForFinished(2000)
            self.process = None
        super().done(result)

