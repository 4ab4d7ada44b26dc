"""``index --advisor ID [--folder DIR]``: profile an advisor's reference photos for RAG.

With ``--folder`` the folder's photos are first copied (``--link``: symbolically linked, never
hard-linked) into the advisor's references; the originals are only read, and links that lead out
of the folder are skipped unless ``--follow-links``. Re-running profiles only new or changed photos and
drops the profiles of removed ones. Exit 1 when a photo could not be indexed (it is listed).
"""

from __future__ import annotations

import argparse
import json
import sys

from app.engine.settings import cli_type


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="profile an advisor's reference photos (for the rag mode)")
    p.add_argument("--advisor", required=True, help="advisor id (see `advisors`)")
    p.add_argument("--folder", default=None, metavar="DIR",
                   help="import this folder's photos into the references first (mirrored on re-runs)")
    p.add_argument("--link", action="store_true",
                   help="symbolic links to the photos instead of copies (no extra space; a moved photo drops out)")
    p.add_argument("--follow-links", action="store_true",
                   help="also import photos reached through symbolic links that lead out of --folder")
    p.add_argument("--model", default=None, help="Hugging Face repo id or local model folder")
    p.add_argument("--max-tokens", type=cli_type("max_tokens", "--max-tokens"), default=None)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress (a bar on a terminal, else JSON lines on stderr)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.engine.advisors import AdvisorError, get_advisor
    from app.engine.model.host import ModelHost
    from app.engine.model.source import ModelNotAvailableError
    from app.engine.photos.decode import ImageLoadError
    from app.engine.rag.index import ReferenceIndex, references_root
    from app.engine.settings import load_settings
    from app.engine.store.database import StoreError, open_default_store

    settings = load_settings()
    if args.model:
        settings.model = args.model
    if args.max_tokens:
        settings.max_tokens = args.max_tokens
    try:
        advisor = get_advisor(args.advisor)
    except AdvisorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from app.commands.progress import ProgressOut

    out = ProgressOut("indexing", "photo", as_json=args.json, quiet=args.quiet)

    def progress(done: int, total: int, path: str, outcome: str) -> None:
        out.update(done, total, f"{outcome} {path}")

    host = ModelHost(settings.model)
    try:
        with open_default_store() as store:
            summary = ReferenceIndex(host, settings, store).update(advisor.id, args.folder, on_progress=progress,
                                                                   link=args.link, follow_links=args.follow_links)
    except ImageLoadError as exc:  # the --folder itself is missing or not a folder
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ModelNotAvailableError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        out.close()
        host.shutdown()
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False))
    else:
        counts = summary.counts()
        print(f"{advisor.id}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
              + f" (references in {references_root(advisor.id)})")
        for path, reason in summary.failed:
            print(f"failed: {path}: {reason}")
        for path, reason in summary.imported.skipped if summary.imported else ():
            print(f"skipped: {path}: {reason}")
    return 1 if summary.failed else 0
