"""app.engine and training never import Qt: checked in the source and in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT = re.compile(r"^\s*(from|import)\s+(PySide6|PyQt5|PyQt6|shiboken6)\b", re.M)


def test_no_qt_import_in_engine_or_training_source():
    offenders = [str(p.relative_to(ROOT)) for folder in ("app/engine", "training")
                 for p in (ROOT / folder).rglob("*.py") if QT.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_importing_engine_and_training_loads_no_qt():
    mods = [p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
            for folder in ("app/engine", "training") for p in sorted((ROOT / folder).rglob("*.py"))
            if p.name != "__main__.py"]
    code = ("import importlib, sys\n"
            f"for m in {mods!r}:\n    importlib.import_module(m)\n"
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'PyQt', 'shiboken'))]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=300)
