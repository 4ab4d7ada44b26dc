"""Plumbing shared by the training commands: offline set-up, exit codes, JSON-lines output."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, cast

from app.engine.model.source import configure_offline
from app.engine.settings import SettingsError, SettingValueError
from app.engine.store.path_text import json_safe

from . import events

# Exit codes every training command uses (documented in training/PROGRESS.md).
EXIT_OK = 0
EXIT_ERROR = 1  # an unexpected failure (a bug, a crash in a library)
EXIT_BAD_INPUT = 2  # bad arguments, missing/corrupt dataset, unknown advisor or version, ...
EXIT_REFUSED = 3  # the configuration cannot work here (memory), or fuse on a quantized base
EXIT_PEER_LOST = 4  # a process of a multi-Mac run died or its Mac dropped out (resumable)
EXIT_DISK = 5  # the disk is full or the folder read-only (training.diskspace names it and the space needed)
EXIT_SIGINT = 130
EXIT_SIGTERM = 143

NEWEST = "newest"  # evaluate --version newest: the version the training step just published


class CommandError(Exception):
    """An error for the user: printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT, reason: str = ""):
        self.code = code
        self.reason = reason  # the error event's ``reason`` ("disk", "settings", ...)
        super().__init__(message)


def setup(verbose: bool = False) -> None:
    """Offline switches (before transformers/mlx_vlm are imported) and logging to stderr."""
    configure_offline()
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


class JsonLines:
    """Writes one event per line (``training.events``: typed, so a misspelt field fails here), flushed."""

    def __init__(self, stream: IO[str] | None, log: IO[str] | None = None):
        self.stream = stream
        self.log = log

    def emit(self, kind: str, **values: Any) -> dict[str, Any]:
        return self.write(events.make(kind, **values))

    def write(self, event: events.Event, *, log_optional: bool = False) -> dict[str, Any]:
        record = event.to_dict()
        line = json.dumps(json_safe(record), ensure_ascii=False)  # a non-UTF-8 file name shown as \xNN
        for out in (self.stream, self.log):
            if out is not None:
                try:
                    out.write(line + "\n")
                    out.flush()
                except OSError:
                    if out is self.stream or not log_optional:
                        raise
                    self.log = None  # the log's disk is full: the event still reached stdout
        return record

    def emit_error(self, message: str, code: int, reason: str = "") -> dict[str, Any]:
        """The ``error`` event: on stdout even when the log file's disk cannot take it."""
        return self.write(events.make("error", message=message, code=code, reason=reason), log_optional=True)


def flatten(tree: Any) -> list[tuple[str, Any]]:
    """``mlx.utils.tree_flatten`` typed as what it returns for a tree: (key path, leaf) pairs."""
    from mlx.utils import tree_flatten

    return cast(list[tuple[str, Any]], tree_flatten(tree))


def settings_problem(exc: SettingsError | SettingValueError) -> CommandError:
    """A bad settings file or value as the command's error (exit 2), as ``mondrian`` does."""
    return CommandError(str(exc), EXIT_BAD_INPUT, reason="settings")


@contextmanager
def reported(lines: JsonLines | None) -> Iterator[None]:
    """Errors of the block as the JSON-lines ``error`` event (same text as stderr's ``error:`` line)."""
    try:
        yield
    except (SettingsError, SettingValueError) as exc:
        error = settings_problem(exc)
        if lines is not None:
            emit_error(lines, error)
        raise error from None
    except CommandError as exc:
        if lines is not None:
            emit_error(lines, exc)
        raise


def emit_error(lines: JsonLines, exc: CommandError) -> None:
    lines.emit_error(str(exc), exc.code, exc.reason)


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a command's main, turning :class:`CommandError` (and a bad settings file) into its message and
    exit code."""
    try:
        return main(argv)
    except (SettingsError, SettingValueError) as exc:
        print(f"error: {settings_problem(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
