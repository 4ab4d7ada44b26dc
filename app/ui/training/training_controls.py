"""The Training tab's left column: advisor, portfolio, hyperparameters, hosts, the run buttons.

Only widgets: :class:`~app.ui.training.training_tab.TrainingTab` wires them to the work. Kept apart so the
tab reads as what it does, not how its form is laid out.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from training.pipeline import learn_default

from ..common.wheel_guard import guard_wheel
from .training_form import HyperForm
from .training_hosts import HostsPanel

MEMORY_STALE = "Memory: — (press Estimate)"


class TrainingControls(QWidget):
    """The column of controls; every widget is an attribute under the name the tab (and the tests) use."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 8, 0)
        col.addWidget(self._advisor_box())
        col.addWidget(self._portfolio_box())
        col.addWidget(self._hyper_box())
        col.addWidget(self._learn_box())
        self.hosts = HostsPanel(lambda: self.advisor_combo.currentData())
        col.addWidget(self.hosts)
        col.addLayout(self._buttons())
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.show_idle()
        col.addWidget(self.progress)
        self.status = QLabel("Ready.")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        col.addWidget(self.status)
        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        col.addWidget(self.error_label)
        col.addStretch(1)

    def show_progress(self, fraction: float) -> None:
        """Something runs: the bar and its percentage."""
        self.progress.setTextVisible(True)
        self.progress.setValue(int(1000 * max(0.0, min(1.0, fraction))))

    def show_idle(self) -> None:
        """Nothing runs: an empty bar without a number (a full \"100 %\" bar read as work still going
        on); the status line says how the last task ended."""
        self.progress.setValue(0)
        self.progress.setTextVisible(False)

    def _advisor_box(self) -> QGroupBox:
        box = QGroupBox("Advisor")
        form = QFormLayout(box)
        self.advisor_combo = QComboBox()
        form.addRow("Train", self.advisor_combo)
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("e.g. My street style")
        form.addRow("New name", self.new_name)
        self.new_persona = QPlainTextEdit()
        self.new_persona.setPlaceholderText("Persona: how this advisor sees photos, what they care about…")
        self.new_persona.setFixedHeight(70)
        form.addRow("Persona", self.new_persona)
        self.create_button = QPushButton("Create personal advisor")
        form.addRow(self.create_button)
        return box

    def _portfolio_box(self) -> QGroupBox:
        box = QGroupBox("Portfolio")
        form = QFormLayout(box)
        row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("a folder of your own photos")
        row.addWidget(self.folder_edit)
        self.browse_button = QPushButton("Browse…")
        row.addWidget(self.browse_button)
        form.addRow(row)
        self.draft_button = QPushButton("Draft profiles with the base model")
        form.addRow(self.draft_button)
        self.portfolio_info = QLabel("No portfolio yet.")
        self.portfolio_info.setObjectName("muted")
        self.portfolio_info.setWordWrap(True)
        form.addRow(self.portfolio_info)
        return box

    def _hyper_box(self) -> QGroupBox:
        box = QGroupBox("Hyperparameters")
        form = QFormLayout(box)
        self.form = HyperForm(form, box)
        self.activate = QCheckBox("Activate the new version when done")
        self.activate.setChecked(True)
        self.activate.setToolTip("Training: the new version becomes the active one. Teaching from culls: it does "
                                 "when it agrees with your culls better than before. Unticked: never; activate "
                                 "it yourself in Versions.")
        form.addRow(self.activate)
        mem = QHBoxLayout()
        self.memory_label = QLabel("Memory: —")
        self.memory_label.setWordWrap(True)
        mem.addWidget(self.memory_label, 1)
        self.memory_button = QPushButton("Estimate")
        mem.addWidget(self.memory_button)
        form.addRow(mem)
        for name in ("rank", "batch_size"):  # the estimate depends on these: say it is stale
            self.form[name].valueChanged.connect(lambda *_: self.memory_label.setText(MEMORY_STALE))
        self.form["grad_checkpoint"].toggled.connect(lambda *_: self.memory_label.setText(MEMORY_STALE))
        return box

    def _learn_box(self) -> QGroupBox:
        """The choices of "Teach Advisor" (Review view): how long to learn from a shoot's culls, and how."""
        box = QGroupBox("Teaching from culls")
        box.setToolTip("Used by Teach Advisor in the Review view (mondrian train learn)")
        form = QFormLayout(box)
        self.learn_steps = QSpinBox()
        self.learn_steps.setRange(1, 2000)
        self.learn_steps.setValue(int(learn_default("steps")))
        self.learn_steps.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.learn_steps.setToolTip("optimizer steps on your picks, rejects and stars (--steps)")
        guard_wheel(self.learn_steps)
        form.addRow("Steps", self.learn_steps)
        self.learn_method = QComboBox()
        self.learn_method.addItem("ORPO (preference pairs)", "orpo")
        self.learn_method.addItem("SFT (targets only)", "sft")
        self.learn_method.addItem("GRPO (sampled answers; slow)", "grpo")
        self.learn_method.setCurrentIndex(max(0, self.learn_method.findData(learn_default("method"))))
        self.learn_method.setToolTip("ORPO: the chosen answer against the wrong one; SFT: the targets alone; GRPO: "
                                     "answers the advisor writes, rewarded by your cull, 5-12x slower a step (--method)")
        guard_wheel(self.learn_method)
        form.addRow("Method", self.learn_method)
        return box

    def _buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("primary")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("continue the cancelled run from its last finished epoch")
        self.resume_button.hide()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.cancel_button)
        return buttons
