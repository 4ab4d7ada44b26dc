"""Work-arounds for the Qt binding in use, each detected at run time (no version sniffing).

PySide6 6.12.0 on CPython 3.11: ``SignalInstance.emit()`` returns ``True`` without taking a
reference to it, so every emit from Python drops one reference to ``True``; after a few hundred
emits the interpreter aborts with "bool_dealloc: deallocating True or False" (found while
streaming tokens). :func:`emit` gives the reference back when, and only when, a probe emit at
import time shows the leak. Every Python-side emit in ``app.ui`` goes through it.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal

_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


class _Probe(QObject):
    ping = Signal()


def _emit_leaks_bool() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(4):
        probe.ping.emit()
    leaked = before - sys.getrefcount(True)
    for _ in range(max(0, leaked)):  # give back what the probe itself took
        _incref(True)
    return leaked >= 4


EMIT_LEAKS_BOOL = _emit_leaks_bool()


def emit(signal: Any, *args: Any) -> None:
    """``signal.emit(*args)``, minus the binding's reference leak on its return value."""
    result = signal.emit(*args)
    if EMIT_LEAKS_BOOL and (result is True or result is False):
        _incref(result)
