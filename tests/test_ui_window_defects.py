"""Defects a photographer tripped over in the window (issue 22), each driven through real widgets."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QFormLayout, QSpinBox, QWidget


def _wheel(widget: QWidget, steps: int = 1) -> None:
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(QPoint(5, 5))), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_does_not_change_a_training_setting_in_passing(qtbot) -> None:
    from app.ui.training_form import HyperForm

    host = QWidget()
    qtbot.addWidget(host)
    form = HyperForm(QFormLayout(host), host)
    host.show()
    spin = next(w for w in form.widgets.values() if isinstance(w, QSpinBox))
    before = spin.value()
    _wheel(spin)
    assert spin.value() == before  # scrolled past: unchanged
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    _wheel(spin)
    assert spin.value() != before  # clicked into: the wheel is the user's choice
