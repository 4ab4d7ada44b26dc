"""Robustness: does every constrained critique complete, on every tiny architecture, within its budget?

For each family of tiny random model (byte-level tokenizers: about one token per character, the
worst case for a token budget), critique N varied photos and print: reports complete / N, mean and
max generated tokens against the budget the engine derived (the schema's worst case in this
tokenizer's tokens, fitted to the model's context), and the headroom (budget - max generated).
Target: 100 % complete on every model, headroom never negative.

    .venv/bin/python bench/robustness.py [--photos 20] [--text-chars 400] [--families qwen3_vl gemma3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def run_family(family: str, root: Path, n: int, text_chars: int) -> dict[str, float | int | str]:
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.testing.tiny_model import build_tiny_model
    from app.testing.tiny_photos import varied_photos

    model_dir = build_tiny_model(root / family / "model", arch=family)
    photos = varied_photos(root / family / "photos", n=n)
    service = MondrianService(Settings(model=str(model_dir), max_text_chars=text_chars), store=None)
    try:
        results = [service.critique(p, "ansel", "baseline") for p in photos]
    finally:
        service.close()
    tokens = [r.stats.generation_tokens for r in results if r.stats]
    budgets = [r.budget.max_tokens for r in results if r.budget]
    chars = sorted({r.budget.text_chars for r in results if r.budget})
    return {
        "family": family, "complete": sum(r.ok for r in results), "n": n,
        "mean_tokens": statistics.fmean(tokens), "max_tokens": max(tokens),
        "budget": min(budgets), "headroom": min(b - t for b, t in zip(budgets, tokens, strict=True)),
        "chars": "/".join(map(str, chars)), "prompt": max(r.budget.prompt_tokens for r in results if r.budget),
        "context": next((r.budget.context_tokens for r in results if r.budget), None) or 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--text-chars", type=int, default=400, help="the user's max_text_chars setting")
    parser.add_argument("--families", nargs="+", default=["qwen3_vl", "gemma3"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mondrian-robustness-") as tmp:
        os.environ["MONDRIAN_HOME"] = str(Path(tmp) / "home")
        rows = [run_family(f, Path(tmp), args.photos, args.text_chars) for f in args.families]
    print(f"max_text_chars setting: {args.text_chars}; budget = the schema's worst case in the model's tokens\n")
    print("| model | complete | mean gen | max gen | budget | max/budget | headroom | chars used | prompt | context |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| tiny {r['family']} | {r['complete']}/{r['n']} ({100 * int(r['complete']) / int(r['n']):.0f} %) "
              f"| {float(r['mean_tokens']):.0f} | {r['max_tokens']} | {r['budget']} "
              f"| {int(r['max_tokens']) / int(r['budget']):.2f} | {r['headroom']} | {r['chars']} "
              f"| {r['prompt']} | {r['context']} |")
    ok = all(r["complete"] == r["n"] and int(r["headroom"]) >= 0 for r in rows)
    print("\ntarget met: 100 % complete, headroom never negative" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
