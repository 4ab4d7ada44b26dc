"""``ask JOB_ID "question"``: a follow-up on a stored critique, streamed in the advisor's voice.

Without a question (or with ``--interactive``) it reads questions line by line until an empty
line or end of input; Ctrl-C stops the answer being written (what streamed is kept) and the next
question can follow. ``--photo PATH`` locates a photo that moved since the critique.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from app.engine.settings import cli_type

if TYPE_CHECKING:
    from app.engine.conversation.session import Conversations


def register(sub: argparse._SubParsersAction) -> None:
    from app.commands.conversing import add_job_arguments

    p = sub.add_parser("ask", help="ask the advisor a follow-up question about a critique (see `history`)")
    add_job_arguments(p)
    p.add_argument("question", nargs="?", default=None, help="the question; none: interactive")
    p.add_argument("-i", "--interactive", action="store_true", help="ask several questions, one per line")
    p.add_argument("--max-tokens", type=cli_type("max_tokens", "--max-tokens"), default=None,
                   help="longest answer in tokens (default 400; the model's context may lower it)")
    p.add_argument("--show", action="store_true", help="print the conversation so far and exit")
    p.set_defaults(func=run)


def show(talk: Conversations, job_id: str, as_json: bool) -> int:
    """The conversation so far, as the exports word it (a crop as its box and reason)."""
    from app.engine.critique.export import turn_answer

    job = talk.store.jobs.get_job(job_id)
    for turn in talk.turns(job_id):
        if as_json:
            print(json.dumps(turn.to_dict(), ensure_ascii=False))
            continue
        answer, note = turn_answer(turn)
        print(f"you: {turn.question}\n{job.advisor_id}: " + " ".join(p for p in (answer, f"[{note}]" if note else "")
                                                                   if p))
    return 0


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every question got an answer; 1 when one failed or was refused; 2 for an unknown
    job or a model that is not here."""
    from app.commands.conversing import cli_words, open_job
    from app.commands.exits import cannot_run, cannot_run_errors
    from app.engine.conversation.context import ConversationError
    from app.engine.model.cancel import CancelScope
    from app.engine.model.host import CancelledError
    from app.engine.photos.decode import ImageLoadError

    opened = open_job(args, need_model=not args.show)
    if isinstance(opened, int):
        return opened
    service, talk, job_id = opened
    try:
        if args.show:
            return show(talk, job_id, args.json)
        given = [args.question] if args.question else []
        interactive = args.interactive or args.question is None
        failures = 0
        while True:
            if given:
                question = given.pop(0)
            elif interactive:
                try:
                    question = input("you> ")
                except EOFError:
                    break
                if not question.strip():
                    break
            else:
                break
            scope = CancelScope()

            def echo(_rid: str, text: str) -> None:
                if not args.json:
                    sys.stdout.write(text)
                    sys.stdout.flush()

            try:
                answer = talk.ask(job_id, question, on_token=echo, scope=scope, photo=args.photo,
                                  max_tokens=args.max_tokens)
            except KeyboardInterrupt:
                scope.cancel()
                print("\n[stopped; what was written is kept]", file=sys.stderr)
                failures += 1
                continue
            except CancelledError:
                print("\n[cancelled]", file=sys.stderr)
                failures += 1
                continue
            except cannot_run_errors() as exc:
                return cannot_run(str(exc), args.json, job_id=job_id)
            except (ConversationError, ImageLoadError) as exc:
                print(f"error: {cli_words(exc)}", file=sys.stderr)
                failures += 1
                if not interactive:
                    return 1
                continue
            for notice in answer.notices:
                print(f"note: {notice}", file=sys.stderr)
            if args.json:
                print(json.dumps(answer.to_dict(), ensure_ascii=False))
            else:
                sys.stdout.write("\n")
        return 1 if failures else 0
    finally:
        service.close()
