"""An unfinished run on disk: its folder, its resumable state (``run.json``), the advisor's lock.

Only rank 0 of a run (the only process of a one-Mac run) touches these files; the other processes
of a multi-Mac run receive the state from rank 0 (``training.world``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from app.engine import atomic, paths
from app.engine.advisors import validate_advisor_id

from .common import CommandError
from .hyper import Hyper

RUN_STATE = "run.json"
LOG_FILE = "training_log.jsonl"
OPTIMIZER_FILE = "optimizer.safetensors"
CHECKPOINT_STATE = "checkpoint.json"
STOP_FILE = "stop-requested"  # written by training.distributed on Cancel; rank 0 checks it every step
FINISHED_PREFIX = ".finished-"  # a published run's folder, renamed away before it is deleted


def run_dir(advisor_id: str) -> Path:
    """Where an unfinished run keeps its state, log and checkpoints."""
    return paths.ensure_private_dir(paths.data_dir() / "training") / validate_advisor_id(advisor_id)


def epoch_name(epoch: int) -> str:
    return f"epoch-{epoch:03d}"


@dataclass
class RunState:
    """The resumable state of a run (``run.json``), rewritten atomically after every epoch."""

    advisor_id: str
    model: str
    dataset_hash: str
    hyper: Hyper
    started: float = field(default_factory=time.time)
    completed_epochs: int = 0
    best_epoch: int | None = None
    best_val_loss: float | None = None
    bad_epochs: int = 0
    early_stopped: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    resumes: int = 0
    world_size: int = 1
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)  # recorded in the manifest it publishes

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hyper"] = asdict(self.hyper)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        data = dict(data)
        data["hyper"] = Hyper.from_dict(data.get("hyper", {}))
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def save(self, folder: Path) -> None:
        atomic.write_json(folder / RUN_STATE, self.to_dict())

    @classmethod
    def load(cls, folder: Path) -> RunState | None:
        file = folder / RUN_STATE
        if not file.is_file():
            return None
        try:
            return cls.from_dict(json.loads(file.read_text(encoding="utf-8")))
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: the saved run is unreadable ({exc}); start a new run without --resume") \
                from None


def discard_run(folder: Path) -> None:
    """Remove a published run's folder: first renamed away (one atomic step: a kill leaves either the
    run, whose publish the next run then finishes, or a hidden leftover), then deleted."""
    if not folder.exists():
        return
    trash = folder.with_name(f"{FINISHED_PREFIX}{folder.name}-{int(time.time() * 1000)}")
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def clean_finished_runs(advisor_id: str) -> int:
    """Delete the leftovers of :func:`discard_run` that a kill interrupted; returns how many."""
    parent = run_dir(advisor_id).parent
    pattern = re.compile(rf"^{re.escape(FINISHED_PREFIX + advisor_id)}-\d+$")
    n = 0
    for child in parent.iterdir() if parent.is_dir() else ():
        if pattern.match(child.name) and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
            n += 1
    return n


def resumable(advisor_id: str) -> RunState | None:
    """The unfinished run that ``--resume`` would continue (at least one finished epoch), if any."""
    try:
        state = RunState.load(run_dir(advisor_id))
    except CommandError:
        return None
    return state if state is not None and state.completed_epochs > 0 else None


@contextlib.contextmanager
def advisor_lock(advisor_id: str) -> Iterator[None]:
    """One training run per advisor at a time (an OS file lock: it dies with the process)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    path = paths.ensure_private_dir(paths.data_dir() / "training") / f".{validate_advisor_id(advisor_id)}.lock"
    with open(path, "a+", encoding="ascii") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise CommandError(f"another training run for advisor {advisor_id!r} is in progress (pid {holder})") \
                from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
