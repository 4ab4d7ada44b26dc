"""``critique PHOTO --compare`` and ``critique PHOTO --blind``: the engine's comparisons in the CLI.

``--compare`` critiques each photo on the base model and on the advisor's active adapter, in the
pipeline ``--mode`` resolves to, and prints both reports and the per-dimension deltas (the two
jobs are linked: ``history --job`` shows either). ``--blind`` runs one blind A/B critique per photo
(the fine-tuned arm with probability ``--ab-split``, default the settings'): the report is printed
without saying which model wrote it; ``history --job ID`` reveals it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from app.engine.settings import cli_type

HIDDEN = "hidden (blind A/B)"


def register_flags(p: argparse.ArgumentParser) -> None:
    """The comparison flags of ``critique``."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--compare", action="store_true",
                       help="base model vs the advisor's fine-tuned adapter on each photo, with the deltas")
    group.add_argument("--blind", action="store_true",
                       help="a blind A/B critique: base or fine-tuned drawn at random, not shown which")
    p.add_argument("--ab-split", type=cli_type("ab_test_split", "--ab-split"), default=None, metavar="P",
                   help="with --blind: the chance of the fine-tuned model (0-1; default from settings)")
    p.add_argument("--seed", type=int, default=None, help="with --blind: seed the draw (repeatable runs)")


def wanted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "compare", False) or getattr(args, "blind", False))


def _cli_words(exc: BaseException) -> str:
    """The engine's reason, with the command or flag that fixes it (the engine names neither)."""
    from app.engine.compare import ComparisonError

    if isinstance(exc, ComparisonError) and exc.kind == "no_adapter":
        return f"{exc} (mondrian train versions list / activate)"
    if isinstance(exc, ComparisonError) and exc.kind == "technical":
        return f"{exc} (choose --mode auto, baseline, rag or lora, and a model with --model)"
    return str(exc)


def run(service: Any, args: argparse.Namespace, advisor: str, mode: str) -> int:
    """The exit rule of every command (:mod:`app.commands.exits`): 0 when every photo got its
    reports, 1 when some did not (each named on stderr), 2 when nothing can run (no adapter to
    compare, no model, an unknown advisor or mode)."""
    from app.commands.exits import CANNOT_RUN, OK, SOME_FAILED, cannot_run, cannot_run_errors
    from app.engine.compare import ComparisonError

    fatal: tuple[type[BaseException], ...] = (*cannot_run_errors(), ComparisonError)
    failures = 0
    for photo in args.photos:
        try:
            if args.compare:
                ok = _compare(service, args, photo, advisor, mode)
            else:
                ok = _blind(service, args, photo, advisor, mode)
        except fatal as exc:
            cannot_run(_cli_words(exc), args.json, photo=photo)
            return CANNOT_RUN
        except Exception as exc:  # noqa: BLE001 - a photo that fails must not stop the others
            reason = str(exc) or type(exc).__name__
            print(f"error: {photo}: {reason}", file=sys.stderr)
            if args.json:
                print(json.dumps({"photo": photo, "ok": False, "error": reason}, ensure_ascii=False))
            failures += 1
            continue
        failures += not ok
    return SOME_FAILED if failures else OK


def _compare(service: Any, args: argparse.Namespace, photo: str, advisor: str, mode: str) -> bool:
    from app.engine.critique.export import to_text
    from app.engine.critique.report import DIMENSION_LABELS

    pair = service.compare(photo, advisor, mode)
    ok = pair.base.ok and pair.tuned.ok
    if args.json:
        print(json.dumps({"photo": photo, "ok": ok, "pair_id": pair.pair_id, "base": pair.base.to_dict(),
                          "fine_tuned": pair.tuned.to_dict(), "deltas": pair.deltas()}, ensure_ascii=False))
        return ok
    print("Base model\n" + to_text(pair.base) + "\n")
    print("Fine-tuned\n" + to_text(pair.tuned) + "\n")
    print("Fine-tuned minus base")
    for key, delta in pair.deltas().items():
        print(f"  {DIMENSION_LABELS[key]:<20} {'—' if delta is None else f'{delta:+g}'}")
    print()
    return ok


def _blind(service: Any, args: argparse.Namespace, photo: str, advisor: str, mode: str) -> bool:
    from app.engine.critique.export import to_text

    blind = service.blind(photo, advisor, mode, split=args.ab_split, seed=args.seed)
    shown = dataclasses.replace(blind.result, effective_mode=HIDDEN, fallback_reason=None, adapter_version=None,
                                model_used=HIDDEN)
    if args.json:
        print(json.dumps({"ok": shown.ok, **shown.to_dict(), "blind": True}, ensure_ascii=False))
    else:
        print(to_text(shown) + "\n")
    print(f"blind A/B: which model wrote this is recorded with job {blind.result.job_id}; "
          f"`mondrian history --job {blind.result.job_id}` reveals it", file=sys.stderr)
    return bool(blind.result.ok)
