"""The command lines of a training pipeline (dataset -> train -> evaluate), built by training itself.

The GUI runs these one after the other as separate processes; it does not write argv by hand.
The evaluation step names ``--version newest``: the version the training step just published.
With hosts, the training step runs on several Macs through ``mondrian train distributed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .common import NEWEST
from .hyper import Hyper, to_argv

PREPARE, TRAIN, EVALUATE = "Preparing the dataset", "Training", "Evaluating"
LEARN = "Learning from your culls"


@dataclass
class Command:
    """``python -m <module> <args>``; ``label`` is what the user sees."""

    label: str
    module: str
    args: list[str] = field(default_factory=list)

    def argv(self) -> list[str]:
        return ["-m", self.module, *self.args]


@dataclass
class PipelineOptions:
    """The dataset and evaluation choices of a pipeline (the GUI's spin boxes come from these)."""

    augment: int = field(default=0, metadata={"label": "Augmented copies", "low": 0, "high": 10, "gui": True,
                                              "help": "augmented copies per training photo"})
    val_fraction: float = field(default=0.2, metadata={"label": "Held-out share", "low": 0.05, "high": 0.5,
                                                       "step": 0.05, "gui": True,
                                                       "help": "share of photos held out for validation"})
    eval_limit: int = field(default=20, metadata={"label": "Evaluate on ≤", "low": 1, "high": 500, "gui": True,
                                                  "help": "held-out photos the evaluation generates reports for"})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineOptions:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def option_fields() -> list[Any]:
    return list(fields(PipelineOptions))


def prepare_command(advisor: str, portfolio: str, model: str, options: PipelineOptions) -> Command:
    return Command(PREPARE, "training.prepare_dataset", [
        "--advisor", advisor, "--portfolio", portfolio, "--draft", "--model", model,
        "--augment", str(options.augment), "--val-fraction", f"{options.val_fraction:g}", "--jsonl"])


def train_command(advisor: str, model: str, hyper: Hyper, *, activate: bool = True, resume: bool = False,
                  hosts: list[str] | None = None) -> Command:
    args = ["--advisor", advisor]
    if resume:
        args.append("--resume")  # the run's own model and hyperparameters
    else:
        args += ["--model", model, *to_argv(hyper)]
    if not activate:
        args.append("--no-activate")
    if hosts:
        return Command(TRAIN, "training.distributed", ["launch", "--hosts", ",".join(hosts), "--", *args])
    return Command(TRAIN, "training.train_lora", args)


def evaluate_command(advisor: str, version: str | None, options: PipelineOptions, max_tokens: int) -> Command:
    return Command(EVALUATE, "training.evaluate", [
        "--advisor", advisor, "--max-tokens", str(max_tokens), "--limit", str(options.eval_limit), "--jsonl",
        *(["--version", version] if version else [])])


def learn_default(name: str) -> Any:
    """``training.learn``'s own default for one of its options (``steps``, ``method``), so that the
    window offers what the command line does without a second copy of the number."""
    from .learn import build_parser

    return build_parser().get_default(name)


def learn_command(advisor: str, reviews: list[str], model: str, *, method: str = "orpo",
                  steps: int | None = None, activate: str | None = None) -> Command:
    """Teach ``advisor`` from the user's culls of ``reviews`` (``training.learn``): one process that
    trains, measures agreement and publishes (activating only when it agrees better, unless
    ``activate`` says ``always`` or ``never``). ``None`` keeps the command's own default."""
    return Command(LEARN, "training.learn", ["--advisor", advisor, "--from-review", *reviews,
                                             *(["--model", model] if model else []), "--method", method,
                                             *(["--steps", str(steps)] if steps is not None else []),
                                             *(["--activate", activate] if activate else [])])


def training_pipeline(advisor: str, portfolio: str, model: str, hyper: Hyper, options: PipelineOptions, *,
                      max_tokens: int, activate: bool = True, hosts: list[str] | None = None) -> list[Command]:
    """Dataset from the portfolio, training, evaluation of the version it published."""
    return [prepare_command(advisor, portfolio, model, options),
            train_command(advisor, model, hyper, activate=activate, hosts=hosts),
            evaluate_command(advisor, NEWEST, options, max_tokens)]


def resume_pipeline(advisor: str, options: PipelineOptions, *, max_tokens: int, activate: bool = True,
                    hosts: list[str] | None = None) -> list[Command]:
    """Continue the unfinished run from its last checkpoint (same dataset), then evaluate."""
    return [train_command(advisor, "", Hyper(), activate=activate, resume=True, hosts=hosts),
            evaluate_command(advisor, NEWEST, options, max_tokens)]
