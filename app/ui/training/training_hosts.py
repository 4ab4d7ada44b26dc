"""'Train on several Macs': the host list, its Check button (``training.distributed check``)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from training import events as ev

from .training_process import CommandRunner, Step

CHECK = "Checking the Macs"


class HostsPanel(QGroupBox):
    """Hosts of a multi-Mac run (the first is this Mac); the run itself uses the same progress,
    loss plot and Cancel as a local one: only the training command differs."""

    problem = Signal(str)
    checked = Signal(bool)

    def __init__(self, advisor_id: Callable[[], str | None], parent: QWidget | None = None):
        super().__init__("Train on several Macs", parent)
        self.advisor_id = advisor_id  # the advisor the tab trains
        self.runner = CommandRunner(self)
        self.reports: list[ev.HostChecked] = []
        layout = QVBoxLayout(self)
        self.enabled = QCheckBox("Use several Macs (same network, ssh keys set up)")
        layout.addWidget(self.enabled)
        row = QHBoxLayout()
        self.hosts_edit = QLineEdit()
        self.hosts_edit.setPlaceholderText("this-mac.local, studio.local")
        self.hosts_edit.setToolTip("ssh host names, comma-separated; the first one is this Mac")
        row.addWidget(self.hosts_edit, 1)
        self.check_button = QPushButton("Check")
        self.check_button.clicked.connect(self.check)
        row.addWidget(self.check_button)
        layout.addLayout(row)
        self.result = QLabel("")
        self.result.setObjectName("muted")
        self.result.setWordWrap(True)
        layout.addWidget(self.result)
        self.runner.progressEvent.connect(self._on_event)
        self.runner.finished.connect(self._finished)
        self.enabled.toggled.connect(lambda on: self.hosts_edit.setEnabled(on))
        self.hosts_edit.setEnabled(False)

    def hosts(self) -> list[str]:
        return [h.strip() for h in self.hosts_edit.text().replace("\n", ",").split(",") if h.strip()]

    def hosts_text(self) -> str:
        return self.hosts_edit.text()

    def selected(self) -> list[str] | None:
        """The hosts when a multi-Mac run is chosen (two or more), else None (train here)."""
        hosts = self.hosts()
        return hosts if self.enabled.isChecked() and len(hosts) > 1 else None

    def restore(self, text: str, enabled: bool) -> None:
        self.hosts_edit.setText(text)
        self.enabled.setChecked(enabled)

    def check(self) -> bool:
        advisor = self.advisor_id()
        hosts = self.hosts()
        if not advisor or len(hosts) < 2:
            self.problem.emit("Choose an advisor and list at least two Macs (this one first).")
            return False
        if self.runner.running:
            return False
        self.reports = []
        self.result.setText("Checking…")
        self.check_button.setEnabled(False)
        self.runner.start([Step(CHECK, "training.distributed", ["check", "--advisor", advisor, "--hosts",
                                                                 ",".join(hosts), "--jsonl"])])
        return True

    def _on_event(self, _label: str, event: ev.Event) -> None:
        if isinstance(event, ev.HostChecked):
            self.reports.append(event)
            self.result.setText("\n".join(ev.describe(r) for r in self.reports))

    def _finished(self, ok: bool, message: str) -> None:
        self.check_button.setEnabled(True)
        if ok:
            self.result.setText("\n".join(ev.describe(r) for r in self.reports) + "\nAll Macs are ready.")
        elif not self.reports:
            self.result.setText(message)
        self.checked.emit(ok)
