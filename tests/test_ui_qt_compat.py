"""The binding work-arounds: many signals from C++ and from Python, no interpreter abort."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CODE = """
import sys
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
qapp = QCoreApplication([])
import app.ui  # applies the work-arounds
from app.ui.common.qt_compat import emit

class O(QObject):
    ping = Signal(str)

o = O()
hits = []
o.ping.connect(lambda text: hits.append(text))
for _ in range(30000):
    emit(o.ping, "x")           # Python emit -> Python slot
timer = QTimer()
timer.setInterval(0)
ticks = []
timer.timeout.connect(lambda: ticks.append(1))   # C++ emit -> Python slot
timer.start()
while len(ticks) < 30000:
    qapp.processEvents()
timer.stop()
print(len(hits), len(ticks))
"""


def test_thirty_thousand_signals_each_way_do_not_abort_the_interpreter():
    out = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["30000", "30000"]


def test_flags_describe_this_binding():
    from app.ui.common import qt_compat

    assert isinstance(qt_compat.EMIT_LEAKS_BOOL, bool) and isinstance(qt_compat.SLOT_CALL_LEAKS_NONE, bool)
    if qt_compat.SLOT_CALL_LEAKS_NONE and sys.version_info < (3, 12):
        assert sys.getrefcount(None) > 1 << 39


def test_signals_blocked_restores_even_on_an_exception(qtbot):
    import pytest
    from PySide6.QtWidgets import QComboBox

    from app.ui.common.qt_compat import signals_blocked

    combo = QComboBox()
    qtbot.addWidget(combo)
    with pytest.raises(RuntimeError), signals_blocked(combo):
        assert combo.signalsBlocked()
        raise RuntimeError("boom")
    assert not combo.signalsBlocked()
    combo.blockSignals(True)
    with signals_blocked(combo):
        pass
    assert combo.signalsBlocked()  # the previous state, not "unblocked"


def test_each_request_hears_only_about_itself(qtbot):
    from app.ui.common.bridge import CANCELLED, InferenceBridge

    bridge = InferenceBridge()
    try:
        gate = __import__("threading").Event()

        def slow(ctx):
            gate.wait(5)
            ctx.token("late")
            return "slow"

        def fast(ctx):
            ctx.token("a")
            ctx.progress("half", 0.5)
            return 42

        first, second = bridge.run("slow", slow), bridge.run("fast", fast)
        seen: dict[str, list] = {"slow": [], "fast": []}
        for req in (first, second):
            log = seen[req.kind]
            req.started.connect(lambda log=log: log.append("started"))
            req.token.connect(lambda t, log=log: log.append(("token", t)))
            req.progress.connect(lambda m, f, log=log: log.append(("progress", m, f)))
            req.result.connect(lambda v, log=log: log.append(("result", v)))
            req.failed.connect(lambda m, log=log: log.append(("failed", m)))
            req.finished.connect(lambda log=log: log.append("finished"))
        qtbot.waitUntil(lambda: seen["slow"] == ["started"], timeout=5000)
        first.cancel()
        gate.set()
        qtbot.waitUntil(lambda: "finished" in seen["fast"], timeout=10000)
        assert seen["slow"] == ["started", ("failed", CANCELLED), "finished"]  # nothing late
        assert seen["fast"] == ["started", ("token", "a"), ("progress", "half", 0.5), ("result", 42), "finished"]
        assert first.done and second.done and not bridge.busy
    finally:
        bridge.shutdown()
