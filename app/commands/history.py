"""``history`` lists recent critiques (or one in full); ``stats`` compares the models:
per ``model_used`` the count, mean overall score, mean duration and mean user rating, plus blind
A/B win rates per adapter version."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from app.engine.critique.report import grade_note


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="list recent critiques")
    p.add_argument("--advisor", default=None, metavar="ID", help="only this advisor's critiques")
    p.add_argument("--limit", type=_positive, default=20, metavar="N", help="how many (newest first; default 20)")
    p.add_argument("--job", default=None, metavar="JOB_ID", help="show one critique in full (an id prefix will do)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_history)

    s = sub.add_parser("stats", help="compare models: count, mean score, duration and rating per model used")
    s.add_argument("--advisor", default=None, metavar="ID", help="only this advisor's critiques")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=run_stats)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _open_store() -> Any:
    from app.engine.store.database import StoreError, open_default_store

    try:
        return open_default_store()
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _when(stamp: str | None) -> str:
    """Local time, minutes precision."""
    if not stamp:
        return "-"
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp[:16]
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def run_history(args: argparse.Namespace) -> int:
    from app.engine.store.database import JobNotFoundError

    store = _open_store()
    if store is None:
        return 1
    with store:
        if args.job:
            try:
                job = store.jobs.get_job(store.jobs.resolve_job_id(args.job))
            except JobNotFoundError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            if args.json:
                print(json.dumps(job.to_dict(), ensure_ascii=False, indent=2))
            else:
                print(_job_text(job))
            return 0
        jobs = store.jobs.list_jobs(advisor_id=args.advisor, limit=args.limit)
    if args.json:
        print(json.dumps([j.to_dict() for j in jobs], ensure_ascii=False, indent=2))
        return 0
    if not jobs:
        who = f" for advisor {args.advisor!r}" if args.advisor else ""
        print(f"No critiques yet{who}.")
        return 0
    rows = []
    for j in jobs:
        mode = j.effective_mode or j.requested_mode
        if j.effective_mode and j.requested_mode not in (j.effective_mode, "auto"):
            mode = f"{j.requested_mode}->{j.effective_mode}"
        score = f"{j.overall_score:.1f} {j.grade or ''}".strip() if j.overall_score is not None else "-"
        rows.append([_when(j.created_at), j.status, j.advisor_id, mode, j.model_used or "-", score,
                     _num(j.duration_s, "{:.1f}s"), str(j.user_rating or "-"), Path(j.photo_path).name, j.id[:8]])
    print(_table(["when", "status", "advisor", "mode", "model", "score", "time", "rating", "photo", "job"], rows))
    return 0


def _job_text(job: Any) -> str:
    lines = [f"job        {job.id}", f"photo      {job.photo_path}", f"advisor    {job.advisor_id}",
             f"status     {job.status}" + (f" ({job.error})" if job.error else ""),
             f"created    {_when(job.created_at)}",
             f"mode       requested {job.requested_mode}, effective {job.effective_mode or '-'}"]
    if job.fallback_reason:
        lines.append(f"fallback   {job.fallback_reason}")
    lines.append(f"model      {job.model_used or '-'} ({job.base_model or '-'}"
                 + (f", adapter {job.adapter_version}" if job.adapter_version else "") + ")")
    if job.generation_tokens is not None:
        lines.append(f"tokens     {job.prompt_tokens} prompt, {job.generation_tokens} generated, "
                     f"{_num(job.total_s, '{:.2f}s')}")
    if job.user_rating:
        lines.append(f"rating     {job.user_rating}/5")
    report = job.report
    if report is not None:
        lines.append(f"grade      {report.overall_grade or '-'} (mean {_num(report.overall_score)})")
        if note := grade_note(report):
            lines.append(f"           {note}")
        for key, dim in report.dimensions.items():
            lines.append(f"  {key:<18} {_num(dim.score, '{:g}'):>4}  {dim.comment}")
        if report.summary:
            lines.append(f"summary    {report.summary}")
    return "\n".join(lines)


def run_stats(args: argparse.Namespace) -> int:
    store = _open_store()
    if store is None:
        return 1
    with store:
        stats = store.ratings.stats(advisor_id=args.advisor)
        rates = store.ratings.ab_win_rates()
    if args.json:
        print(json.dumps({"models": [s.to_dict() for s in stats], "ab_tests": [r.to_dict() for r in rates]},
                         indent=2))
        return 0
    if not stats:
        print("No critiques yet.")
        return 0
    rows = [[s.model_used, str(s.count), str(s.completed), str(s.failed), _num(s.mean_overall_score),
             _num(s.mean_duration_s, "{:.2f}s"), f"{_num(s.mean_user_rating)} ({s.rated})"] for s in stats]
    print(_table(["model_used", "jobs", "completed", "failed", "mean score", "mean time", "mean rating (n)"],
                 rows))
    if rates:
        print("\nBlind A/B tests per adapter version")
        rows = [[r.adapter_version or "-", str(r.comparisons), _num(r.fine_tuned_win_rate, "{:.0%}"),
                 f"{r.fine_tuned_wins}/{r.base_wins}/{r.ties}",
                 f"{_num(r.mean_rating_fine_tuned)} ({r.rated_fine_tuned})",
                 f"{_num(r.mean_rating_base)} ({r.rated_base})"] for r in rates]
        print(_table(["adapter", "pairs", "fine-tuned wins", "ft/base/tie", "rating ft (n)", "rating base (n)"],
                     rows))
    return 0
