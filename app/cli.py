"""Command line: ``mondrian COMMAND ...``; no command opens the GUI; bare photo paths critique them.

Commands live in ``app/commands/``, one module each with ``register(subparsers)``; the offline
switches are set here, before anything imports transformers or huggingface_hub.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib import import_module

from app import __version__
from app.engine.model.source import configure_offline

COMMAND_MODULES = ("critique", "ask", "crop", "export", "review", "cull", "models", "advisors", "history", "index",
                   "serve", "db", "config", "train", "gui", "completion")
ONLINE_COMMANDS = {"download"}


def build_parser() -> argparse.ArgumentParser:
    from app.commands.exits import EXIT_CODES

    epilog = "exit status:\n" + "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(prog="mondrian", description="Private, offline photo critique.", epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"Mondrian {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        import_module(f"app.commands.{name}").register(sub)
    parser.set_defaults(root_parser=parser)  # `completion` walks the whole tree
    return parser


def _stdout_closed() -> int:
    """The reader went away (``mondrian history | head -2``): stop quietly, as a filter does."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # nothing more reaches the closed pipe, even at exit
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    configure_offline(online=bool(argv) and argv[0] in ONLINE_COMMANDS or None)
    parser = build_parser()
    commands = {name for action in parser._actions if isinstance(action, argparse._SubParsersAction)
                for name in action.choices}
    if not argv:
        from app.commands.display import display_problem

        problem = display_problem()
        if problem is None:
            from app.ui.main import run_gui

            return run_gui([])
        from app.engine.resources import resource_path

        print(f"note: {problem}", file=sys.stderr)
        print("No window: critiquing the bundled sample photo (pass photos to critique your own).")
        argv = ["critique", str(resource_path("samples", "sample.jpg"))]
    elif argv[0] == "train" and len(argv) > 1:
        from app.commands.train import STEPS, run_step

        if argv[1] in STEPS:  # the step parses the rest itself (its own --help and options)
            return run_step(argv[1], argv[2:])
    elif argv[0] not in commands and not argv[0].startswith("-"):
        argv = ["critique", *argv]  # `mondrian photo.jpg`
    args = parser.parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # a non-UTF-8 file name prints as its own bytes, as ls does
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (getattr(stream, "encoding", "") or "").lower().replace("-", "") == "utf8":
            reconfigure(errors="surrogateescape")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from app.engine.settings import SettingsError, SettingValueError

    try:
        return int(args.func(args) or 0)
    except (SettingsError, SettingValueError) as exc:  # a bad settings.json or option: name it, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
