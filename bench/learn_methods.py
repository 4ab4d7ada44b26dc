"""Learning from culls, method against method: SFT, ORPO, GRPO, and SFT followed by GRPO.

Run: ``.venv/bin/python bench/learn_methods.py [--model DIR] [--bursts 8] [--steps 100]
[--grpo-steps 40] [--lr 5e-3] [--json OUT]``.

The synthetic photographer of ``bench/training.py --culls`` (bursts of a sharp pick, a darker
2-star copy and a blurred darker reject; no measured facts in the prompt) and the same
``training.learn`` run (split by bursts, agreement scored by teacher forcing before and after)
for each method, on two tiny random-weight families (qwen3_vl, gemma3) unless ``--model`` is
given. Only the training step differs:

* ``sft`` / ``orpo``: ``Learning.train`` as ``mondrian train learn`` runs it, ``--steps`` steps;
* ``grpo``: :func:`training.learn_grpo.train_grpo` from the base model, ``--grpo-steps`` steps;
* ``sft+grpo``: SFT for ``--steps``, then GRPO for ``--grpo-steps`` on the same adapter (GRPO
  refines an advisor that answers in the format; from a base that does not, its reward is 0);
* ``sft+pairs``: SFT for ``--steps`` on the frames' rows plus the two-frame "which is stronger"
  rows of their bursts (:mod:`training.pairs`), when the model takes several images (else the
  frames' rows alone, and the reason is recorded as ``pair_rows``).

Printed per family and method: pairwise agreement (all pairs, within bursts, across stars),
Spearman and pick precision before -> after on the training and held-out bursts; wall seconds
per optimizer step (GRPO's includes sampling its rollouts), total training seconds and peak
memory (reset before each run); then ratios against SFT run in the same process.

Figures (``bench/results/learn-methods.txt``: the runs' tables and GRPO's reward per step; 2 CPU
cores shared with other jobs, mlx[cpu] 0.32.4, mlx-vlm 0.7.10; 8 bursts (6 train, 2 held out: 12 held-out pairs), SFT/ORPO
100 steps, GRPO 40 steps, group 4, at most 96 tokens, temperature 0.8, lr 5e-3; deterministic:
SFT gives the same figures in every process):

* cost, against SFT in the same process: GRPO 5.1-12.4x the wall time per step (0.65-0.96 s ->
  4.6-8.5 s; sampling the group is about half of it), 2.4-6.8x the training time at 40 steps
  against 100, peak memory 1.0-1.06x (ORPO: 1.3-1.9x the step time, 1.9x the memory);
* from the base model GRPO learns nothing: no rollout of a random-weight model holds a readable
  score (40 steps x 4 answers, both families, strict and partial-credit rewards), so every
  advantage is 0 and the adapter does not move (agreement before = after, exactly);
* after 100 SFT steps, the strict reward (the whole triage object) was still 0 on every rollout
  (greedy answers are near-misses such as ``"depth_impact"``; sampled ones at 0.8 are worse);
  with partial credit per score read the first groups earn ~0.2, then the reward falls to 0
  (within 1-2 steps at lr 5e-3, 25 at 5e-4, both families): GRPO's own objective got worse.
  The adapter it leaves ranks differently from SFT's (qwen3_vl held-out pairwise 0.17 after SFT, 0.92 after
  SFT+GRPO at 5e-3, 0.50 at 5e-4; the base model had 0.83), a disturbance of one or two
  updates on one frame each, not a learned ordering: with GRPO sampling seeds 1 and 2 the same
  run ends at train pairwise 0.39 and 0.21 (SFT alone 0.45, seed 0 0.89), held-out 0.33 and 0.50.
* ORPO, at under 2x SFT's cost, does better than SFT here (qwen3_vl train 0.61 -> 0.84, held-out
  0.75 against SFT's 0.17; gemma3 held-out 0.42 against 0.08), though on the held-out bursts
  neither beats the base model (0.83, 0.50) on these 12 pairs.

Verdict: GRPO does not earn its cost here. It needs an advisor that already samples the format
(rollouts are unconstrained, while the triage pass decodes under the schema), costs 5-12x an SFT
step before any benefit, and its reward fell where it had a signal. ORPO already trains on the
user's ordering. Revisit with a real base model, which should answer in the format from the start
(so its reward is not 0 everywhere), starting from an SFT or active adapter, at a small
learning rate.

Two-frame rows (``sft+pairs``): on qwen3_vl, SFT with the 36 pair rows of the 6 training bursts
reached train pairwise 0.79 (within bursts 1.00) against SFT's 0.45 (0.39), held-out 0.50 against
0.17 (interval [0, 1] on 12 pairs), at 1.14x SFT's step time and 1.8x its peak memory (two photos
a row). gemma3: no pair rows (mlx-vlm 0.7.10's trainer cannot collate two photos, see
``training.pairs``); its figures equal SFT's.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.training import ADVISOR, CULL_METRICS, _value  # noqa: E402  (the synthetic photographer's bench)

METHODS = ("sft", "orpo", "grpo", "sft+grpo", "sft+pairs")


def method_run(model: str, method: str, work: Path, bursts: int, steps: int, grpo_steps: int,
               lr: float, grpo_lr: float, grpo_seed: int = 0) -> dict[str, Any]:
    """One ``training.learn`` run in this process with ``method``'s training step; eval.json's content."""
    import mlx.core as mx

    from app.engine.advisors import Advisor, get_advisor, save_user_advisor
    from app.testing.synthetic_photographer import decisions
    from training.culls import Examples
    from training.learn import Learning, LearnOptions
    from training.learn_grpo import train_grpo
    from training.pairs import pair_rows, several_images_problem

    class MethodLearning(Learning):
        """``Learning`` with GRPO (alone, or after SFT) as its training step."""

        def train(self, model: Any, processor: Any, examples: Examples, adapter_file: Path) -> dict[str, Any]:
            mx.reset_peak_memory()
            if method in ("sft", "orpo"):
                return super().train(model, processor, examples, adapter_file)
            if method == "sft+pairs":
                return self.train_with_pairs(model, processor, examples, adapter_file)
            first = super().train(model, processor, examples, adapter_file) if method == "sft+grpo" else None
            run = train_grpo(model, processor, examples, adapter_file, steps=grpo_steps, lr=grpo_lr, seed=grpo_seed,
                             out=self.out, should_stop=self.should_stop)
            run["peak_memory_gb"] = mx.get_peak_memory() / 1e9  # both phases
            if first is not None:
                run["sft_seconds"], run["sft_steps"] = first["seconds"], first["steps"]
                run["grpo_seconds"] = run["seconds"]
                run["seconds"] = first["seconds"] + run["seconds"]
            return run

        def train_with_pairs(self, model: Any, processor: Any, examples: Examples,
                             adapter_file: Path) -> dict[str, Any]:
            """SFT on the frames' rows plus the two-frame rows of their bursts, when the model takes them."""
            problem = several_images_problem(model, processor)
            pairs: list[dict[str, Any]] = []
            if problem is None:
                photos = {d.path: row["images"][0] for d, row in zip(examples.decisions, examples.sft, strict=True)}
                pairs = pair_rows(examples.decisions, get_advisor(ADVISOR), photos.__getitem__)
                examples = Examples(decisions=examples.decisions, sft=examples.sft + pairs,
                                    preference=examples.preference)
            run = super().train(model, processor, examples, adapter_file)
            run["pair_rows"] = len(pairs) if problem is None else problem
            return run

    save_user_advisor(Advisor(id=ADVISOR, name="Bench", bio="Likes sharp, bright frames."))
    found = decisions(work / "photos", bursts, edge=192)
    opts = LearnOptions(advisor_id=ADVISOR, reviews=["synthetic"], model=model,
                        method="orpo" if method == "orpo" else "sft", steps=steps, lr=lr, decisions=found,
                        activate="never", bootstrap=300, facts=False)
    result = MethodLearning(opts, io.StringIO()).run()
    result["method"] = method
    return result


def _held_after(r: dict[str, Any]) -> float | None:
    value = r["agreement"]["after"]["held_out"]["pairwise"]["value"]
    return None if value is None else float(value)


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}"


def table(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [f"synthetic photographer: {args.bursts} bursts of 3, SFT/ORPO {args.steps} steps, GRPO {args.grpo_steps} "
             f"steps, lr {args.lr} (GRPO {args.grpo_lr or args.lr}); agreement before -> after (train / held-out bursts)"]
    head = f"{'model':<14}{'method':<10}{'split':<9}" + "".join(f"{n:>16}" for n, _ in CULL_METRICS)
    lines.append(head + f"{'s/step':>8}{'train s':>9}{'peak GB':>9}{'reward':>14}")
    for r in results:
        t = r["training"]
        reward = (f"{t['first_reward']:.2f} -> {t['final_reward']:.2f}" if t.get("first_reward") is not None
                  else "")
        for split in ("train", "held_out"):
            cells = "".join(f"{_value(r, 'before', split, k) + ' -> ' + _value(r, 'after', split, k):>16}"
                            for _, k in CULL_METRICS)
            lines.append(f"{r['model_name']:<14}{r['method']:<10}{split:<9}{cells}{t['step_time_s']:>8.2f}"
                         f"{t['seconds']:>9.1f}{t['peak_memory_gb']:>9.3f}{reward if split == 'train' else '':>14}")
    lines += ["", "against SFT in the same process: s/step, training seconds, peak memory (ratios); held-out pairwise "
                  "after (difference)"]
    lines.append(f"{'model':<14}{'method':<10}{'s/step':>8}{'train s':>9}{'peak':>7}{'held-out pairwise':>22}")
    for r in results:
        sft = next(s for s in results if s["model_name"] == r["model_name"] and s["method"] == "sft")
        t, b = r["training"], sft["training"]
        mine, theirs = _held_after(r), _held_after(sft)
        diff = "-" if mine is None or theirs is None else f"{mine:.2f} vs {theirs:.2f} ({mine - theirs:+.2f})"
        lines.append(f"{r['model_name']:<14}{r['method']:<10}{_ratio(t['step_time_s'], b['step_time_s']):>8}"
                     f"{_ratio(t['seconds'], b['seconds']):>9}{_ratio(t['peak_memory_gb'], b['peak_memory_gb']):>7}"
                     f"{diff:>22}")
    notes = [f"{r['model_name']} {r['method']}: " + (f"{t} two-frame rows added" if isinstance(t, int) else f"no pair rows: {t}")
             for r in results if (t := r["training"].get("pair_rows")) is not None]
    notes += [f"{r['model_name']} {r['method']}: s/step is GRPO's ({r['training']['steps']} steps after "
              f"{r['training']['sft_steps']} SFT steps, {r['training']['sft_seconds']:.1f} s)"
              for r in results if "sft_steps" in r["training"]]
    return "\n".join(lines + ([""] + notes if notes else []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: tiny random qwen3_vl and gemma3)")
    parser.add_argument("--bursts", type=int, default=8, help="synthetic bursts of three frames")
    parser.add_argument("--steps", type=int, default=100, help="SFT and ORPO optimizer steps")
    parser.add_argument("--grpo-steps", type=int, default=40, help="GRPO optimizer steps (each samples a group)")
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--grpo-lr", type=float, help="GRPO's learning rate (default: --lr)")
    parser.add_argument("--grpo-seed", type=int, default=0, help="GRPO's sampling seed (the split keeps seed 0)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--json", type=Path, help="also write the results (and the table beside, .txt)")
    args = parser.parse_args()
    if "sft" not in args.methods:
        parser.error("--methods must include sft: the ratios are against it")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mondrian-bench-methods-") as tmp:
        work = Path(tmp)
        os.environ["MONDRIAN_HOME"] = str(work / "home")
        from app.testing.tiny_model import build_tiny_model

        models = [args.model] if args.model else [str(build_tiny_model(work / arch, arch=arch))
                                                  for arch in ("qwen3_vl", "gemma3")]
        for model in models:
            for method in args.methods:
                r = method_run(model, method, work, args.bursts, args.steps, args.grpo_steps, args.lr,
                               args.grpo_lr or args.lr, args.grpo_seed)
                r["model_name"] = Path(model).name
                results.append(r)
                print(f"done: {r['model_name']} {method} in {r['training']['seconds']:.1f} s", file=sys.stderr)
                if args.json:  # so far, in case a long run is cut short
                    save(results, args.json)
    text = table(results, args)
    print(text)
    if args.json:
        save(results, args.json)
        args.json.with_suffix(".txt").write_text(text + "\n")
    return 0


def save(results: list[dict[str, Any]], path: Path) -> None:
    path.write_text(json.dumps([{k: r[k] for k in ("model_name", "method", "agreement", "comparison", "training",
                                                   "frames")} for r in results], indent=2))


if __name__ == "__main__":
    sys.exit(main())
