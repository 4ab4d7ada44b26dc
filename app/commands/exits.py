"""The command line's exit statuses and the one rule for "this cannot run", shared by every command.

The rule: what you name must run as named. ``--mode auto`` (the default) is the only mode that
falls back; a mode asked for by name that cannot run (no model, no adapter, no reference photos,
a broken adapter), a model named with ``--model`` that is not on this machine, an unknown
advisor or mode, or a bad setting stop the command with status 2, one ``error:`` line on stderr
and, with ``--json``, an object ``{"ok": false, "error": ..., "cannot_run": true}`` on stdout.
"""

from __future__ import annotations

import json
import sys
from typing import Any

OK = 0
SOME_FAILED = 1  # some items (photos, questions) got no result; each is named on stderr
CANNOT_RUN = 2  # bad input or a named mode/model/advisor that cannot run; nothing was done
REFUSED = 3  # training: the configuration cannot work here (memory), or fuse on a quantized base
PEER_LOST = 4  # training on several Macs: a process or a Mac dropped out (resumable)
DISK = 5  # a full or read-only disk (training)
INTERRUPTED = 130  # Ctrl-C; what was done is kept
TERMINATED = 143  # training stopped by SIGTERM at the end of a step (resumable)

EXIT_CODES = {OK: "everything asked for was done",
              SOME_FAILED: "some items got no result (each named on an `error:` line); training: an unexpected failure",
              CANNOT_RUN: "nothing could run as asked: bad input, unknown advisor/mode/job, a model or "
                          "mode named that cannot run, a bad setting",
              REFUSED: "train lora: the configuration cannot fit in memory (or fuse on a quantized base)",
              PEER_LOST: "train lora on several Macs: a process or a Mac dropped out (resume with --resume)",
              DISK: "a full or read-only disk (training commands)",
              INTERRUPTED: "interrupted with Ctrl-C (what was done is kept)",
              TERMINATED: "train lora stopped by SIGTERM (resume with --resume)"}


def cannot_run_errors() -> tuple[type[BaseException], ...]:
    """The engine's errors that mean "nothing can run as asked" (imported when needed)."""
    from app.engine.adapters.manager import AdapterError
    from app.engine.advisors import AdvisorError
    from app.engine.model.source import ModelNotAvailableError
    from app.engine.modes.resolve import ModeUnavailableError
    from app.engine.vocabulary import UnknownModeError

    return (AdvisorError, UnknownModeError, ModelNotAvailableError, AdapterError, ModeUnavailableError)


def cannot_run(message: str, as_json: bool, **fields: Any) -> int:
    """Say why nothing can run (stderr, and a JSON object with --json); returns :data:`CANNOT_RUN`."""
    print(f"error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({**fields, "ok": False, "error": message, "cannot_run": True}, ensure_ascii=False))
    return CANNOT_RUN


def check_named_model(model_ref: str | None, as_json: bool) -> int | None:
    """A model named with --model must be on this machine: None when it is, else :data:`CANNOT_RUN`."""
    if not model_ref:
        return None
    from app.engine.model.source import is_model_available, missing_model_message

    if is_model_available(model_ref):
        return None
    return cannot_run(missing_model_message(model_ref), as_json, model=model_ref)


def check_mode_runs(service: Any, advisor_id: str, mode: str, as_json: bool) -> int | None:
    """A mode named (not ``auto``) must run as named for ``advisor_id``: None when it does, else
    :data:`CANNOT_RUN` with the reason (for commands that run many critiques, checked once first)."""
    from app.engine.vocabulary import Mode

    try:
        info = service.resolve_mode(advisor_id, mode)
    except cannot_run_errors() as exc:
        return cannot_run(str(exc), as_json)
    if info.requested in (Mode.AUTO.value, Mode.TECHNICAL.value) or info.effective == info.requested:
        return None
    return cannot_run(f"mode {info.requested} cannot run: {info.reason} (ask for --mode auto to let it fall "
                      "back)", as_json)
