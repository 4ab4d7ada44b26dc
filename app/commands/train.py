"""``train prepare|lora|learn|evaluate|versions|distributed ...``: the training commands through ``mondrian``.

Each runs the training module's own ``main`` with the rest of the line (``mondrian train lora
--help`` shows its options), so ``mondrian`` is the one command a user needs; ``python -m
training.train_lora`` and the others still work the same.
"""

from __future__ import annotations

import argparse

STEPS = {
    "prepare": ("prepare_dataset", "turn a folder of your photos into a training dataset (--draft: profiles "
                                   "from the base model)"),
    "lora": ("train_lora", "train a LoRA adapter for a personal advisor and publish it as vN"),
    "learn": ("learn", "teach an advisor from your culls of reviewed shoots (--from-review ID): ORPO or SFT, "
                       "judged by agreement with your picks"),
    "evaluate": ("evaluate", "base vs fine-tuned on the held-out photos -> eval.md"),
    "versions": ("versions", "list|activate|rollback|delete|fuse an advisor's adapter versions"),
    "distributed": ("distributed", "train one advisor on several Macs (mlx.launch, ring backend)"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="personal advisors: prepare, lora, learn, evaluate, versions, distributed",
                       description="Training commands; `mondrian train STEP --help` for each step's options.")
    steps = p.add_subparsers(dest="step", metavar="STEP", required=True)
    for name, (_module, helptext) in STEPS.items():
        q = steps.add_parser(name, help=helptext, add_help=False)
        q.add_argument("rest", nargs=argparse.REMAINDER)
        q.set_defaults(func=run, step=name)


def run(args: argparse.Namespace) -> int:
    return run_step(args.step, list(args.rest))


def run_step(step: str, argv: list[str]) -> int:
    """The training module's own ``main`` on ``argv`` (its options, its ``--help``, its exit codes)."""
    from importlib import import_module

    from training.common import run_main

    module = import_module(f"training.{STEPS[step][0]}")
    return run_main(module.main, argv)
