"""Command-line flags in kebab-case, with the older snake_case spellings as hidden aliases.

``--model-mode`` is documented and shown in ``--help``; ``--model_mode`` still works (scripts
written for the Flask service Mondrian replaced keep running) but is not listed.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_flag(parser: argparse.ArgumentParser, flag: str, **kwargs: Any) -> None:
    """Add ``flag`` (``--kebab-case``) and, when it has a dash, its ``--snake_case`` twin, hidden."""
    dest = kwargs.pop("dest", flag.lstrip("-").replace("-", "_"))
    parser.add_argument(flag, dest=dest, **kwargs)
    alias = "--" + flag.lstrip("-").replace("-", "_")
    if alias != flag:
        hidden = {k: v for k, v in kwargs.items() if k in ("type", "choices", "action", "nargs", "metavar")}
        parser.add_argument(alias, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **hidden)
