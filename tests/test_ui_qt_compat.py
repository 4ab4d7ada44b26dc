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
from app.ui.qt_compat import emit

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
    from app.ui import qt_compat

    assert isinstance(qt_compat.EMIT_LEAKS_BOOL, bool) and isinstance(qt_compat.SLOT_CALL_LEAKS_NONE, bool)
    if qt_compat.SLOT_CALL_LEAKS_NONE and sys.version_info < (3, 12):
        assert sys.getrefcount(None) > 1 << 39
