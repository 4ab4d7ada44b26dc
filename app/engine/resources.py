"""One locator for bundled resources (advisor personas, icons, default settings).

Works from the source tree (``<repo>/resources``), from a py2app bundle
(``Mondrian.app/Contents/Resources/resources``) and wherever ``MONDRIAN_RESOURCES`` points.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

RESOURCES_ENV = "MONDRIAN_RESOURCES"


def _candidates() -> list[Path]:
    out: list[Path] = []
    env = os.environ.get(RESOURCES_ENV)
    if env:
        out.append(Path(env))
    if getattr(sys, "frozen", False) or os.environ.get("RESOURCEPATH"):
        # py2app sets RESOURCEPATH to Contents/Resources.
        base = Path(os.environ.get("RESOURCEPATH", Path(sys.executable).parent.parent / "Resources"))
        out.append(base / "resources")
    out.append(Path(__file__).resolve().parents[2] / "resources")
    return out


@lru_cache(maxsize=1)
def resources_root() -> Path:
    """The resources folder; raises FileNotFoundError naming every place looked at."""
    tried = _candidates()
    for path in tried:
        if (path / "advisors").is_dir():
            return path
    raise FileNotFoundError("Mondrian's resources folder was not found; looked in: "
                            + ", ".join(str(p) for p in tried))


def resource_path(*parts: str) -> Path:
    """Path of a bundled resource, e.g. ``resource_path("icons", "mondrian.png")``."""
    path = resources_root().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"bundled resource missing: {path}")
    return path
