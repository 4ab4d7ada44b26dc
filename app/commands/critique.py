"""``critique PHOTO [PHOTO ...]``: a report per photo; a bad photo is one line and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import sys

from app.engine.settings import cli_type


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("critique", help="critique one or more photos")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.add_argument("--advisor", default=None, help="advisor id (see `advisors`); default from settings")
    p.add_argument("--mode", default=None, help="auto, baseline, rag, lora or technical (no model)")
    p.add_argument("--model", default=None, help="Hugging Face repo id or local model folder")
    p.add_argument("--json", action="store_true", help="print JSON lines, one object per photo (\"ok\" says "
                   "whether it got a report)")
    p.add_argument("--max-tokens", type=cli_type("max_tokens", "--max-tokens"), default=None)
    p.add_argument("--no-constrain", action="store_true", help="let the model write freely (no JSON schema)")
    p.add_argument("--no-grounding", action="store_true", help="do not put measured facts into the prompt")
    p.add_argument("--stream", action="store_true", help="print tokens as they are generated (stderr)")
    p.set_defaults(func=run)


def _fail(photo: str, reason: str, as_json: bool) -> None:
    """One line on stderr naming the photo and why; with --json, also its object on stdout."""
    print(f"error: {photo}: {reason}", file=sys.stderr)
    if as_json:
        print(json.dumps({"photo": photo, "ok": False, "error": reason}, ensure_ascii=False))


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every photo got a report; 1 when some did not (one stderr line each); 2 when
    nothing can run (unknown advisor or mode, no such model, a broken adapter asked for by name).

    With --json, stdout is JSON lines: one object per photo given, in order, ``"ok"`` telling
    which got a report (a failed one is ``{"photo", "ok": false, "error"}``)."""
    from app.engine.adapters.manager import AdapterError
    from app.engine.advisors import AdvisorError
    from app.engine.critique.export import to_text
    from app.engine.model.source import ModelNotAvailableError
    from app.engine.service import MondrianService
    from app.engine.settings import load_settings
    from app.engine.vocabulary import UnknownModeError

    settings = load_settings()
    if args.max_tokens:
        settings.max_tokens = args.max_tokens
    if args.no_constrain:
        settings.constrained_decoding = False
    if args.no_grounding:
        settings.grounding = False
    service = MondrianService(settings, model_ref=args.model)
    advisor = args.advisor or settings.default_advisor
    mode = args.mode or settings.default_mode

    def echo(_request_id: str, text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    on_token = echo if args.stream else None
    failures = 0
    notice_shown = False
    try:
        for photo in args.photos:
            try:
                result = service.critique(photo, advisor, mode, on_token=on_token)
            except (AdvisorError, UnknownModeError, ModelNotAvailableError, AdapterError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            except Exception as exc:  # noqa: BLE001 - a photo that fails must not stop the others
                _fail(photo, str(exc) or type(exc).__name__, args.json)
                failures += 1
                continue
            if args.stream:
                sys.stderr.write("\n")
            if result.notice and not notice_shown:
                print(f"note: {result.notice}", file=sys.stderr)
                notice_shown = True
            if not result.ok:
                failures += 1
                print(f"error: {photo}: no report: {'; '.join(result.parse_problems) or 'no output'}", file=sys.stderr)
            if args.json:
                print(json.dumps({"ok": result.ok, **result.to_dict()}, ensure_ascii=False))
            else:
                print(to_text(result) + "\n")
    finally:
        service.close()
    return 1 if failures else 0
