"""Plumbing shared by the training commands: offline set-up, exit codes, JSON-lines output."""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from app.engine.model.source import configure_offline

# Exit codes every training command uses (documented in training/PROGRESS.md).
EXIT_OK = 0
EXIT_ERROR = 1  # an unexpected failure (a bug, a crash in a library)
EXIT_BAD_INPUT = 2  # bad arguments, missing/corrupt dataset, unknown advisor or version, ...
EXIT_REFUSED = 3  # the configuration cannot work here (memory), or fuse on a quantized base
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class CommandError(Exception):
    """An error for the user: printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT):
        self.code = code
        super().__init__(message)


def setup(verbose: bool = False) -> None:
    """Offline switches (before transformers/mlx_vlm are imported) and logging to stderr."""
    configure_offline()
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, numpy/mlx scalars become numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        try:
            return _clean(value.item())
        except (TypeError, ValueError):
            return str(value)
    return value


class JsonLines:
    """Writes one JSON object per line (``{"event": ..., "time": ...}``), flushed at once."""

    def __init__(self, stream: IO[str], log: IO[str] | None = None):
        self.stream = stream
        self.log = log

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        record = _clean({"event": event, "time": round(time.time(), 3), **fields})
        line = json.dumps(record, ensure_ascii=False)
        for out in (self.stream, self.log):
            if out is not None:
                out.write(line + "\n")
                out.flush()
        return record


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a command's main, turning :class:`CommandError` into its message and exit code."""
    try:
        return main(argv)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
