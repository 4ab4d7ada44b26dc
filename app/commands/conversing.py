"""What ``ask`` and ``crop`` share: the job they talk about, on the model that critiqued it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.engine.conversation.session import Conversations
    from app.engine.service import MondrianService


def add_job_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB_ID", help="the job id (or its first characters, as `history` shows)")
    p.add_argument("--photo", default=None, help="where the photo is now, if it moved since the critique")
    p.add_argument("--model", default=None, help="answer with this model (Hugging Face repo id or local model "
                   "folder) instead of the one that wrote the critique")
    p.add_argument("--json", action="store_true", help="print JSON")


def open_job(args: argparse.Namespace, *, need_model: bool = True) -> tuple[MondrianService, Conversations, str] | int:
    """(service, conversations, full job id), the service on the job's own model (``--model``
    overrides it); or the exit status after saying why not (an unknown job, the model gone)."""
    from app.commands.exits import cannot_run
    from app.engine.conversation.job_target import job_model, same_model
    from app.engine.conversation.session import Conversations
    from app.engine.model.source import is_model_available, missing_model_message
    from app.engine.service import MondrianService
    from app.engine.store.rows import JobNotFoundError

    service = MondrianService(model_ref=args.model)
    store = service.store
    try:
        if store is None:
            service.close()
            return cannot_run("the job history cannot be opened, so there is no job to talk about", args.json)
        job_id = store.jobs.resolve_job_id(args.job)
        model = job_model(store, job_id)
    except JobNotFoundError as exc:
        service.close()
        return cannot_run(f"{exc} (see `mondrian history`)", args.json)
    if not args.model and model and not same_model(model, service.settings.model):
        service.switch_model(model)
    ref = service.settings.model
    if need_model and not is_model_available(ref):
        service.close()
        whose = "the model named with --model" if args.model else f"the model that critiqued job {job_id[:8]}"
        return cannot_run(f"{whose} is not available: {missing_model_message(ref)}", args.json, job_id=job_id)
    return service, Conversations(service), job_id


def cli_words(exc: BaseException) -> str:
    """An engine error about a follow-up, with the flag that fixes it (the engine names none)."""
    from app.engine.conversation.context import PhotoMissingError

    return f"{exc} (--photo PATH)" if isinstance(exc, PhotoMissingError) else str(exc)
