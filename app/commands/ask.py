"""``ask JOB_ID "question"``: a follow-up on a stored critique, streamed in the advisor's voice.

Without a question (or with ``--interactive``) it reads questions line by line until an empty
line or end of input; Ctrl-C stops the answer being written (what streamed is kept) and the next
question can follow. ``--photo PATH`` locates a photo that moved since the critique.
"""

from __future__ import annotations

import argparse
import json
import sys

from app.engine.settings import cli_type


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="ask the advisor a follow-up question about a critique (see `history`)")
    p.add_argument("job", metavar="JOB_ID", help="the job id (or its first characters, as `history` shows)")
    p.add_argument("question", nargs="?", default=None, help="the question; none: interactive")
    p.add_argument("-i", "--interactive", action="store_true", help="ask several questions, one per line")
    p.add_argument("--photo", default=None, help="where the photo is now, if it moved since the critique")
    p.add_argument("--max-tokens", type=cli_type("max_tokens", "--max-tokens"), default=None,
                   help="longest answer in tokens (default 400; the model's context may lower it)")
    p.add_argument("--show", action="store_true", help="print the conversation so far and exit")
    p.add_argument("--json", action="store_true", help="print each answer as a JSON object")
    p.add_argument("--model", default=None, help="Hugging Face repo id or local model folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every question got an answer; 1 when one failed or was refused; 2 for an unknown job."""
    from app.engine.conversation.context import ConversationError
    from app.engine.conversation.session import Conversations
    from app.engine.model.cancel import CancelScope
    from app.engine.model.host import CancelledError
    from app.engine.photos.decode import ImageLoadError
    from app.engine.service import MondrianService
    from app.engine.store.rows import JobNotFoundError

    service = MondrianService(model_ref=args.model)
    talk = Conversations(service)
    try:
        try:
            job_id = service.store.resolve_job_id(args.job) if service.store else args.job
            turns = talk.turns(job_id)
        except JobNotFoundError as exc:
            print(f"error: {exc} (see `python -m app history`)", file=sys.stderr)
            return 2
        if args.show:
            for turn in turns:
                print(f"you: {turn.question}\n{service.store.get_job(job_id).advisor_id if service.store else ''}: "
                      f"{turn.answer.strip()}" + ("" if turn.done else f"  [{turn.status}]"))
            return 0
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
            except (ConversationError, ImageLoadError) as exc:
                print(f"error: {exc}", file=sys.stderr)
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
