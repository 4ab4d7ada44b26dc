"""``python -m training COMMAND ...``: prepare | train | learn | evaluate | versions (same as the modules)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module

from .common import run_main

COMMANDS = {
    "prepare": "prepare_dataset", "prepare_dataset": "prepare_dataset",
    "train": "train_lora", "train_lora": "train_lora",
    "evaluate": "evaluate", "versions": "versions", "learn": "learn",
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m training {prepare|train|learn|evaluate|versions} ...", file=sys.stderr)
        return 2
    module = import_module(f"training.{COMMANDS[argv[0]]}")
    return run_main(module.main, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
