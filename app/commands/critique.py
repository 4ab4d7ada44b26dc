"""``critique PHOTO [PHOTO ...]``: a report per photo; a bad photo is one line and a non-zero exit.

``--advisor all`` (or a comma list such as ``ansel,fan_ho``) is an advisor panel: every advisor's
report on each photo, decoded in one batch on one encoding of the photo, then the scores per
dimension side by side with their spread and one line each for agreements and disagreements.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from typing import TypeVar

from app.engine.settings import cli_type
from app.engine.store.path_text import json_safe

T = TypeVar("T")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("critique", help="critique one or more photos")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.add_argument("--advisor", default=None, help="advisor id (see `advisors`), a comma list or `all` for a panel; "
                   "default from settings")
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
    if reason.startswith(f"{photo}: "):  # the engine's message already names the file
        reason = reason[len(photo) + 2:]
    print(f"error: {photo}: {reason}", file=sys.stderr)
    if as_json:
        print(json.dumps(json_safe({"photo": photo, "ok": False, "error": reason}), ensure_ascii=False))


class _Photos:
    """The photos of one command, tried in turn through the one error ladder (single critiques and
    panels): an error that means nothing can run stops the command with its status; any other
    fails that photo only (named on stderr) and the others go on."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.failures = 0
        self.stopped: int | None = None

    def each(self, photos: list[str], attempt: Callable[[str], T]) -> Iterator[tuple[str, T]]:
        from app.commands.exits import cannot_run, cannot_run_errors

        for photo in photos:
            try:
                outcome = attempt(photo)
            except Exception as exc:  # noqa: BLE001 - a photo that fails must not stop the others
                if isinstance(exc, cannot_run_errors()):
                    self.stopped = cannot_run(str(exc), self.as_json, photo=photo)
                    return
                _fail(photo, str(exc) or type(exc).__name__, self.as_json)
                self.failures += 1
                continue
            yield photo, outcome

    def status(self) -> int:
        """2 when stopped, 1 when some photo got no report, else 0."""
        return self.stopped if self.stopped is not None else 1 if self.failures else 0


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every photo got a report; 1 when some did not (one stderr line each); 2 when
    nothing can run (see :mod:`app.commands.exits`: unknown advisor or mode, a model named that is
    not here, a mode named that cannot run, a broken adapter asked for by name).

    With --json, stdout is JSON lines: one object per photo given, in order, ``"ok"`` telling
    which got a report (a failed one is ``{"photo", "ok": false, "error"}``; one that stops the
    command adds ``"cannot_run": true``)."""
    from app.commands.exits import check_named_model
    from app.engine.critique.export import to_text
    from app.engine.service import MondrianService
    from app.engine.settings import load_settings

    if (status := check_named_model(args.model, args.json)) is not None:
        return status
    settings = load_settings()
    if args.max_tokens:
        settings.max_tokens = args.max_tokens
    if args.no_constrain:
        settings.constrained_decoding = False
    if args.no_grounding:
        settings.grounding = False
    service = MondrianService(settings, model_ref=args.model, strict_modes=True)
    advisor = args.advisor or settings.default_advisor
    mode = args.mode or settings.default_mode

    def echo(_request_id: str, text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    on_token = echo if args.stream else None
    panel = _panel_ids(service, advisor)
    if panel is not None:
        try:
            return _run_panel(service, args, panel, mode)
        finally:
            service.close()
    run = _Photos(args.json)
    notice_shown = False
    try:
        for photo, result in run.each(args.photos, lambda p: service.critique(p, advisor, mode, on_token=on_token)):
            if args.stream:
                sys.stderr.write("\n")
            if result.notice and not notice_shown:
                print(f"note: {result.notice}", file=sys.stderr)
                notice_shown = True
            if not result.ok:
                run.failures += 1
                print(f"error: {photo}: no report: {'; '.join(result.parse_problems) or 'no output'}", file=sys.stderr)
            if args.json:
                print(json.dumps(json_safe({"ok": result.ok, **result.to_dict()}), ensure_ascii=False))
            else:
                print(to_text(result) + "\n")
    finally:
        service.close()
    return run.status()


def _panel_ids(service: object, advisor: str) -> list[str] | None:
    """The advisors of a panel (``all`` or a comma list), or None for a single advisor."""
    if advisor.strip().lower() == "all":
        return list(service.advisors())  # type: ignore[attr-defined]
    if "," in advisor:
        return [a.strip() for a in advisor.split(",") if a.strip()]
    return None


def _run_panel(service: object, args: argparse.Namespace, advisor_ids: list[str], mode: str) -> int:
    """Each photo before the whole panel; exit status as for one advisor (1: some report missing)."""
    from app.commands.exits import cannot_run
    from app.engine.advisors import AdvisorError, get_advisor
    from app.engine.critique.export import to_text
    from app.engine.critique.panel import summarize_panel
    from app.engine.critique.result import CritiqueResult
    from app.engine.service import MondrianService

    assert isinstance(service, MondrianService)
    try:
        names = {a: get_advisor(a).name for a in advisor_ids}
    except AdvisorError as exc:
        return cannot_run(str(exc), args.json)

    last = [-1]

    def echo(index: int, text: str) -> None:  # rows interleave: name the advisor when it changes
        if index != last[0]:
            sys.stderr.write(f"\n[{advisor_ids[index]}] ")
            last[0] = index
        sys.stderr.write(text)
        sys.stderr.flush()

    run = _Photos(args.json)
    def panel(photo: str) -> list[CritiqueResult]:
        return service.critique_panel(photo, advisor_ids, mode, on_token=echo if args.stream else None)

    for photo, results in run.each(args.photos, panel):
        if args.stream:
            sys.stderr.write("\n")
        missing = [r for r in results if not r.ok]
        run.failures += bool(missing)
        for r in missing:
            print(f"error: {photo}: no report from {r.advisor_id}: {'; '.join(r.parse_problems) or 'no output'}",
                  file=sys.stderr)
        summary = summarize_panel({r.advisor_id: r.report for r in results}, names)
        if args.json:
            print(json.dumps(json_safe({"photo": photo, "ok": not missing, "panel": summary.to_dict(),
                                        "results": [r.to_dict() for r in results]}), ensure_ascii=False))
            continue
        for r in results:
            print(to_text(r) + "\n")
        rows = summary.table()
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        print(f"Panel on {photo}")
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        print(summary.agreements)
        print(summary.disagreements + "\n")
    return run.status()
