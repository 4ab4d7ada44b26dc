"""Work-arounds for reference-count bugs of the Qt binding in use, each detected at run time.

PySide6 6.12.0 on CPython 3.11 drops references it does not own:

1. ``SignalInstance.emit()`` returns ``True`` without a new reference: every emit from Python
   takes one reference from ``True``.
2. Every call of a Python callable from a signal emitted in C++ (a QTimer firing, a button's
   ``clicked``, QProcess output, ``objectNameChanged`` ...) takes one reference from ``None``.

After a few thousand such calls the count reaches zero and the interpreter aborts with
"bool_dealloc: deallocating True or False" or "none_dealloc: deallocating None" (seen first while
streaming tokens, then in the GUI benchmark's 2 ms timer). Both objects are static singletons
that are never really freed; CPython 3.12 makes them *immortal* (PEP 683) for exactly this kind of
reason. When a probe at import shows either leak, :func:`_immortalize` does what 3.12 does: it
raises the reference counts of ``None``, ``True`` and ``False`` so far (2**40) that no session can
exhaust them. :func:`emit` additionally gives back the reference each emit takes, so ``True``
does not even drift. Nothing happens on a binding without the bugs.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from PySide6.QtCore import QObject, Signal

_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None
_BOOST = 1 << 40


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


def _slot_call_leaks_none() -> bool:
    probe = QObject()
    calls: list[int] = []
    probe.objectNameChanged.connect(lambda _name: calls.append(1))  # emitted by C++
    before = sys.getrefcount(None)
    for i in range(8):
        probe.setObjectName(f"probe-{i}")
    leaked = before - sys.getrefcount(None)
    for _ in range(max(0, leaked)):
        _incref(None)
    return len(calls) == 8 and leaked >= 8


def _immortalize(*objects: Any) -> None:
    """Make static singletons unreachable by reference leaks (ob_refcnt is the first field)."""
    if sys.version_info >= (3, 12):
        return  # already immortal
    for obj in objects:
        ctypes.c_ssize_t.from_address(id(obj)).value += _BOOST


EMIT_LEAKS_BOOL = _emit_leaks_bool()
SLOT_CALL_LEAKS_NONE = _slot_call_leaks_none()
if EMIT_LEAKS_BOOL or SLOT_CALL_LEAKS_NONE:
    _immortalize(None, True, False)


def emit(signal: Any, *args: Any) -> None:
    """``signal.emit(*args)``, minus the binding's reference leak on its return value."""
    result = signal.emit(*args)
    if EMIT_LEAKS_BOOL and (result is True or result is False):
        _incref(result)


@contextmanager
def signals_blocked(obj: QObject) -> Iterator[None]:
    """Block ``obj``'s signals for the block and restore the previous state even on an exception
    (as superqt's ``signals_blocked``): a bare blockSignals(True) left set by an error would mute
    a widget for the rest of the session."""
    previous = obj.blockSignals(True)
    try:
        yield
    finally:
        obj.blockSignals(previous)
