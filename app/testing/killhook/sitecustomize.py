"""Loaded by Python at start-up when this folder is on PYTHONPATH (``app.testing.faults``).

``MONDRIAN_TEST_KILL=module:function`` replaces that function by a SIGKILL of the process (``:after``:
the function runs first), so a test can kill -9 a command at an exact point (between two renames of
a publish, say) instead of at a lucky moment.
"""

from __future__ import annotations

import importlib
import os
import signal
from typing import Any

_spec = os.environ.get("MONDRIAN_TEST_KILL", "")
if _spec:
    _module_name, _name, *_when = _spec.split(":")
    _module = importlib.import_module(_module_name)
    _original = getattr(_module, _name)

    def _killed(*args: Any, **kwargs: Any) -> Any:
        if _when == ["after"]:
            _original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(_module, _name, _killed)
