"""The Critique tab's top bar: advisor and mode pickers, Compare, Open and Export, and the line
under them that says what the advisor has and how the chosen mode will actually run."""

from __future__ import annotations

import logging
import re
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.engine.adapters import versions as adapter_versions
from app.engine.advisors import Advisor

from ..common.bridge import CANCELLED, InferenceBridge, Request
from ..common.operations import ModeInfo, resolve_task
from ..common.qt_compat import emit, signals_blocked
from ..common.wrap_text import WrapLabel

if TYPE_CHECKING:
    from app.engine.service import MondrianService
    from app.engine.store.database import Store

log = logging.getLogger(__name__)

MODES = (("Auto", "auto"), ("Baseline", "baseline"), ("RAG", "rag"), ("LoRA", "lora"))


class CritiqueBar(QWidget):
    exportRequested = Signal(str)  # "markdown" | "json" | "pdf"
    openRequested = Signal()
    choiceChanged = Signal()  # advisor or mode changed by the user

    def __init__(self, service: MondrianService, store: Store | None, queries: InferenceBridge | None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.service = service
        self.store = store
        self.queries = queries  # a second lane for quick questions (effective mode) while a critique runs
        self.advisors: dict[str, Advisor] = {}
        self.mode_info: ModeInfo | None = None
        self._resolve: Request | None = None
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(4)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Advisor"))
        self.advisor_combo = QComboBox()
        self.advisor_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.advisor_combo.setMinimumContentsLength(14)
        self.advisor_combo.currentIndexChanged.connect(self._advisor_changed)
        bar.addWidget(self.advisor_combo, 1)
        bar.addSpacing(6)
        bar.addWidget(QLabel("Mode"))
        self.mode_combo = QComboBox()
        for label, mode in MODES:
            self.mode_combo.addItem(label, mode)
        self.mode_combo.currentIndexChanged.connect(self._mode_changed)
        bar.addWidget(self.mode_combo)
        bar.addSpacing(6)
        self.compare_check = QCheckBox("Compare with base")
        bar.addWidget(self.compare_check)
        bar.addStretch(1)
        self.open_button = QPushButton("Open…")
        self.open_button.clicked.connect(lambda: emit(self.openRequested))
        bar.addWidget(self.open_button)
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        for label, kind in (("Markdown…", "markdown"), ("JSON…", "json"), ("PDF…", "pdf")):
            menu.addAction(label, partial(emit, self.exportRequested, kind))
        self.export_button.setMenu(menu)
        self.export_button.setEnabled(False)
        bar.addWidget(self.export_button)
        root.addLayout(bar)

        info = QHBoxLayout()
        self.advisor_info = WrapLabel(object_name="muted")
        info.addWidget(self.advisor_info, 3)
        self.effective_label = WrapLabel(object_name="muted")
        info.addWidget(self.effective_label, 2)
        root.addLayout(info)

    # ---- choices -------------------------------------------------------------------------------
    def reload_advisors(self, select: str | None = None, mode: str | None = None) -> None:
        current = select or self.advisor_id() or self.service.settings.default_advisor
        with signals_blocked(self.advisor_combo):
            self.advisor_combo.clear()
            self.advisors = self.service.advisors()
            for advisor in self.advisors.values():
                self.advisor_combo.addItem(advisor.name + ("" if advisor.builtin else "  (personal)"), advisor.id)
                self.advisor_combo.setItemData(self.advisor_combo.count() - 1, persona(advisor),
                                               Qt.ItemDataRole.ToolTipRole)
            self.advisor_combo.setCurrentIndex(max(0, self.advisor_combo.findData(current)))
        available = set(self.service.modes)
        model = self.mode_combo.model()
        for i in range(self.mode_combo.count()):
            item = model.item(i)  # type: ignore[attr-defined]
            ok = self.mode_combo.itemData(i) in available
            item.setEnabled(ok)
            item.setToolTip("" if ok else "not available in this build")
        if mode is not None and self.mode_combo.findData(mode) >= 0:
            with signals_blocked(self.mode_combo):
                self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))
        self.update_advisor_info()

    def advisor_id(self) -> str | None:
        data = self.advisor_combo.currentData()
        return str(data) if data else None

    def mode(self) -> str:
        return str(self.mode_combo.currentData() or "auto")

    def set_advisor(self, advisor_id: str) -> None:
        index = self.advisor_combo.findData(advisor_id)
        if index < 0:
            raise KeyError(f"unknown advisor {advisor_id!r}")
        self.advisor_combo.setCurrentIndex(index)

    def set_mode(self, mode: str) -> None:
        index = self.mode_combo.findData(mode)
        if index < 0:
            raise KeyError(f"unknown mode {mode!r}; choose one of {', '.join(m for _, m in MODES)}")
        self.mode_combo.setCurrentIndex(index)

    def advisor_name(self, advisor_id: str) -> str:
        advisor = self.advisors.get(advisor_id)
        return advisor.name if advisor else advisor_id

    def _advisor_changed(self) -> None:
        self.update_advisor_info()
        emit(self.choiceChanged)

    def _mode_changed(self) -> None:
        self._update_effective_mode()
        emit(self.choiceChanged)

    # ---- what the advisor has -------------------------------------------------------------------
    def update_advisor_info(self) -> None:
        advisor = self.advisors.get(self.advisor_id() or "")
        if advisor is None:
            self.advisor_info.setText("")
            return
        bits = ["Built-in persona" if advisor.builtin else "Personal advisor"]
        if self.store is not None:
            try:
                n = self.store.profiles.count_profiles(advisor.id)
                bits.append(f"{n} reference photo{'s' if n != 1 else ''}" if n else "no reference photos")
            except Exception:  # an info line must not break the window
                log.exception("counting profiles failed")
        versions = adapter_versions.list_versions(advisor.id)
        active = adapter_versions.active_version(advisor.id) if versions else None
        if versions:
            bits.append("adapters " + ", ".join(v.version for v in versions)
                        + (f" ({active.version} active)" if active else " (none active)"))
        else:
            bits.append("no fine-tuned adapter")
        self.advisor_info.setText(" · ".join(bits))
        self.advisor_info.setToolTip(persona(advisor))
        can_compare = active is not None and self.service.comparisons.available(advisor.id)  # the engine decides
        self.compare_check.setEnabled(can_compare)
        if not can_compare:
            self.compare_check.setChecked(False)
        self.compare_check.setToolTip(
            "Critique with the base model and the advisor's active adapter, side by side" if can_compare else
            f"{advisor.name} has no active fine-tuned adapter to compare with: train one (or activate a "
            "version) in the Training tab")
        self._update_effective_mode()

    def _update_effective_mode(self) -> None:
        """Ask (off the UI thread) how the current advisor + mode would run; shown beside the pickers."""
        advisor_id = self.advisor_id()
        if advisor_id is None or self.queries is None:
            return
        if self._resolve is not None:
            self._resolve.cancel()
        self.effective_label.setText("Checking the mode…")
        request = self.queries.run("resolve", resolve_task(self.service, advisor_id, self.mode()))
        request.result.connect(self._resolved)
        request.failed.connect(self._resolve_failed)
        self._resolve = request

    def _resolved(self, value: object) -> None:
        if self.sender() is not self._resolve or not isinstance(value, ModeInfo):
            return
        self._resolve = None
        self.mode_info = value
        if not value.model_available:
            self.effective_label.setText("No model yet: measurement-only reports. Get one in Settings.")
            return
        self.effective_label.setText(effective_text(value))
        self.effective_label.setToolTip(f"The next critique by this advisor runs as {value.effective}" + (f": {value.reason}" if value.reason else ""))

    def _resolve_failed(self, message: str) -> None:
        if self.sender() is not self._resolve:
            return
        self._resolve = None
        if message != CANCELLED:
            self.effective_label.setText(f"Mode unavailable: {message}")


def effective_text(info: ModeInfo) -> str:
    """One short line: the mode that will run, and which modes fell through (details in the tooltip)."""
    text = f"Next critique runs as {info.effective}"  # the picker's advisor, not the report on screen
    if info.reason:
        skipped = re.findall(r"(\w+) unavailable", info.reason)
        text += f" ({', '.join(skipped)} unavailable: hover for why)" if skipped else f" ({info.reason})"
    return text


def persona(advisor: Advisor) -> str:
    lines = [advisor.name, advisor.bio]
    if advisor.looks_for:
        lines.append("Looks for: " + ", ".join(advisor.looks_for))
    return "\n".join(line for line in lines if line)
