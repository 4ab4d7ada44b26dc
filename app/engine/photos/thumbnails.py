"""Thumbnails of photo files: a small JPEG written atomically, the original only read."""

from __future__ import annotations

import io
import os
from pathlib import Path

from app.engine import atomic
from app.engine.photos.decode import load_photo
from app.engine.photos.errors import ImageLoadError
from app.engine.photos.files import THUMBNAIL_QUALITY


def save_thumbnail(path: str | os.PathLike[str], dest: str | os.PathLike[str], size: int = 256) -> Path:
    """Write a JPEG thumbnail (long edge ``size``) atomically to ``dest``; the source is only read."""
    source, target = Path(path), Path(dest)
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise ImageLoadError(source, "refusing to write a thumbnail over the original photo")
    image = load_photo(source, max_edge=size)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    atomic.write_bytes(target, buffer.getvalue())
    return target
