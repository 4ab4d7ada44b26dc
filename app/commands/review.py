"""``review FOLDER --advisor ID``: critique a whole shoot, rank and group it, optionally write sidecars.

A progress bar with an ETA goes to stderr (tqdm); the ranked summary to stdout (``--json``: one JSON
object). Ctrl-C stops at the next token: what was reviewed is kept and a re-run continues from
there (frames already reviewed with the same advisor, mode, model and adapter are skipped by
content hash). Exit status: 0 all frames reviewed, 1 some frames could not be, 2 bad input,
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
    p.add_argument("folder", metavar="FOLDER")
    p.add_argument("--advisor", default=None, help="advisor id (see `advisors`); default from settings")
    p.add_argument("--mode", default=None, help="auto, baseline, rag, lora or technical (no model)")
    p.add_argument("--recursive", action="store_true", help="include sub-folders")
    p.add_argument("--model", default=None, help="Hugging Face repo id or local model folder")
    p.add_argument("--write-sidecars", choices=sorted(CONVENTIONS), default=None,
                   help="write XMP sidecars for this tool (ratings, flags, labels, keywords, summary)")
    p.add_argument("--dry-run", action="store_true", help="with --write-sidecars: show the changes, write nothing")
    p.add_argument("--json", action="store_true", help="print the review and its summary as JSON")
    p.set_defaults(func=run)


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def run(args: argparse.Namespace) -> int:
    from app.engine.model.cancel import CancelScope
    from app.engine.review.export import export_dir, export_sidecars, write_csv, write_keyword_list
    from app.engine.review.folder_review import Progress, ReviewError, run_review, start_review
    from app.engine.review.grading import star_mapping_text
    from app.engine.review.summary import build_summary
    from app.engine.service import MondrianService
    from app.engine.settings import load_settings
    from app.engine.store.database import open_default_store

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
            review = start_review(service, store, args.folder, advisor, mode, recursive=args.recursive)
        except ReviewError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        bar = _progress_bar(review.total)
        scope = CancelScope()
        outcome: dict[str, Any] = {}

        def progress(p: Progress) -> None:
            bar.n = p.finished
            if p.path:
                bar.set_postfix_str(p.path.rsplit("/", 1)[-1], refresh=False)
            if bar.n < (bar.total or 0):  # the last line is printed once, by close()
                bar.refresh()
            if p.status == "failed":
                bar.write(f"error: {p.error}", file=sys.stderr)

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
        if args.write_sidecars:
            result = export_sidecars(summary, CONVENTIONS[args.write_sidecars], dry_run=args.dry_run)
            folder = export_dir(final.id)
            csv_path = write_csv(summary, folder / "ratings.csv")
            keywords = write_keyword_list(summary, folder / "keywords.txt")
            print(result.describe(), file=sys.stderr)
            print(f"ratings CSV: {csv_path}\nLightroom keyword list: {keywords}", file=sys.stderr)
        if args.json:
            print(json.dumps({"review": final.to_dict(), "summary": summary.to_dict(),
                              "star_mapping": star_mapping_text()}, ensure_ascii=False))
        else:
            print(summary.to_text())
            print("Stars from the score (your own picks and stars win):\n  " + "\n  ".join(star_mapping_text()))
            print(f"review {final.id}: {final.state}, {final.done} critiqued, {final.reused} reused, "
                  f"{final.failed} failed of {final.total}")
        if interrupted or final.state == "cancelled":
            print("interrupted: run the same command again to continue", file=sys.stderr)
            return 130
        return 1 if final.failed else 0
    finally:
        service.close()
        store.close()
