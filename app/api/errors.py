"""Errors the API answers cleanly: storage faults as 507/503 JSON, anything unexpected as a JSON 500.

A full disk shows up as ``OSError(ENOSPC)`` from a file write or as SQLite's ``SQLITE_FULL``
("database or disk is full"); a read-only disk as ``EROFS`` or "attempt to write a readonly
database". They are the user's machine, not a bug: 507 (full) or 503 (read-only, locked) with a
message saying so, never a traceback in the response. The same statuses are declared for every
route in the OpenAPI schema, so clients (and the schema fuzzer) know them.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    error: str


_DESCRIPTIONS = {
    400: "bad input (the field or file is named)", 401: "missing or wrong access token",
    403: "cross-site request refused (Origin)", 404: "no such job, advisor or route",
    405: "method not allowed", 408: "the request did not arrive in time",
    409: "the fine-tuned model was asked for and cannot be used", 413: "body over the size limit",
    415: "wrong content type", 421: "Host is not a name of this server", 500: "unexpected server error",
    503: "busy, shutting down, or storage read-only", 507: "the disk is full",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in _DESCRIPTIONS.items()
}


def storage_status(exc: BaseException) -> tuple[int, str] | None:
    """(status, message) for a full / read-only / locked storage fault, None for anything else."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return 507, f"the disk is full{where}: free some space and try again (nothing was saved)"
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return 503, f"the data folder is on a read-only disk{f' ({exc.filename})' if exc.filename else ''}"
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        text = str(exc).lower()
        if code == sqlite3.SQLITE_FULL or "disk is full" in text:
            return 507, "the disk holding the database is full: free some space and try again (nothing was saved)"
        if code == sqlite3.SQLITE_READONLY or "readonly" in text:
            return 503, "the database is read-only (a read-only disk or folder); nothing was saved"
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in text:
            return 503, "the database is busy (another Mondrian is writing); try again shortly"
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Storage faults -> 507/503, everything else unexpected -> a JSON 500 (logged with its traceback)."""

    async def storage(request: Request, exc: Exception) -> JSONResponse:
        known = storage_status(exc)
        if known is None:
            return await unexpected(request, exc)
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        status, message = known
        return JSONResponse({"error": message}, status_code=status,
                            headers={"Retry-After": "30"} if status == 503 else None)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server is still up"},
                            status_code=500)

    app.add_exception_handler(OSError, storage)
    app.add_exception_handler(sqlite3.Error, storage)
    app.add_exception_handler(Exception, unexpected)
