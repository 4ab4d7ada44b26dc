"""``review FOLDER --advisor ID``: critique a whole shoot, rank and group it, optionally write sidecars.

Sidecars follow the photographer's policy: ``--write-sidecars TOOL`` adds Mondrian's namespace and
keywords and changes nothing else; ``--set rating,label,caption,flag`` opts in standard fields (only
where empty, unless ``--overwrite``); ``--dry-run`` lists every change; ``review --undo-sidecars``
restores the sidecars of the last write exactly (refusing, by name, any changed since).

A progress bar with an ETA goes to stderr (tqdm); the ranked summary to stdout (``--json``: one JSON
object). Ctrl-C stops at the next token: what was reviewed is kept and a re-run continues from
there (frames already reviewed with the same advisor, mode, model and adapter are skipped by
content hash). Two stages: a fast triage pass scores every frame (ranked by the expected score), then
full critiques run for the frames ``--critique POLICY`` selects (``--triage-only``: none). Exit
status: 0 all frames reviewed, 1 some frames could not be, 2 bad input,
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

CONVENTIONS = {"lightroom": "lightroom", "darktable": "darktable", "capture-one": "capture_one"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="review a whole folder (RAW included): rank, bursts, sidecars")
    p.add_argument("folder", metavar="FOLDER", nargs="?")
    p.add_argument("--advisor", default=None, help="advisor id (see `advisors`); default from settings")
    p.add_argument("--mode", default=None, help="auto, baseline, rag, lora or technical (no model)")
    p.add_argument("--recursive", action="store_true", help="include sub-folders")
    stage = p.add_mutually_exclusive_group()
    stage.add_argument("--triage-only", action="store_true",
                       help="score every frame with the fast triage pass and stop there (no full critique)")
    stage.add_argument("--critique", default=None, metavar="POLICY",
                       help="after triage, which frames get a full critique: all, none, top:N, picks, bursts, or "
                            "several joined by + (picks+top:20); default: the review_critique setting (auto: all "
                            "up to 100 frames, else picks+top:100)")
    p.add_argument("--model", default=None, help="Hugging Face repo id or local model folder")
    p.add_argument("--write-sidecars", choices=sorted(CONVENTIONS), default=None,
                   help="write XMP sidecars for this tool: Mondrian's namespace (grade, scores, summary) and "
                        "Mondrian| keywords; nothing else unless --set")
    p.add_argument("--set", dest="set_fields", default=None, metavar="FIELDS",
                   help="with --write-sidecars: also write these standard fields, comma-separated: rating, label, "
                        "caption, flag (only where empty or still Mondrian's)")
    p.add_argument("--overwrite", action="store_true",
                   help="with --set: replace the photographer's own values in those fields too")
    p.add_argument("--dry-run", action="store_true", help="with --write-sidecars: show the changes, write nothing")
    p.add_argument("--undo-sidecars", action="store_true",
                   help="restore the sidecars of the last write exactly (no review is run)")
    p.add_argument("--json", action="store_true", help="print the review and its summary as JSON")
    p.set_defaults(func=run)


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def _undo() -> int:
    from app.engine.review.export import undo_last_write
    from app.engine.store.database import open_default_store

    with open_default_store() as store:
        result = undo_last_write(store)
    print(result.describe())
    return 1 if result.refused else 0


def _policy(args: argparse.Namespace) -> Any:
    """The write policy the flags ask for; ValueError naming a wrong flag."""
    from app.engine.sidecars import WritePolicy

    if (args.set_fields or args.overwrite) and not args.write_sidecars:
        raise ValueError("--set and --overwrite need --write-sidecars TOOL")
    if args.overwrite and not args.set_fields:
        raise ValueError("--overwrite needs --set FIELDS (which fields to overwrite)")
    return WritePolicy.parse(args.set_fields, overwrite=args.overwrite)


def run(args: argparse.Namespace) -> int:
    if args.undo_sidecars:
        if args.folder or args.write_sidecars:
            print("error: --undo-sidecars runs alone (no FOLDER, no --write-sidecars)", file=sys.stderr)
            return 2
        return _undo()
    if not args.folder:
        print("error: FOLDER is required (or --undo-sidecars)", file=sys.stderr)
        return 2
    try:
        policy = _policy(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from app.engine.model.cancel import CancelScope
    from app.engine.review.export import export_dir, export_sidecars, write_csv, write_keyword_list
    from app.engine.review.folder_review import Progress, ReviewError, run_review, start_review
    from app.engine.review.grading import star_mapping_text
    from app.engine.review.progress import RunOutcome, last_run
    from app.engine.review.summary import build_summary
    from app.engine.service import MondrianService
    from app.engine.settings import load_settings
    from app.engine.store.database import open_default_store
    from app.engine.store.path_text import display_text, json_safe

    settings = load_settings()
    store = open_default_store()
    service = MondrianService(settings, model_ref=args.model, store=store)
    advisor = args.advisor or settings.default_advisor
    mode = args.mode or settings.default_mode
    try:
        from app.commands.exits import check_mode_runs, check_named_model

        status = check_named_model(args.model, args.json)
        if status is None:
            status = check_mode_runs(service, advisor, mode, args.json)  # only auto falls back
        if status is not None:
            return status
        try:
            review = start_review(service, store, args.folder, advisor, mode, recursive=args.recursive,
                                  critique="none" if args.triage_only else args.critique)
        except ReviewError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for item in review.settings.get("skipped", []):  # unreadable subfolders: named, the rest goes on
            print(f"skipped: {display_text(item['path'])}: {item['reason']}", file=sys.stderr)
        bar = _progress_bar(review.total)
        scope = CancelScope()
        outcome: dict[str, Any] = {}

        stage = [""]

        def progress(p: Progress) -> None:
            if p.stage != stage[0] and p.path is None:  # a stage starts: its own bar length and name
                stage[0] = p.stage
                bar.total = p.total
                bar.set_description_str("triage" if p.stage == "triage" else "critique", refresh=False)
            bar.n = p.finished
            if p.path:
                bar.set_postfix_str(p.path.rsplit("/", 1)[-1], refresh=False)
            if bar.n < (bar.total or 0):  # the last line is printed once, by close()
                bar.refresh()
            if p.status == "failed":
                bar.write(f"error: {display_text(p.path or '')}: {p.error}", file=sys.stderr)

        finished = threading.Event()

        def work() -> None:
            try:
                outcome["review"] = run_review(service, store, review.id, on_progress=progress, scope=scope)
            except BaseException as exc:  # noqa: BLE001 - reported on the main thread
                outcome["error"] = exc
            finally:
                finished.set()

        # The review runs on a worker so that Ctrl-C reaches this thread while it only waits (an
        # interrupted Thread.join can report a live thread as finished: wait on an Event instead).
        threading.Thread(target=work, name="review", daemon=True).start()
        interrupted = False
        # Ctrl-C must reach us even when the launcher left SIGINT ignored (as a background job of a
        # script does): train_lora installs its own handler for the same reason.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            while not finished.is_set():
                try:
                    finished.wait(0.2)
                except KeyboardInterrupt:  # stop at the next token; keep what is done
                    interrupted = True
                    scope.cancel()
        finally:
            if previous is not None:  # None: a handler set outside Python, left to its owner
                signal.signal(signal.SIGINT, previous)
        bar.close()
        if "error" in outcome:
            print(f"error: {outcome['error']}", file=sys.stderr)
            return 2
        final = outcome["review"]
        summary = build_summary(store, final.id)
        sidecars: dict[str, Any] | None = None
        if args.write_sidecars:
            result = export_sidecars(summary, CONVENTIONS[args.write_sidecars], dry_run=args.dry_run, policy=policy,
                                     store=store, review_id=final.id)
            sidecars = {"policy": policy.to_dict(), "dry_run": args.dry_run, "batch_id": result.batch_id,
                        "files": result.files_changing, "fields": result.fields_changing,
                        "standard_fields": result.standard_fields_changing,
                        "skipped": {str(c.path): c.skipped for c in result.skipped}, "errors": result.errors}
            folder = export_dir(final.id)
            csv_path = write_csv(summary, folder / "ratings.csv")
            keywords = write_keyword_list(summary, folder / "keywords.txt")
            print(result.describe(), file=sys.stderr)
            print(f"ratings CSV: {csv_path}\nLightroom keyword list: {keywords}", file=sys.stderr)
            if result.batch_id:
                print("undo with: review --undo-sidecars", file=sys.stderr)
        if args.json:
            ran = last_run(final.id)
            print(json.dumps(json_safe({"review": final.to_dict(), "run": ran.to_dict() if ran else None,
                                        "summary": summary.to_dict(),
                                        "star_mapping": star_mapping_text(), "sidecars": sidecars}),
                             ensure_ascii=False))
        else:
            print(display_text(summary.to_text()))  # a non-UTF-8 name shown as \xNN (path_text.py)
            print("Stars from the score (your own picks and stars win):\n  " + "\n  ".join(star_mapping_text()))
            triaged = sum(f.stage == "triage" for f in summary.frames)
            done = last_run(final.id) or RunOutcome(final.total, final.done + final.reused)
            print(f"review {final.id}: {done.describe(final.state)}"
                  + (f"; {triaged} scored by triage only (critique policy {final.settings.get('critique')})"
                     if triaged else ""))
        if interrupted or final.state == "cancelled":
            print("interrupted: run the same command again to continue", file=sys.stderr)
            return 130
        return 1 if final.failed else 0
    finally:
        service.close()
        store.close()
