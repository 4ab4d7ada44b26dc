"""What a follow-up on a stored job talks about: its photo (checked by content), model and adapter.

One function, :func:`resolve_job`, for every front end (``ask``/``crop`` on the command line,
``POST /jobs/{id}/messages`` and ``/crop``, the window's thread): the photo is the file the job
critiqued only when its content hash matches (whatever now sits at the old path is not trusted),
and the model and adapter are the ones the job's record names, not the settings' current ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.engine.conversation.context import ConversationError, PhotoMissingError, adapter_of
from app.engine.model.weights_ref import AdapterRef
from app.engine.photos.files import file_sha256
from app.engine.store.database import JobRow, Store


class PhotoChangedError(PhotoMissingError):
    """The file at the job's path (or the one given) is not the photo that was critiqued."""

    def __init__(self, job_id: str, path: str, given: bool):
        self.job_id, self.path = job_id, path
        if given:
            message = f"{path} is not the photo of job {job_id[:8]} (its content differs from the photo critiqued)"
        else:
            message = (f"the file at {path} is no longer the photo of job {job_id[:8]} (its content changed since "
                       "the critique); locate the original")
        ConversationError.__init__(self, message)


@dataclass(frozen=True)
class JobTarget:
    """A job ready for a follow-up: the verified photo file, the model and adapter that wrote it."""

    job: JobRow
    photo: Path
    model_ref: str | None  # None for jobs recorded before the model was (technical-only jobs too)
    adapter: AdapterRef | None  # None = the base model
    notice: str | None = None  # e.g. the adapter that wrote the critique is gone


def same_model(a: str | None, b: str | None) -> bool:
    """Two model references name the same model (a repo id, or the same folder however written)."""
    if not a or not b:
        return True
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


def resolve_job(store: Store, job_id: str, photo: str | Path | None = None, *,
                checked: tuple[str, float] | None = None) -> JobTarget:
    """The job (an id or its first characters) with its photo, model and adapter. ``photo``: where
    the photo is now, when it moved. ``checked``: the (resolved path, mtime) whose content was already
    verified (the caller's cache), so an unchanged file is not hashed again. Raises JobNotFoundError,
    ConversationError (no report), PhotoMissingError (not there) or PhotoChangedError (other content)."""
    job = store.jobs.get_job(store.jobs.resolve_job_id(job_id))
    if job.report is None:
        raise ConversationError(f"job {job.id[:8]} has no report to talk about ({job.status}"
                                + (f": {job.error}" if job.error else "") + ")")
    path = Path(photo).expanduser() if photo else Path(job.photo_path)
    if not path.is_file():
        raise PhotoMissingError(job.id, str(photo) if photo else job.photo_path)
    key = (str(path.resolve()), path.stat().st_mtime)
    if job.photo_hash and key != checked and file_sha256(path) != job.photo_hash:
        raise PhotoChangedError(job.id, str(path), given=photo is not None)
    adapter, notice = adapter_of(job)
    return JobTarget(job=job, photo=path, model_ref=job.base_model or None, adapter=adapter, notice=notice)


def job_model(store: Store, job_id: str) -> str | None:
    """The model a stored job was critiqued with (a front end starts its model host on it)."""
    return store.jobs.get_job(store.jobs.resolve_job_id(job_id)).base_model or None
