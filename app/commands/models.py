"""``download [MODEL]`` and ``model-info``: getting the vision-language model onto this machine."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download a model from Hugging Face (needs internet)")
    p.add_argument("model", nargs="?", default=None, help="repo id (default: the default model)")
    p.add_argument("--json", action="store_true", help="progress as JSON lines on stderr, the result as JSON")
    p.set_defaults(func=run_download)
    p = sub.add_parser("model-info", help="say which model is configured and whether it is on disk")
    p.add_argument("--model", default=None)
    p.set_defaults(func=run_info)


def run_download(args: argparse.Namespace) -> int:
    """Exit 0 with the model on disk; 1 when the download failed (network, disk, no such repo)."""
    import json

    from app.commands.progress import ProgressOut
    from app.engine.model.source import ModelNotAvailableError, download_model

    out = ProgressOut("downloading", "B", as_json=args.json, unit_scale=True)
    try:
        path = download_model(args.model, lambda done, total: out.update(done, total))
    except ModelNotAvailableError as exc:
        out.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out.close()
    print(json.dumps({"ok": True, "path": str(path)}) if args.json else f"model ready at {path}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from app.engine.model.source import ModelNotAvailableError, resolve_model
    from app.engine.settings import load_settings

    ref = args.model or load_settings().model
    try:
        print(f"{ref}: on disk at {resolve_model(ref)}")
    except ModelNotAvailableError as exc:
        print(str(exc))
        return 1
    return 0
