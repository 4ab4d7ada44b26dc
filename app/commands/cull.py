"""``mondrian cull REVIEW_ID [FILE ...]``: pick, reject, star and label a review's frames from a terminal.

The same journal as the window's P / X / 1-5 / 6-9 keys (``app.engine.review.culling.cull``), so a
cull made here shows in the Review view, is undone by its Undo (and the other way round), and is
what ``mondrian train learn --from-review`` learns from. Without a change it lists the decisions.

    mondrian cull REVIEW_ID IMG_0001.CR3 IMG_0002.CR3 --pick --stars 4
    mondrian cull REVIEW_ID IMG_0003.CR3 --reject
    mondrian cull REVIEW_ID --undo
    mondrian cull REVIEW_ID --json          # every frame's flag, stars and label
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.commands.exits import CANNOT_RUN, OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cull", help="pick, reject, star or label frames of a review (as the window's keys do)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("review", metavar="REVIEW_ID", help="the review (`mondrian review FOLDER --json` prints its id)")
    p.add_argument("files", metavar="FILE", nargs="*",
                   help="frames: a file name, a path relative to the reviewed folder, or a full path")
    flag = p.add_mutually_exclusive_group()
    flag.add_argument("--pick", dest="flag", action="store_const", const="pick", help="flag as picked (P)")
    flag.add_argument("--reject", dest="flag", action="store_const", const="reject", help="flag as rejected (X)")
    flag.add_argument("--unflag", dest="flag", action="store_const", const="none", help="remove the flag (U)")
    p.add_argument("--stars", type=int, choices=range(6), metavar="0-5", help="star rating (0 removes it)")
    p.add_argument("--label", choices=["Red", "Yellow", "Green", "Blue", "none"], help="colour label (6-9)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--undo", action="store_true", help="undo the review's last cull step (from anywhere)")
    again.add_argument("--redo", action="store_true", help="redo the step undone last")
    p.add_argument("--json", action="store_true", help="print every frame's decision as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.engine.review.culling import CullError, cull, cull_state, undo_cull
    from app.engine.store.database import open_default_store
    from app.engine.store.path_text import display_text, json_safe

    changing = args.flag is not None or args.stars is not None or args.label is not None
    if (args.undo or args.redo) and (changing or args.files):
        print("error: --undo and --redo run alone (no FILE, no change)", file=sys.stderr)
        return CANNOT_RUN
    if args.files and not changing:
        print("error: say what to set on those frames: --pick, --reject, --unflag, --stars N or --label COLOUR",
              file=sys.stderr)
        return CANNOT_RUN
    with open_default_store() as store:
        if store.reviews.find_review(args.review) is None:
            print(f"error: no review {args.review!r} (`mondrian review FOLDER --json` prints a review's id)",
                  file=sys.stderr)
            return CANNOT_RUN
        said: list[str] = []
        try:
            if args.undo or args.redo:
                step = undo_cull(store, args.review, redo=args.redo)
                said.append(f"{'redid' if args.redo else 'undid'}: {step.description}" if step else
                            f"nothing to {'redo' if args.redo else 'undo'}")
            elif changing:
                steps = cull(store, args.review, args.files, flag=args.flag, stars=args.stars, label=args.label)
                said += [s.description for s in steps] or ["nothing changed (the frames had those values)"]
        except CullError as exc:
            print(f"error: {display_text(str(exc))}", file=sys.stderr)
            return CANNOT_RUN
        state = cull_state(store, args.review)
    if args.json:
        print(json.dumps(json_safe({"review": args.review, "done": said, "frames": state}), indent=2))
        return OK
    for line in said:
        print(line)
    if not said:
        for frame in state:
            print(_line(frame, display_text))
    return OK


def _line(frame: dict[str, Any], shown: Any) -> str:
    flag = {"pick": "P", "reject": "X"}.get(frame["flag"] or "", " ")
    stars = "*" * int(frame["stars"] or 0)
    return f"{flag} {stars:<5} {frame['label'] or '':<6} {shown(frame['path'])}"
