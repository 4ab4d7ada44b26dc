"""``mondrian train evaluate``: base model vs fine-tuned adapter on the held-out photos.

    mondrian train evaluate --advisor ID [--version vN] [--model M] [--max-tokens N]
        [--limit N] [--json | --jsonl]

Each held-out example is critiqued twice through the engine's own inference path (``ModelHost`` +
``AdapterManager`` + ``generate_report``, the code the app runs): once on the base model and
once with the adapter applied, with the example's stored prompt, greedy, and *without* constrained
decoding, so format compliance measures the model and not the grammar. Reported per model: format
compliance (share of outputs that parse as a complete report), per-dimension and overall MAE/MSE
against the targets (see :mod:`training.metrics` for how invalid outputs count), and latency;
then the improvement in % and the adapter's latency overhead in %. ``eval.json`` and a readable
``eval.md`` are written into the version folder, and the summary into its manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.engine import atomic
from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import MANIFEST, AdapterStoreError, AdapterVersion
from app.engine.advisors import AdvisorError, get_advisor
from app.engine.critique.prompts import Prompt
from app.engine.critique.report import DIMENSIONS, parse_report

from . import diskspace
from .common import EXIT_OK, NEWEST, CommandError, JsonLines, reported, run_main, setup
from .console import Console, progress_stream, wants_json
from .dataset import VALIDATION, DatasetError, load_dataset
from .metrics import Sample, compare, summarize

BASE, TUNED = "base", "fine_tuned"
SAMPLE_BYTES = 24 << 10  # one held-out photo in eval.json: both outputs (up to 4,000 characters each), scores


def results_bytes(samples: int, version: AdapterVersion) -> int:
    """What :func:`write_results` writes: eval.json, eval.md and the manifest again."""
    manifest = version.path / MANIFEST
    return samples * SAMPLE_BYTES + (64 << 10) + (manifest.stat().st_size if manifest.is_file() else 0)


def resolve_version(advisor_id: str, version: str | None) -> AdapterVersion:
    """The named version (``newest``: the last published), else the active one, else the newest."""
    try:
        if version == NEWEST:
            versions = adapter_versions.list_versions(advisor_id)
        elif version:
            return adapter_versions.get_version(advisor_id, version)
        else:
            active = adapter_versions.read_active(advisor_id)  # a broken pointer is named, not skipped
            if active is not None:
                return active
            versions = adapter_versions.list_versions(advisor_id)
    except (AdapterStoreError, AdvisorError) as exc:
        raise CommandError(str(exc)) from None
    if not versions:
        raise CommandError(f"advisor {advisor_id!r} has no adapter versions; train one with python -m "
                           f"training.train_lora --advisor {advisor_id}")
    return versions[-1]


def _prompt(messages: Sequence[dict[str, str]]) -> Prompt:
    roles = [m["role"] for m in messages]
    if roles != ["system", "user"]:
        raise CommandError(f"a held-out example has turns {roles}, expected system + user + assistant; "
                           "prepare the dataset again")
    return Prompt(system=messages[0]["content"], user=messages[1]["content"])


def evaluate(advisor_id: str, version: AdapterVersion, *, model_ref: str, max_tokens: int | None, limit: int | None,
             emit: Any) -> dict[str, Any]:
    """Run both models over the held-out split; returns the eval.json content."""
    from app.engine.adapters.manager import AdapterError, AdapterManager
    from app.engine.model.caches import CacheBudget
    from app.engine.model.generate import generate_report
    from app.engine.model.host import GenerationRequest, ModelHost
    from app.engine.settings import load_settings

    try:
        data = load_dataset(advisor_id)
        advisor = get_advisor(advisor_id)
    except (DatasetError, AdvisorError) as exc:
        raise CommandError(str(exc)) from None
    held_out = data.splits.get(VALIDATION)
    if held_out is None or len(held_out) == 0:
        raise CommandError("the dataset has no held-out photos; prepare it with --val-fraction above 0")
    rows = [held_out[i] for i in range(len(held_out) if limit is None else min(limit, len(held_out)))]
    settings = replace(load_settings(), model=model_ref, constrained_decoding=False, max_tokens=max_tokens or 0,
                       temperature=0.0)
    # Before minutes of generation: the results must have somewhere to go.
    diskspace.check_writable(version.path, results_bytes(len(rows), version), "the evaluation results")
    drift = prompt_drift(advisor, rows, grounding=settings.grounding)
    if drift:
        emit("warning", message=drift)
    host = ModelHost(model_ref, cache_budget=CacheBudget.from_settings(settings))
    manager = AdapterManager(host)
    try:
        try:
            manager.validate(version)
        except AdapterError as exc:
            raise CommandError(str(exc)) from None
        first = rows[0]
        for adapter in (None, version.ref):  # warm-up: compile and cache, outside the timings
            host.generate(GenerationRequest(prompt=_prompt(first["messages"][:-1]), image=first["images"][0],
                                            max_tokens=4, adapter=adapter)).result()
        results: dict[str, list[Sample]] = {BASE: [], TUNED: []}
        records: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            prompt = _prompt(row["messages"][:-1])
            target_report = parse_report(row["messages"][-1]["content"])
            record: dict[str, Any] = {"photo": row.get("photo", str(i)), "target": target_report.scores}
            for name, adapter in ((BASE, None), (TUNED, version.ref)):
                outcome = generate_report(host, settings, row["images"][0], prompt, adapter=adapter)
                stats = outcome.output.stats
                sample = Sample(target=target_report.scores, report=outcome.report,
                                seconds=stats.total_s, tokens=stats.generation_tokens,
                                problems=outcome.problems, text=outcome.raw_text,
                                generation_tps=stats.generation_tps, prompt_tokens=stats.prompt_tokens,
                                prompt_tps=stats.prompt_tps)
                results[name].append(sample)
                record[name] = {"valid": sample.report is not None,
                                "scores": sample.report.scores if sample.report else None,
                                "problems": sample.problems, "seconds": sample.seconds, "tokens": sample.tokens,
                                "text": sample.text[:4000]}
                emit("sample", index=i, total=len(rows), model=name, photo=record["photo"],
                     valid=sample.report is not None, seconds=sample.seconds)
            records.append(record)
    finally:
        host.shutdown()
    base, tuned = summarize(results[BASE]), summarize(results[TUNED])
    return {
        "advisor_id": advisor_id, "version": version.version, "base_model": model_ref,
        "dataset_hash": data.hash, "split": VALIDATION, "samples": len(rows), "created": time.time(),
        "decoding": {"constrained": False, "temperature": 0.0, "max_tokens": max_tokens},
        BASE: base, TUNED: tuned, "comparison": compare(base, tuned), "prompt_drift": drift or None,
        "per_sample": records,
    }


def prompt_drift(advisor: Any, rows: Sequence[dict[str, Any]], *, grounding: bool) -> str:
    """Why inference would no longer send the prompts the adapter was trained on ("" if it would).

    The adapter only transfers to the exact training prompt; editing the advisor, switching
    grounding or a new prompt builder all change it, and the fix is to prepare and train again.
    """
    from app.engine.critique.prompts import critique_prompt, facts_in_prompt

    changed = 0
    for row in rows:
        # The facts were measured on the full-size photo, which the dataset does not keep: reuse them.
        stored = row["messages"][:-1]
        user = next((m["content"] for m in stored if m.get("role") == "user"), "")
        facts = facts_in_prompt(user) if grounding else []
        if critique_prompt(advisor, facts=facts).messages() != list(row["messages"][:-1]):
            changed += 1
    if not changed:
        return ""
    return (f"{changed} of {len(rows)} held-out prompts differ from what inference builds now (advisor, grounding "
            "setting or prompt builder changed since the dataset was prepared): the adapter was trained on the "
            "old prompts; prepare the dataset and train again")


def _fmt(value: Any, pct: bool = False, digits: int = 2) -> str:
    if value is None:
        return "-"
    if pct:
        return f"{value * 100:.0f} %" if abs(value) <= 1.0 else f"{value:.0f} %"
    return f"{value:.{digits}f}"


def _err(model: dict[str, Any], value: Any, digits: int = 2) -> str:
    """A score error, or n/a when none of the model's outputs was a valid report (its imputed 5/10s
    would read as a real error, as the window's summary says)."""
    return _fmt(value, digits=digits) if model.get("valid_reports") else "n/a"


def _better(both: dict[str, Any], pct: Any) -> str:
    return f"{_fmt(pct, digits=1)} % better" if both.get("valid_reports") else "n/a"


def render_markdown(result: dict[str, Any]) -> str:
    b, t, c = result[BASE], result[TUNED], result["comparison"]
    both = {"valid_reports": bool(b.get("valid_reports") and t.get("valid_reports"))}
    lines = [
        f"# Evaluation of {result['advisor_id']} {result['version']}",
        "",
        f"Held-out photos: {result['samples']} (dataset {result['dataset_hash'][:12]}); base model "
        f"`{result['base_model']}`; greedy, unconstrained decoding, at most "
        f"{result['decoding']['max_tokens'] or 'the longest valid report in'} tokens.",
        "",
        "| | base | fine-tuned | change |",
        "|---|---|---|---|",
        f"| format compliance | {_fmt(b['format_compliance'], True)} | {_fmt(t['format_compliance'], True)} | "
        f"{_fmt(c['format_compliance_change'], True)} |",
        f"| score MSE | {_err(b, b['mse'])} | {_err(t, t['mse'])} | {_better(both, c['mse_improvement_pct'])} |",
        f"| score MAE | {_err(b, b['mae'])} | {_err(t, t['mae'])} | {_better(both, c['mae_improvement_pct'])} |",
        f"| mean latency per report | {_fmt(b['mean_latency_s'])} s | {_fmt(t['mean_latency_s'])} s | "
        f"{_fmt(c['report_latency_overhead_pct'], digits=1)} % |",
        f"| decoding, per token | {_fmt(b['ms_per_token'])} ms | {_fmt(t['ms_per_token'])} ms | "
        f"{_fmt(c['latency_overhead_pct'], digits=1)} % overhead |",
        f"| prompt processing, per token | {_fmt(b['prompt_ms_per_token'], digits=3)} ms | "
        f"{_fmt(t['prompt_ms_per_token'], digits=3)} ms | {_fmt(c['prompt_latency_overhead_pct'], digits=1)} % overhead |",
        "",
        "## Per dimension (MAE / MSE)",
        "",
        "| dimension | base MAE | fine-tuned MAE | base MSE | fine-tuned MSE |",
        "|---|---|---|---|---|",
    ]
    for d in DIMENSIONS:
        bd, td = b["per_dimension"][d], t["per_dimension"][d]
        lines.append(f"| {d} | {_err(b, bd['mae'])} | {_err(t, td['mae'])} | {_err(b, bd['mse'])} | "
                     f"{_err(t, td['mse'])} |")
    lines += ["", "An output that is not a valid report counts as 5/10 on every dimension (no information).", ""]
    if result.get("prompt_drift"):
        lines += [f"**Warning:** {result['prompt_drift']}.", ""]
    lines += ["## Samples", ""]
    for rec in result["per_sample"]:
        lines.append(f"- **{rec['photo']}**: base {'valid' if rec[BASE]['valid'] else 'invalid'}, "
                     f"fine-tuned {'valid' if rec[TUNED]['valid'] else 'invalid'}"
                     + (f" ({'; '.join(rec[TUNED]['problems'][:2])})" if rec[TUNED]["problems"] else ""))
    return "\n".join(lines) + "\n"


def _taught_from_culls(folder: Path) -> bool:
    """A version ``train learn`` published: its eval.json holds the agreement table."""
    try:
        data = json.loads((folder / "eval.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "agreement" in data


def write_results(version: AdapterVersion, result: dict[str, Any]) -> None:
    """eval.json + eval.md into the version folder; the summary into its manifest."""
    with diskspace.writing(version.path, results_bytes(int(result.get("samples", 0)), version),
                           "the evaluation results"):
        _write_results(version, result)


def _write_results(version: AdapterVersion, result: dict[str, Any]) -> None:
    atomic.write_json(version.path / "eval.json", result)
    atomic.write_text(version.path / "eval.md", render_markdown(result))
    manifest_file = version.path / MANIFEST
    if manifest_file.is_file():
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        b, t, c = result[BASE], result[TUNED], result["comparison"]
        manifest.setdefault("metrics", {})["eval"] = {
            "samples": result["samples"], "format_compliance_base": b["format_compliance"],
            "format_compliance_fine_tuned": t["format_compliance"], "mse_base": b["mse"], "mse_fine_tuned": t["mse"],
            "mse_improvement_pct": c["mse_improvement_pct"], "latency_overhead_pct": c["latency_overhead_pct"]}
        atomic.write_json(manifest_file, manifest)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mondrian train evaluate",
                                description="Compare the base model and an adapter on the held-out photos.")
    p.add_argument("--advisor", required=True)
    p.add_argument("--version", help="adapter version, or 'newest' (default: the active one, else the newest)")
    p.add_argument("--model", help="base model (default: the one the adapter was trained on)")
    p.add_argument("--max-tokens", type=int, help="generation limit per report (default: settings)")
    p.add_argument("--limit", type=int, help="evaluate only the first N held-out examples")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print eval.json instead of the table")
    out.add_argument("--jsonl", action="store_true", help="print progress events as JSON lines")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args.verbose)
    # --jsonl, or no flag and stdout not a terminal: JSON-lines events; a terminal: a bar with an ETA.
    jsonl = args.jsonl or (not args.json and wants_json(False))
    lines = JsonLines(sys.stdout if jsonl or args.json else progress_stream(False))
    args.jsonl = jsonl
    with reported(lines if jsonl else None):
        return _main(args, lines)


def _main(args: argparse.Namespace, lines: JsonLines) -> int:
    from app.engine.settings import load_settings

    settings = load_settings()  # a bad settings file is named first, whatever else is wrong
    version = resolve_version(args.advisor, args.version)
    try:
        manifest = version.manifest()
    except AdapterStoreError as exc:
        raise CommandError(str(exc)) from None
    if _taught_from_culls(version.path):
        raise CommandError(f"{args.advisor} {version.version} was taught from culls (`train learn`): its eval.json "
                           "is the agreement with your culls, which this portfolio evaluation would replace; it "
                           "is judged by agreement, not by MAE")
    model_ref = args.model or (manifest.base_model if manifest else None) or settings.model
    max_tokens = args.max_tokens or settings.max_tokens or None  # None: derived from the model per report
    if (args.max_tokens is not None and args.max_tokens < 0) or (args.limit is not None and args.limit < 1):
        raise CommandError("--max-tokens must be 0 (automatic) or more and --limit at least 1")
    emit = lines.emit if not args.json else (lambda *a, **k: None)
    result = evaluate(args.advisor, version, model_ref=model_ref, max_tokens=max_tokens, limit=args.limit, emit=emit)
    write_results(version, result)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    elif args.jsonl:
        lines.emit("done", path=str(Path(version.path) / "eval.json"), base=_brief(result[BASE]),
                   fine_tuned=_brief(result[TUNED]), comparison=result["comparison"])
    else:
        if isinstance(lines.stream, Console):
            lines.stream.close()
        print(render_markdown(result), end="")
        print(f"\nWritten: {version.path / 'eval.json'} and eval.md")
    return EXIT_OK


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: summary[k] for k in ("format_compliance", "mse", "mae", "mean_latency_s", "ms_per_token",
                                    "prompt_ms_per_token")}


if __name__ == "__main__":
    sys.exit(run_main(main))
