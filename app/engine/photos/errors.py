"""The one error every photo reader raises: the file and what is wrong with it, for one line of output."""

from __future__ import annotations

import os
from pathlib import Path


class ImageLoadError(ValueError):
    """A photo could not be loaded; ``str()`` is ``"<path>: <reason>"`` for the user."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[ImageLoadError], tuple[Path, str]]:
        # Exceptions pickle their args; ours take (path, reason), so crossing processes works.
        return (type(self), (self.path, self.reason))


def megapixels(pixels: int) -> str:
    """Megapixels for messages: whole numbers when big, one decimal when small."""
    mp = pixels / 1_000_000
    return f"{mp:.0f}" if mp >= 10 else f"{mp:.1f}"
