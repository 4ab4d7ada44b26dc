"""Which adapter answers, as a value the model floor can name: :class:`AdapterRef`.

A request carries ``adapter: AdapterRef | None`` (None: the base model). An adapter folder has one
identity however it was named: its resolved path. A folder path, the weights file inside it, a
symlink to it and a stored version ("v3" of an advisor) all give equal refs, so requests on the
same adapter batch together and the adapter manager never re-applies it. How it was named
(``label``, ``advisor_id``, ``version``) rides along for records and does not take part in
equality. Which folders are stored versions is the adapter store's to say
(:func:`app.engine.adapters.versions.adapter_ref`); this module sits below it so that ``model/``
can type its requests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ADAPTER_FILES = ("adapter_config.json", "adapters.safetensors")


@dataclass(frozen=True)
class AdapterRef:
    """One adapter folder (see the module docstring); build with :meth:`to`."""

    path: Path  # resolved: the identity
    label: str = field(default="", compare=False)  # "v3" for a stored version, else the folder
    advisor_id: str | None = field(default=None, compare=False)
    version: str | None = field(default=None, compare=False)

    @classmethod
    def to(cls, folder: str | os.PathLike[str], *, advisor_id: str | None = None,
           version: str | None = None) -> AdapterRef:
        """The ref of ``folder`` (or of the adapter file named inside it, as mlx-vlm accepts)."""
        path = Path(folder).expanduser()
        if path.name in ADAPTER_FILES and path.is_file():
            path = path.parent
        try:
            path = path.resolve()
        except OSError:
            path = path.absolute()
        return cls(path, version or str(path), advisor_id, version)

    def __str__(self) -> str:
        return self.label or str(self.path)
