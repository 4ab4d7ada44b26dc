"""``gui [PHOTO ...]``: open the desktop app, critiquing the given photos (as "Open With" does)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the desktop app (optionally with photos to critique)")
    p.add_argument("photos", nargs="*", help="photos to critique when the window opens")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 2, with what is missing, when no window can open here (Qt itself would abort)."""
    import sys

    from app.commands.display import display_problem

    problem = display_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from app.ui.main import run_gui

    return run_gui(list(args.photos))
