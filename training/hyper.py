"""The hyperparameters of a LoRA run, declared once: defaults, help, limits, command-line flags.

``train_lora``'s argparse options, the Training tab's spin boxes and the values saved with a run
all come from the field metadata below (like mlx-lm's ``TrainingArgs``), so a default or a limit
is changed in one place. ``--config FILE`` (JSON or TOML, keys = field names) gives values too:
defaults < config file < flags on the command line.
"""

from __future__ import annotations

import argparse
import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


class HyperError(ValueError):
    """A hyperparameter or config file that cannot be used (names the flag or file)."""


def _f(default: Any, help: str, *, label: str = "", low: float | None = None, high: float | None = None,
       step: float | None = None, gui: bool = False) -> Any:
    meta = {"help": help, "label": label, "low": low, "high": high, "step": step, "gui": gui}
    if isinstance(default, list) or default is list:
        return field(default_factory=list, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Hyper:
    """Everything that shapes the adapter; saved with the run and in the version's manifest.

    ``batch_size`` is the *global* batch: in a run over several Macs each of the N processes
    takes ``batch_size / N`` rows of every batch and the gradients are averaged, so one step
    sees the same rows and takes the same step size at any number of Macs.
    """

    epochs: int = _f(5, "passes over the training rows", label="Epochs", low=1, high=100, gui=True)
    rank: int = _f(8, "LoRA rank", label="LoRA rank", low=1, high=128, gui=True)
    alpha: float | None = _f(None, "LoRA alpha; scale = alpha/rank (default 2 x rank)", low=1e-6)
    dropout: float = _f(0.05, "LoRA dropout", label="Dropout", low=0.0, high=0.9, step=0.05, gui=True)
    lr: float = _f(5e-5, "Adam learning rate", label="Learning rate", low=1e-6, high=10.0, step=1e-5, gui=True)
    batch_size: int = _f(1, "global batch size (rows per optimizer step, summed over all Macs)",
                         label="Batch size", low=1, high=64, gui=True)
    grad_checkpoint: bool = _f(False, "recompute activations: less memory, slower",
                               label="Gradient checkpointing (less memory, slower)", gui=True)
    max_image_edge: int | None = _f(None, "scale training images down to this long edge", low=28)
    max_seq_length: int | None = _f(None, "refuse examples longer than this many tokens", low=2)
    patience: int = _f(2, "early stop after N epochs without a better validation loss", low=1)
    min_delta: float = _f(0.0, "smallest validation-loss drop that counts", low=0.0)
    seed: int = _f(0, "seed of the adapter's initial weights and of the shuffles")
    target_modules: list[str] | None = _f(None, "LoRA target layer names (default: mlx-vlm's choice)")
    max_steps: int | None = _f(None, "a quick try: at most N optimizer steps per epoch (one epoch unless --epochs "
                                     "is given)", low=1)

    def __post_init__(self) -> None:
        if self.alpha is None:
            self.alpha = 2.0 * self.rank

    def validate(self, world_size: int = 1) -> None:
        """Raise :class:`HyperError` naming the flag whose value cannot be used."""
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if value is None or isinstance(value, (bool, list)):
                continue
            flag = flag_name(f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise HyperError(f"{flag} must be a finite number, not {value}")
            if meta.get("low") is not None and value < meta["low"]:
                raise HyperError(f"{flag} must be at least {meta['low']:g}, not {value:g}")
            if meta.get("high") is not None and value > meta["high"]:
                raise HyperError(f"{flag} must be at most {meta['high']:g}, not {value:g}")
        if not 0 <= self.dropout < 1:
            raise HyperError("--dropout must be in [0, 1)")
        if self.batch_size % world_size:
            raise HyperError(f"--batch-size {self.batch_size} must divide by the {world_size} processes of the "
                             f"run (each takes an equal share of every batch)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hyper:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def gui_fields() -> list[Any]:
    """The fields the Training tab shows as spin boxes / check boxes (with label, limits, help)."""
    return [f for f in fields(Hyper) if f.metadata.get("gui")]


def default(name: str) -> Any:
    return getattr(Hyper(), name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per field; unset options stay absent so the config file can fill them."""
    defaults = Hyper()
    for f in fields(Hyper):
        flag, help_text = flag_name(f.name), f.metadata["help"]
        shown = getattr(defaults, f.name) if f.name != "alpha" else None
        if shown is not None and not isinstance(shown, list):
            help_text += f" (default {shown})"
        kind = _kind(f)
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=argparse.SUPPRESS, help=help_text)
        elif kind is list:
            parser.add_argument(flag, nargs="+", default=argparse.SUPPRESS, help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=help_text)
    parser.add_argument("--config", type=Path, help="JSON or TOML file of hyperparameters (flags override it)")


def _kind(f: Any) -> type:
    text = str(f.type)
    for name, kind in (("bool", bool), ("list", list), ("int", int), ("float", float)):
        if text.startswith(name) or text.startswith(f"{name} "):
            return kind
    return str


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The hyperparameters set on the command line (not the defaults)."""
    return {f.name: getattr(args, f.name) for f in fields(Hyper) if hasattr(args, f.name)}


def load_config(path: Path) -> dict[str, Any]:
    """A config file's hyperparameters, checked against the field names and types."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except OSError as exc:
        raise HyperError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise HyperError(f"{path}: not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'} ({exc})") \
            from None
    if not isinstance(data, dict):
        raise HyperError(f"{path}: the config file must hold a table of hyperparameters")
    known = {f.name: f for f in fields(Hyper)}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in known:
            raise HyperError(f"{path}: unknown hyperparameter {key!r} (known: {', '.join(known)})")
        kind = _kind(known[name])
        ok = value is None or isinstance(value, kind) or (kind is float and isinstance(value, int))
        if not ok or (kind is not bool and isinstance(value, bool)):
            raise HyperError(f"{path}: {key} must be {kind.__name__}, not {value!r}")
    return {k.replace("-", "_"): v for k, v in data.items()}


def from_args(args: argparse.Namespace) -> Hyper:
    """Defaults < ``--config`` < flags."""
    values = load_config(args.config) if getattr(args, "config", None) else {}
    values |= given(args)
    return Hyper.from_dict(values)


def to_argv(hyper: Hyper) -> list[str]:
    """The flags that reproduce ``hyper`` (for the command lines training builds for the GUI)."""
    defaults = Hyper(rank=hyper.rank)
    argv: list[str] = []
    for f in fields(Hyper):
        value = getattr(hyper, f.name)
        if value == getattr(defaults, f.name) and f.name not in ("epochs", "rank", "lr", "batch_size"):
            continue
        if value is None:
            continue
        flag = flag_name(f.name)
        if isinstance(value, bool):
            argv += [flag] if value else []
        elif isinstance(value, list):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return argv
