"""Mondrian's own XMP namespace: where its results live in a sidecar, apart from the user's fields.

``mondrian:Grade`` (the letter), ``mondrian:Overall`` (mean score), ``mondrian:Stars`` (the
score's stars, :mod:`app.engine.review.grading`), one ``mondrian:<Dimension>`` score per
dimension (``mondrian:FocusSharpness``), ``mondrian:Summary`` and ``mondrian:Advisor``. Every
property here is Mondrian's by definition: writing it never touches a field another tool reads.
"""

from __future__ import annotations

from typing import Any

MONDRIAN_NS = "http://ns.mondrian.photo/xmp/1.0/"
MONDRIAN_PREFIX = "mondrian"
KEY_PREFIX = f"Xmp.{MONDRIAN_PREFIX}."

_registered = False


def register(exiv2: Any) -> None:
    """Register the namespace with exiv2 (process-global; call inside an exiv2 session)."""
    global _registered
    if not _registered:
        exiv2.XmpProperties.registerNs(MONDRIAN_NS, MONDRIAN_PREFIX)
        _registered = True


def property_name(dimension: str) -> str:
    """``focus_sharpness`` -> ``FocusSharpness`` (an XML name, as XMP properties must be)."""
    return "".join(part.capitalize() for part in dimension.split("_") if part)


def key(name: str) -> str:
    return KEY_PREFIX + name
