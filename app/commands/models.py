"""``download [MODEL]`` and ``model-info``: getting the vision-language model onto this machine."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download a model from Hugging Face (needs internet)")
    p.add_argument("model", nargs="?", default=None, help="repo id (default: the default model)")
    p.set_defaults(func=run_download)
    p = sub.add_parser("model-info", help="say which model is configured and whether it is on disk")
    p.add_argument("--model", default=None)
    p.set_defaults(func=run_info)


def run_download(args: argparse.Namespace) -> int:
    from app.engine.model.source import ModelNotAvailableError, download_model

    def progress(done: int, total: int) -> None:
        sys.stderr.write(f"\r{done / 1e6:8.1f} / {total / 1e6:.1f} MB")

    try:
        path = download_model(args.model, progress)
    except ModelNotAvailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"\nmodel ready at {path}")
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
