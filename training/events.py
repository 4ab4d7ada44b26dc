"""The JSON-lines progress protocol of the training commands, typed once for writer and reader.

``train_lora``, ``prepare_dataset --jsonl``, ``evaluate --jsonl`` and ``training.distributed``
print one JSON object per line on stdout (``{"event": kind, "time": ..., ...}``); the GUI reads
them from its QProcess. Both sides use these dataclasses: the writer builds an event (an unknown
field is a TypeError at once, not a silently missing value in the GUI), the reader turns a line
back into the same class with :func:`parse_event`. Unknown keys from a newer writer are ignored
and absent ones take their defaults, so old and new processes still talk. The human description
of every event is ``training/PROGRESS.md``. Qt-free: ``app.ui.training.training_process`` imports it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar


@dataclass
class Event:
    """Base of every event: ``kind`` is the ``event`` value on the wire."""

    kind: ClassVar[str] = ""
    time: float = field(default_factory=lambda: round(time.time(), 3), kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return clean({"event": self.kind, **asdict(self)})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


EVENTS: dict[str, type[Event]] = {}


def event(cls: type[Event]) -> type[Event]:
    """Register an event class under its ``kind``."""
    EVENTS[cls.kind] = cls
    return cls


# ---- train_lora -----------------------------------------------------------------------------------
@event
@dataclass
class Note(Event):
    kind: ClassVar[str] = "note"
    message: str = ""


@event
@dataclass
class Start(Event):
    kind: ClassVar[str] = "start"
    advisor_id: str = ""
    model: str = ""
    dataset: str = ""
    dataset_hash: str = ""
    train_rows: int = 0
    val_rows: int = 0
    epochs: int = 0
    steps_per_epoch: int = 0
    start_epoch: int = 1
    resumed: bool = False
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    world_size: int = 1


@event
@dataclass
class ModelLoaded(Event):
    kind: ClassVar[str] = "model_loaded"
    model: str = ""
    path: str = ""
    seconds: float = 0.0
    quantized: bool = False
    resumed_from: str | None = None


@event
@dataclass
class MemoryEstimateEvent(Event):
    kind: ClassVar[str] = "memory_estimate"
    weights_gb: float = 0.0
    adapter_gb: float = 0.0
    activations_gb: float = 0.0
    logits_gb: float = 0.0
    vision_gb: float = 0.0
    overhead_gb: float = 0.0
    total_gb: float = 0.0
    budget_gb: float | None = None
    sequence_tokens: int = 0
    batch_size: int = 1
    grad_checkpoint: bool = False
    fits: bool = True
    trainable_parameters: int = 0


@event
@dataclass
class Refused(Event):
    kind: ClassVar[str] = "refused"
    reason: str = ""
    message: str = ""
    estimate: dict[str, Any] = field(default_factory=dict)


@event
@dataclass
class Step(Event):
    kind: ClassVar[str] = "step"
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    epochs: int = 0
    loss: float | None = None
    tokens_per_s: float = 0.0
    step_time_s: float = 0.0
    peak_memory_gb: float = 0.0
    learning_rate: float = 0.0
    eta_s: float | None = None


@event
@dataclass
class Epoch(Event):
    kind: ClassVar[str] = "epoch"
    epoch: int = 0
    epochs: int = 0
    train_loss: float | None = None
    val_loss: float | None = None
    best_epoch: int | None = None
    best_val_loss: float | None = None
    improved: bool = False
    checkpoint: str = ""
    seconds: float = 0.0
    eta_s: float | None = None


@event
@dataclass
class EarlyStop(Event):
    kind: ClassVar[str] = "early_stop"
    epoch: int = 0
    best_epoch: int | None = None
    patience: int = 0
    message: str = ""


@event
@dataclass
class Stopped(Event):
    kind: ClassVar[str] = "stopped"
    signal: str = ""
    last_checkpoint_epoch: int | None = None
    resumable: bool = False
    message: str = ""


@event
@dataclass
class Published(Event):
    kind: ClassVar[str] = "published"
    advisor_id: str = ""
    version: str = ""
    path: str = ""
    active: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)
    recovered: bool = False  # a publish a kill interrupted, finished by this run (not published again)


@event
@dataclass
class Error(Event):
    """Bad input (code 2), a lost peer in a distributed run (``reason`` "peer_lost"), a crash (1)."""

    kind: ClassVar[str] = "error"
    message: str = ""
    code: int = 1
    reason: str = ""


# ---- prepare_dataset / evaluate -------------------------------------------------------------------
@event
@dataclass
class Skipped(Event):
    kind: ClassVar[str] = "skipped"
    file: str = ""
    reason: str = ""


@event
@dataclass
class Drafted(Event):
    kind: ClassVar[str] = "drafted"
    file: str = ""


@event
@dataclass
class Saved(Event):
    kind: ClassVar[str] = "saved"
    advisor_id: str = ""
    path: str | None = None
    hash: str = ""
    counts: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    skipped: list[Any] = field(default_factory=list)
    warnings: list[Any] = field(default_factory=list)
    drafted: list[str] = field(default_factory=list)


@event
@dataclass
class Warning(Event):  # the wire name (shadows the builtin here only)
    kind: ClassVar[str] = "warning"
    message: str = ""


@event
@dataclass
class Sample(Event):
    kind: ClassVar[str] = "sample"
    index: int = 0
    total: int = 0
    model: str = ""
    photo: str = ""
    valid: bool = False
    seconds: float = 0.0


@event
@dataclass
class Done(Event):
    kind: ClassVar[str] = "done"
    path: str = ""
    base: dict[str, Any] = field(default_factory=dict)
    fine_tuned: dict[str, Any] = field(default_factory=dict)
    comparison: dict[str, Any] = field(default_factory=dict)


@event
@dataclass
class Progress(Event):
    """How far a long step is (drafts, an index, a download): ``done`` of ``total`` and the time left."""

    kind: ClassVar[str] = "progress"
    task: str = ""
    done: int = 0
    total: int = 0
    unit: str = "photo"
    item: str = ""
    eta_s: float | None = None


# ---- training.distributed -------------------------------------------------------------------------
@event
@dataclass
class HostChecked(Event):
    """One host of a multi-Mac run, checked before launch (``problems`` empty = ready)."""

    kind: ClassVar[str] = "host_checked"
    host: str = ""
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    mondrian_version: str = ""
    mlx_version: str = ""
    memory_gb: float | None = None


def make(kind: str, **values: Any) -> Event:
    """The event ``kind`` with these fields; an unknown kind or field raises at once."""
    try:
        cls = EVENTS[kind]
    except KeyError:
        raise ValueError(f"unknown training event {kind!r}") from None
    return cls(**values)


def parse_event(line: str) -> Event | None:
    """One stdout line back into its event, or None when it is not a known event."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    cls = EVENTS.get(str(data.get("event")))
    if cls is None:
        return None
    try:
        return cls.from_dict(data)
    except TypeError:
        return None


def clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, numpy/mlx scalars become numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        try:
            return clean(value.item())
        except (TypeError, ValueError):
            return str(value)
    return value


def describe(e: Event) -> str:
    """One line for a person (the Training tab's log; no flags, no Unix times)."""
    if isinstance(e, Drafted):
        return f"drafted {e.file}"
    if isinstance(e, Skipped):
        return f"skipped {e.file}: {e.reason}"
    if isinstance(e, Saved) and "frames" in e.counts:  # learn: the culls folder (to copy to other Macs)
        return (f"culls saved to {e.path}: {e.counts['frames']} decided frames at a {e.counts.get('edge', '?')}-px "
                f"edge (hash {e.hash[:12]})")
    if isinstance(e, Saved):
        return (f"dataset saved: {e.counts.get('train', '?')} training rows, "
                f"{e.counts.get('validation', '?')} held out")
    if isinstance(e, Done):
        return f"evaluation written to {e.path}"
    if isinstance(e, Start):
        where = f" on {e.world_size} processes" if e.world_size > 1 else ""
        return (f"training {e.advisor_id}{where}: {e.train_rows} training rows, {e.val_rows} held out, "
                f"{e.epochs} epoch(s) × {e.steps_per_epoch} steps" + (f", from epoch {e.start_epoch}" if e.resumed
                                                                      else ""))
    if isinstance(e, ModelLoaded):
        return f"model loaded in {e.seconds:.1f} s" + (" (4-bit: QLoRA)" if e.quantized else "")
    if isinstance(e, HostChecked):
        return f"{e.host}: " + ("ready" if e.ok else "; ".join(e.problems))
    if isinstance(e, Stopped):
        return ("stopped after epoch " + str(e.last_checkpoint_epoch) + ": press Resume to continue"
                if e.resumable else "stopped before the first epoch finished")
    message = getattr(e, "message", "") or getattr(e, "reason", "")
    return f"{e.kind}: {message}".rstrip(": ")
