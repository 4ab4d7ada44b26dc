"""What a sidecar write may change: the photographer's policy by default, more only by choice.

By default (:data:`PHOTOGRAPHER`) a write adds Mondrian's namespace and keywords and changes
nothing else. The standard fields other tools read are opt-in, one by one:

* ``rating``: ``xmp:Rating`` 1-5 stars. Empty: absent or 0 (0 means "unrated" to every tool);
  -1 is a reject, never empty.
* ``label``: ``xmp:Label``. Empty: absent or blank.
* ``caption``: ``dc:description``. Empty: no language alternative holds text.
* ``flag``: ``xmpDM:pick`` (1 pick, -1 reject), and for a reject ``xmp:Rating`` -1. Empty: pick
  absent or 0 (and, for a reject, the rating empty too).

Even an opted-in field is written only where it is empty in the sidecar *and* the photographer set
no value for it anywhere Mondrian reads (embedded XMP, the other sidecar, IPTC/EXIF), or where it
still holds exactly what Mondrian wrote there; ``overwrite`` lifts that for the sidecar's own value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STANDARD_FIELDS = ("rating", "label", "caption", "flag")


@dataclass(frozen=True)
class WritePolicy:
    fields: frozenset[str] = frozenset()
    overwrite: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.fields) - set(STANDARD_FIELDS)
        if unknown:
            raise ValueError(f"unknown sidecar field(s) {', '.join(sorted(unknown))}: "
                             f"choose from {', '.join(STANDARD_FIELDS)}")

    @classmethod
    def parse(cls, text: str | None, overwrite: bool = False) -> WritePolicy:
        """``"rating,label"`` (the CLI's ``--set``) -> a policy; ``None`` or ``""``: Mondrian's own fields only."""
        names = frozenset(p.strip().lower() for p in (text or "").split(",") if p.strip())
        return cls(names, overwrite)

    def to_dict(self) -> dict[str, Any]:
        return {"fields": sorted(self.fields), "overwrite": self.overwrite}

    def describe(self) -> str:
        if not self.fields:
            return "Mondrian's namespace and keywords only"
        how = "overwriting the photographer's values" if self.overwrite else "only where empty"
        return f"Mondrian's namespace and keywords, plus {', '.join(sorted(self.fields))} ({how})"


PHOTOGRAPHER = WritePolicy()
