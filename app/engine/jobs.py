"""Recording critiques as jobs in the store, for the service facade (plain values in, no engine state).

Recording must never cost the user a critique: a database or thumbnail problem is logged and
the critique goes on (its result then has no ``job_id``). The store is opened lazily on the
data folder's database, so commands that never critique never create it.
"""

from __future__ import annotations

import io
import logging
import threading
from pathlib import Path
from typing import Any

from PIL import Image

from app.engine import atomic, paths
from app.engine.critique.result import CritiqueResult
from app.engine.model.host import CancelledError
from app.engine.photos.decode import file_sha256
from app.engine.photos.thumbnails import save_thumbnail
from app.engine.store.database import Store, open_default_store

log = logging.getLogger(__name__)

THUMBNAIL_EDGE = 256


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT_STORE"


DEFAULT_STORE: Any = _Default()  # "open the data folder's database when first needed"


def thumbnail_from_image(image: Image.Image, dest: Path, edge: int = THUMBNAIL_EDGE) -> Path:
    """A JPEG thumbnail of an already loaded image (an upload has no file to re-read)."""
    thumb = image.convert("RGB")
    thumb.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, "JPEG", quality=85, optimize=True)
    atomic.write_bytes(dest, buffer.getvalue())
    return dest


class JobRecorder:
    """Creates, completes and fails job rows; every method swallows (and logs) storage errors."""

    def __init__(self, store: Store | None | Any = DEFAULT_STORE):
        self._store = store
        self._opened = store is not DEFAULT_STORE
        self._lock = threading.Lock()
        self._owns = False

    @property
    def store(self) -> Store | None:
        """The store (opened on first use), or None when recording is disabled or it cannot open."""
        if not self._opened:
            with self._lock:
                if not self._opened:
                    try:
                        self._store = open_default_store()
                        self._owns = True
                    except Exception as exc:  # noqa: BLE001 - history is optional, critiques are not
                        log.warning("job history is off: %s", exc)
                        self._store = None
                    self._opened = True
        return self._store

    def close(self) -> None:
        with self._lock:
            if self._owns and self._store is not None:
                self._store.close()
                self._store = None

    def begin(self, photo: str, advisor_id: str, mode: str, *, image: Image.Image | None = None,
              photo_file: Path | None = None, photo_hash: str | None = None, model_id: str | None = None,
              model_used: str | None = None, adapter_version: str | None = None) -> str | None:
        """Record a running job; returns its id (None when not recorded). ``model_used`` and
        ``adapter_version`` are the plan's, when it was made before the job starts."""
        store = self.store
        if store is None:
            return None
        try:
            if photo_hash is None and photo_file is not None:
                photo_hash = file_sha256(photo_file)
            if photo_file is not None:
                photo = str(photo_file.resolve())  # history needs to find it from anywhere
            job = store.jobs.create_job(photo, advisor_id, mode, photo_hash=photo_hash, base_model=model_id,
                                   model_used=model_used, adapter_version=adapter_version)
            store.jobs.start_job(job.id)
        except Exception as exc:  # noqa: BLE001 - history is optional, critiques are not
            log.warning("could not record the critique of %s: %s", photo, exc)
            return None
        self._thumbnail(store, job.id, image, photo_file)
        return job.id

    def _thumbnail(self, store: Store, job_id: str, image: Image.Image | None, photo_file: Path | None) -> None:
        dest = paths.thumbnails_dir() / f"{job_id}.jpg"
        try:
            if image is not None:  # the pixels the critique already decoded: the file is not read again
                thumbnail_from_image(image, dest)
            elif photo_file is not None:
                save_thumbnail(photo_file, dest, THUMBNAIL_EDGE)
            else:
                return
            store.jobs.set_thumbnail(job_id, dest)
        except Exception as exc:  # noqa: BLE001 - a job without a thumbnail is still a job
            log.warning("no thumbnail for job %s: %s", job_id, exc)

    def complete(self, job_id: str | None, result: CritiqueResult) -> None:
        store = self._store if self._opened else None
        if job_id is None or store is None:
            return
        try:
            store.jobs.complete_job(job_id, result)
        except Exception as exc:  # noqa: BLE001 - history is optional, critiques are not
            log.warning("could not record the result of job %s: %s", job_id, exc)

    def fail(self, job_id: str | None, exc: BaseException) -> None:
        store = self._store if self._opened else None
        if job_id is None or store is None:
            return
        try:
            if isinstance(exc, CancelledError):
                store.jobs.cancel_job(job_id)
            else:
                store.jobs.fail_job(job_id, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        except Exception as err:  # noqa: BLE001 - history is optional, critiques are not
            log.warning("could not record the failure of job %s: %s", job_id, err)
