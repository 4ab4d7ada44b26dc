"""Star ratings photographers already gave their photos, as training targets: the engine's one reader.

The reading itself is :func:`app.engine.sidecars.read_user_metadata`, the same the review uses, so
training and the review agree on where a rating comes from (the photo's embedded XMP for
JPEG/TIFF/HEIC/PNG/DNG, the sidecar for proprietary RAW, then IPTC/EXIF) and on what it means
(1-5 stars; ``xmp:Rating`` -1 or ``xmpDM:pick`` -1 a reject; 0 unrated). Values Mondrian wrote
itself (the store's record, :func:`mondrian_record`) are never taken for the photographer's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from app.engine import paths
from app.engine.sidecars.metadata import Written, read_user_metadata

REJECTED = -1
UNRATED = 0
MAX_STARS = 5


class XmpError(ValueError):
    """A rating is present but unusable (out of range, not a number, unreadable sidecar)."""


@dataclass(frozen=True)
class StarRating:
    """A photo's star rating and where it came from (``sidecar IMG.xmp``, ``embedded XMP``, ``EXIF rating``)."""

    stars: int  # -1 rejected, 1..5
    source: str

    @property
    def rejected(self) -> bool:
        return self.stars == REJECTED

    @property
    def rated(self) -> bool:
        return self.stars >= 1


def read_rating(photo: str | os.PathLike[str], written: Written | None = None) -> StarRating | None:
    """The photographer's rating of ``photo`` (a reject is -1); None when there is none.

    Raises :class:`XmpError` naming the file when a rating is present but invalid (and no other
    source gives one).
    """
    meta = read_user_metadata(photo, written)
    if meta.flag == "reject":
        return StarRating(REJECTED, meta.sources.get("flag", "XMP"))
    if meta.rating is not None:
        return StarRating(meta.rating, meta.sources.get("rating", "XMP"))
    bad = [p for p in meta.problems if "Rating" in p]
    if bad:
        raise XmpError(bad[0])
    return None


@contextlib.contextmanager
def mondrian_record() -> Iterator[Written | None]:
    """The store's record of what Mondrian wrote into sidecars (None when there is no database yet)."""
    from app.engine.store.database import open_default_store
    from app.engine.store.schema import StoreError

    if not paths.db_path().exists():
        yield None
        return
    try:
        store = open_default_store()
    except StoreError:
        yield None
        return
    with store:
        yield store.sidecar_writes.mondrian_values
