"""``advisors``: list the critic personas."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("advisors", help="list advisors")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.engine.advisors import load_advisors

    errors: list[str] = []
    advisors = load_advisors(errors=errors)
    if args.json:
        print(json.dumps([a.to_dict() for a in advisors.values()], ensure_ascii=False, indent=2))
    else:
        for a in advisors.values():
            kind = "built-in" if a.builtin else "yours"
            print(f"{a.id:<18} {a.name} ({kind})")
    for e in errors:
        print(f"warning: {e}")
    return 0
