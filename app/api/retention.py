"""How long the API keeps thumbnails of uploaded photos, and deleting a job with its files.

An uploaded photo is not kept (only its hash), but its job keeps a 256 px thumbnail for the
history. ``upload_thumbnail_days`` bounds that (0: none kept past the critique); ``DELETE
/jobs/{id}`` removes a job, its ratings and its thumbnail.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.engine.service import MondrianService

log = logging.getLogger(__name__)


def prune_upload_thumbnails(service: MondrianService, now: datetime | None = None) -> int:
    """Remove upload thumbnails older than the retention setting; storage errors are only logged."""
    store = service.recorder.store
    if store is None:
        return 0
    days = max(0, int(service.settings.upload_thumbnail_days))
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    if days == 0:
        cutoff += timedelta(seconds=1)  # the thumbnail made a moment ago goes too
    try:
        return int(store.jobs.prune_upload_thumbnails(cutoff.isoformat(timespec="milliseconds")))
    except Exception as exc:  # noqa: BLE001 - a cleanup failure must not fail the critique
        log.warning("could not prune upload thumbnails: %s", exc)
        return 0


def jobs_router(service: MondrianService) -> APIRouter:
    router = APIRouter()

    @router.delete("/jobs/{job_id}")
    def delete_job(job_id: str) -> Any:
        """Delete the job, its ratings and its thumbnail."""
        store = service.recorder.store
        if store is None:
            return JSONResponse({"error": "job history is off for this service"}, status_code=503)
        if not store.jobs.delete_job(job_id):
            return JSONResponse({"error": f"no job {job_id!r}"}, status_code=404)
        return {"deleted": job_id}

    return router
