"""The Training tab's hyperparameter and pipeline controls, built from training's own dataclasses.

Every spin box comes from a field of ``training.hyper.Hyper`` or ``training.pipeline.
PipelineOptions`` (label, limits, step, help as tooltip, default): a default changes in one
place. The values are remembered across restarts in the app's settings file
(``Settings.training_tab``), with the portfolio folder and the hosts of a multi-Mac run.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QSpinBox, QWidget

from app.engine.settings import Settings, load_settings, save_settings
from training.hyper import Hyper, gui_fields
from training.pipeline import PipelineOptions, option_fields

from ..common.wheel_guard import guard_wheel

log = logging.getLogger(__name__)


def _kind(f: Any) -> str:
    return str(f.type).split(" ")[0].split("|")[0]


class HyperForm:
    """Spin boxes / check boxes for the GUI fields of Hyper and PipelineOptions, on a form."""

    def __init__(self, form: QFormLayout, parent: QWidget | None = None):
        self.widgets: dict[str, QWidget] = {}
        defaults_h, defaults_o = Hyper(), PipelineOptions()
        for f, default in [*((f, getattr(defaults_h, f.name)) for f in gui_fields()),
                           *((f, getattr(defaults_o, f.name)) for f in option_fields() if f.metadata.get("gui"))]:
            widget = self._widget(f, default, parent)
            widget.setToolTip(f.metadata.get("help", ""))
            guard_wheel(widget)  # scrolling the tab must not change (and persist) a setting
            self.widgets[f.name] = widget
            if isinstance(widget, QCheckBox):
                form.addRow(widget)
            else:
                form.addRow(f.metadata.get("label") or f.name, widget)

    @staticmethod
    def _widget(f: Any, default: Any, parent: QWidget | None) -> QWidget:
        meta, kind = f.metadata, _kind(f)
        if kind == "bool":
            box = QCheckBox(meta.get("label") or f.name, parent)
            box.setChecked(bool(default))
            return box
        if kind == "int":
            spin = QSpinBox(parent)
            spin.setRange(int(meta.get("low") or 0), int(meta.get("high") or 1_000_000))
            spin.setValue(int(default))
            spin.setAlignment(Qt.AlignmentFlag.AlignRight)
            return spin
        dspin = QDoubleSpinBox(parent)
        step = float(meta.get("step") or 0.01)
        decimals = max(2, len(f"{step:g}".split(".")[-1]) + 1) if step < 1 else 2
        dspin.setDecimals(decimals)
        dspin.setRange(float(meta.get("low") or 0.0), float(meta.get("high") or 1e9))
        dspin.setSingleStep(step)
        dspin.setValue(float(default))
        return dspin

    def __getitem__(self, name: str) -> Any:
        return self.widgets[name]

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, w in self.widgets.items():
            out[name] = w.isChecked() if isinstance(w, QCheckBox) else w.value()  # type: ignore[attr-defined]
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            w = self.widgets.get(name)
            try:
                if isinstance(w, QCheckBox):
                    w.setChecked(bool(value))
                elif isinstance(w, QSpinBox):
                    w.setValue(int(value))
                elif isinstance(w, QDoubleSpinBox):
                    w.setValue(float(value))
            except (TypeError, ValueError):
                log.info("ignoring a remembered %s of %r", name, value)

    def hyper(self) -> Hyper:
        names = {f.name for f in fields(Hyper)}
        return Hyper(**{k: v for k, v in self.values().items() if k in names})

    def options(self) -> PipelineOptions:
        return PipelineOptions.from_dict(self.values())


def remembered() -> dict[str, Any]:
    """What the Training tab saved last time (``{}`` the first time)."""
    try:
        data = getattr(load_settings(), "training_tab", {}) or {}
    except Exception:  # a broken settings file must not break the tab
        log.warning("the Training tab's saved values are unreadable", exc_info=True)
        return {}
    return dict(data) if isinstance(data, dict) else {}


def remember(state: dict[str, Any], settings: Settings | None = None) -> None:
    """Save the tab's state into the settings file (the other settings stay as they are)."""
    try:
        current = load_settings()
        current.training_tab = dict(state)
        save_settings(current)
        if settings is not None:
            settings.training_tab = dict(state)
    except OSError as exc:
        log.warning("could not remember the Training tab: %s", exc)
