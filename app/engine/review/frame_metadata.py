"""What the photographer already decided about each frame, read from its files when a folder is opened.

One call per frame to :func:`app.engine.sidecars.read_user_metadata` (exiv2, read-only), with the
store's record of what Mondrian wrote, so Mondrian's own earlier values are not taken for the
photographer's. The readings are stored per review (``frame_metadata``) for the grid, the summary,
the CSV and the HTTP results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from app.engine.sidecars.metadata import UserMetadata, read_user_metadata

if TYPE_CHECKING:
    from app.engine.store.database import Store

log = logging.getLogger(__name__)


def read_frames_metadata(store: Store, review_id: str, paths: Iterable[str],
                         should_stop: Callable[[], bool] | None = None) -> dict[str, UserMetadata]:
    """Read and store the metadata of every frame in ``paths``; returns it by path. A frame whose
    files cannot be read gets its problem in ``UserMetadata.problems`` (never an exception)."""
    found: dict[str, UserMetadata] = {}
    for path in paths:
        if should_stop is not None and should_stop():
            break
        try:
            found[path] = read_user_metadata(path, store.sidecar_writes.mondrian_values)
        except Exception as exc:  # noqa: BLE001 - one odd file must not stop opening the folder
            log.warning("%s: metadata not read (%s)", path, exc)
            found[path] = UserMetadata(problems=[f"{path}: metadata not read ({exc})"])
    store.sidecar_writes.set_frame_metadata(review_id, {p: m.to_dict() for p, m in found.items()})
    return found
