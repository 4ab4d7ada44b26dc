"""Running the console script ``mondrian`` (the one the README shows) in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MONDRIAN = Path(sys.executable).parent / "mondrian"


def mondrian(args: list[str], home: Path, *, timeout: float = 300, stdin: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``mondrian ARGS`` from the venv's bin, on this checkout, with ``home`` as MONDRIAN_HOME."""
    full = {**os.environ, "MONDRIAN_HOME": str(home), "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([str(MONDRIAN), *args], cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=timeout, input=stdin)


def home_with_settings(home: Path, **settings: object) -> Path:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "settings.json").write_text(json.dumps({"version": 2, **settings}))
    return home
