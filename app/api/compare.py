"""``POST /compare``: the engine's comparisons over HTTP (app/engine/compare.py).

Multipart ``image``, ``advisor``, ``mode`` and ``blind``:

* default: base vs fine-tuned on the advisor's active adapter, in the pipeline ``mode`` resolves to:
  ``{"pair_id", "base": result, "fine_tuned": result, "deltas": {dimension: tuned - base}}``; the two
  jobs are linked (``GET /jobs/{id}`` shows either, ``details.pair_id`` links them);
* ``blind=true``: one blind A/B critique, the arm drawn with the settings' split: the result with
  which model wrote it hidden (``model_used``, ``effective_mode``, ``adapter_version`` say
  ``hidden``); rate it with ``POST /jobs/{job_id}/rating``, read the arm with ``GET /jobs/{job_id}``.

The upload goes through the same admission as ``/analyze`` (queue slot, one decode at a time,
cancelled when the client hangs up), and is decoded once for both arms.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from app.api.uploads import Admission, Busy, FormError, advisor_and_mode, run_until_disconnect
from app.engine.adapters.manager import AdapterError
from app.engine.compare import ComparisonError
from app.engine.model.cancel import CancelScope
from app.engine.model.host import CancelledError
from app.engine.photos.decode import ImageLoadError
from app.engine.service import MondrianService
from app.engine.vocabulary import UnknownModeError

log = logging.getLogger(__name__)

HIDDEN = "hidden"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def register_compare(app: FastAPI, service: MondrianService, admission: Admission) -> None:
    """Add ``POST /compare`` to ``app``."""

    @app.post("/compare")
    async def compare(request: Request,
                      image: Annotated[UploadFile, File(description="the photo (JPEG, PNG, TIFF, WebP, HEIC)")],
                      advisor: Annotated[str | None, Form(max_length=200)] = None,
                      mode: Annotated[str | None, Form(max_length=200)] = None,
                      blind: Annotated[str | None, Form(max_length=10)] = None) -> Any:
        flag = (blind or "").strip().lower()
        if flag not in _TRUE | _FALSE:
            return _error(400, f"blind must be true or false, not {blind!r}")
        try:
            chosen, requested = advisor_and_mode(service, advisor, mode)
        except FormError as exc:
            return _error(exc.status, str(exc))
        advisor_id = chosen.id
        name = Path(image.filename or "upload").name or "upload"
        try:
            service.comparisons.adapter_under_test(advisor_id)  # before the upload is decoded
            with admission.admit():
                photo, digest = await admission.prepare_async(image, name, service.settings)
                scope = CancelScope()

                def work() -> dict[str, Any]:
                    if flag in _TRUE:
                        drawn = service.blind(photo, advisor_id, requested, name=f"upload:{name}",
                                              photo_hash=digest, scope=scope)
                        shown = dataclasses.replace(drawn.result, model_used=HIDDEN, effective_mode=HIDDEN,
                                                    adapter_version=HIDDEN, fallback_reason=None)
                        return {"blind": True, "ok": shown.ok, **shown.to_dict()}
                    pair = service.compare(photo, advisor_id, requested, name=f"upload:{name}", photo_hash=digest,
                                           scope=scope)
                    return {"ok": pair.base.ok and pair.tuned.ok, "pair_id": pair.pair_id,
                            "base": pair.base.to_dict(), "fine_tuned": pair.tuned.to_dict(), "deltas": pair.deltas()}

                body = await run_until_disconnect(request, scope, work)
        except Busy as exc:
            return _error(503, str(exc), {"Retry-After": "5"})
        except ComparisonError as exc:  # no adapter to compare against, or no model
            return _error(409, str(exc))
        except (ImageLoadError, UnknownModeError) as exc:
            return _error(400, str(exc))
        except AdapterError as exc:
            return _error(409, str(exc))
        except CancelledError:
            return _error(503, "the comparison was cancelled (the client hung up or the service is shutting down)")
        except Exception as exc:  # one failed comparison must not take the server down
            log.exception("comparison of %s failed", name)
            return _error(500, f"the comparison failed: {type(exc).__name__}: {exc}")
        return JSONResponse(body, status_code=200 if body["ok"] else 502)
