"""Training benchmark: step time and peak memory, Mondrian's pipeline vs a bare mlx-vlm Trainer.

Run: ``.venv/bin/python bench/training.py [--model DIR] [--epochs 3] [--repeats 2] [--json OUT]``.
Without ``--model`` it builds the tiny random test model (CPU-friendly). The data is the same for
both sides: a generated 8-photo portfolio prepared by ``training.prepare_dataset`` (one augmented
copy per training photo, grounding facts in the prompts), whose saved ``train`` split both train on
with the same LoRA settings, optimizer, learning rate and number of steps:

* pipeline: ``python -m training.train_lora`` as the GUI runs it (JSON-lines progress every step,
  a validation pass and a checkpoint per epoch, signal handling);
* bare: the same model loaded with ``mlx_vlm.load``, ``prepare_model_for_training``, and one
  ``Trainer(...).train()`` call with a no-op callback (so both take a timestamp per step).

Each side runs in its own process (peak memory is per process), alternating, ``--repeats`` times;
the best run of each counts (other load on the machine only ever slows a run down). Reported:
median step compute time (mlx-vlm's own ``step_time``), median wall time per step (between step
reports, epoch boundaries excluded), tokens/s, and peak memory; plus the pipeline's memory
estimate against its measured peak. Target: pipeline / bare step time <= 1.05.

``--culls``: learning from culls instead (``training.learn``) on the synthetic photographer
(``app.testing.synthetic_photographer``: bursts of a sharp pick, a darkened 2-star copy and a
blurred reject), SFT and ORPO, on two model families (tiny random qwen3_vl and gemma3 unless
``--model`` is given): pairwise agreement, Spearman and pick precision before/after on the training
and the held-out bursts, step time of each method and peak memory. The baseline is the same model
before training, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADVISOR = "bench"
LORA = {"rank": 16, "alpha": 32.0, "dropout": 0.0, "lr": 2e-3}


def _env(home: Path) -> dict[str, str]:
    return dict(os.environ, MONDRIAN_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def prepare(home: Path, work: Path) -> None:
    from tests.training_helpers import make_portfolio, write_targets

    names = make_portfolio(work / "portfolio", n=8, broken=False)
    write_targets(work / "targets.json", names)
    subprocess.run([sys.executable, "-m", "training.prepare_dataset", "--advisor", ADVISOR, "--advisor-name", "Bench",
                    "--portfolio", str(work / "portfolio"), "--targets", str(work / "targets.json"), "--augment", "1",
                    "--val-fraction", "0.25"], cwd=ROOT, env=_env(home), check=True, capture_output=True)


def run_pipeline(home: Path, model: str, epochs: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "training.train_lora", "--advisor", ADVISOR, "--model", model,
                           "--epochs", str(epochs), "--rank", str(LORA["rank"]), "--alpha", str(LORA["alpha"]),
                           "--dropout", str(LORA["dropout"]), "--lr", str(LORA["lr"]), "--patience", "99",
                           "--no-activate"], cwd=ROOT, env=_env(home), capture_output=True, text=True, check=True)
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    steps = [e for e in events if e["event"] == "step"]
    walls = [b["time"] - a["time"] for a, b in zip(steps, steps[1:], strict=False) if b["epoch"] == a["epoch"]]
    estimate = next(e for e in events if e["event"] == "memory_estimate")
    return {"steps": len(steps), "step_time_s": statistics.median(e["step_time_s"] for e in steps),
            "wall_per_step_s": statistics.median(walls), "tokens_per_s": statistics.median(e["tokens_per_s"] for e in steps),
            "peak_memory_gb": max(e["peak_memory_gb"] for e in steps), "estimate_gb": estimate["total_gb"]}


def run_bare(home: Path, model: str, steps: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--bare-worker", "--model", model,
                           "--iters", str(steps)], cwd=ROOT, env=_env(home), capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bare_worker(model_ref: str, iters: int) -> None:
    """A bare mlx-vlm Trainer on the saved train split (stdout: one JSON line)."""
    import contextlib

    import mlx.core as mx
    import mlx.optimizers as optim
    import mlx_vlm
    from datasets import load_from_disk
    from mlx_vlm.trainer import Trainer, TrainingCallback, VLMTrainingArgs, prepare_model_for_training

    from app.engine import paths

    class Clock(TrainingCallback):
        def __init__(self) -> None:
            self.reports: list[tuple[float, dict]] = []

        def on_train_loss_report(self, info: dict) -> None:
            self.reports.append((time.perf_counter(), info))

    rows = load_from_disk(str(paths.datasets_dir(ADVISOR)))["train"]
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        model, processor = mlx_vlm.load(model_ref, lazy=True)
        mx.random.seed(0)
        prepare_model_for_training(model, train_type="lora", lora_rank=int(LORA["rank"]), lora_alpha=LORA["alpha"],
                                   lora_dropout=LORA["dropout"], verbose=False)
        args = VLMTrainingArgs(batch_size=1, iters=iters, steps_per_report=1, steps_per_eval=None,
                               steps_per_save=iters + 1, max_seq_length=1 << 20, train_on_completions=True,
                               adapter_file=tempfile.mkdtemp() + "/adapters.safetensors")
        clock = Clock()
        trainer = Trainer(model, args, train_dataset=rows, processing_class=processor,
                          optimizer=optim.Adam(learning_rate=LORA["lr"]), training_callback=clock, seed=0)
        trainer.train()
    infos = [i for _, i in clock.reports]
    per_epoch = len(rows)
    walls = [b[0] - a[0] for k, (a, b) in enumerate(zip(clock.reports, clock.reports[1:], strict=False))
             if (k + 1) % per_epoch != 0]
    print(json.dumps({"steps": len(infos), "step_time_s": statistics.median(i["step_time"] for i in infos),
                      "wall_per_step_s": statistics.median(walls),
                      "tokens_per_s": statistics.median(i["processed_tokens_per_second"] for i in infos),
                      "peak_memory_gb": mx.get_peak_memory() / 1e9}), file=out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: build the tiny test model)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--culls", action="store_true", help="learning from culls: agreement before/after, SFT and ORPO")
    parser.add_argument("--bursts", type=int, default=8, help="--culls: synthetic bursts of three frames")
    parser.add_argument("--steps", type=int, default=100, help="--culls: optimizer steps per method")
    parser.add_argument("--lr", type=float, default=2e-3, help="--culls: learning rate (5e-3 overshoots: both tiny families learn at 2e-3)")
    parser.add_argument("--bare-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--iters", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_worker:
        bare_worker(args.model, args.iters)
        return 0
    if args.culls:
        return culls_bench(args)
    with tempfile.TemporaryDirectory(prefix="mondrian-bench-") as tmp:
        work = Path(tmp)
        home = work / "home"
        model = args.model
        if model is None:
            from app.testing.tiny_model import build_tiny_model

            model = str(build_tiny_model(work / "tiny-model"))
        prepare(home, work)
        pipeline_runs, bare_runs = [], []
        for _ in range(args.repeats):
            pipeline_runs.append(run_pipeline(home, model, args.epochs))
            bare_runs.append(run_bare(home, model, pipeline_runs[-1]["steps"]))
    pipe = min(pipeline_runs, key=lambda r: r["step_time_s"])
    bare = min(bare_runs, key=lambda r: r["step_time_s"])
    rows = [("step compute time (median)", "s", "step_time_s"), ("wall time per step (median)", "s", "wall_per_step_s"),
            ("tokens/s (median)", "tok/s", "tokens_per_s"), ("peak memory", "GB", "peak_memory_gb")]
    print(f"model: {model}; {pipe['steps']} steps per run, best of {args.repeats} runs each")
    print(f"{'metric':<30}{'pipeline':>12}{'bare Trainer':>14}{'ratio':>8}")
    for label, unit, key in rows:
        print(f"{label + ' (' + unit + ')':<30}{pipe[key]:>12.4f}{bare[key]:>14.4f}{pipe[key] / bare[key]:>8.3f}")
    ratio = pipe["step_time_s"] / bare["step_time_s"]
    print(f"memory estimate before training: {pipe['estimate_gb']:.3f} GB (measured peak {pipe['peak_memory_gb']:.3f} GB)")
    print(f"step time ratio {ratio:.3f} (target <= 1.05): {'OK' if ratio <= 1.05 else 'OVER'}")
    if args.json:
        args.json.write_text(json.dumps({"model": model, "pipeline": pipe, "bare": bare, "step_time_ratio": ratio,
                                         "pipeline_runs": pipeline_runs, "bare_runs": bare_runs}, indent=2))
    return 0


CULL_METRICS = (("pairwise", "pairwise"), ("burst", "pairwise_burst"), ("stars", "pairwise_stars"),
                ("Spearman", "spearman"), ("pick prec.", "pick_precision"))


def culls_run(model: str, method: str, work: Path, bursts: int, steps: int, lr: float) -> dict[str, Any]:
    """One ``training.learn`` run in this process, on fresh synthetic bursts; eval.json's content."""
    import io

    from app.engine.advisors import Advisor, save_user_advisor
    from app.testing.synthetic_photographer import decisions
    from training.learn import Learning, LearnOptions

    save_user_advisor(Advisor(id=ADVISOR, name="Bench", bio="Likes sharp, bright frames."))
    found = decisions(work / "photos", bursts, edge=192)
    opts = LearnOptions(advisor_id=ADVISOR, reviews=["synthetic"], model=model, method=method, steps=steps, lr=lr,
                        decisions=found, activate="never", bootstrap=300,
                        facts=False)  # the taste from the pixels alone: the measured facts would spell it out
    return Learning(opts, io.StringIO()).run()


def _value(result: dict[str, Any], when: str, split: str, key: str) -> str:
    v = result["agreement"][when][split][key]["value"]
    return "   -" if v is None else f"{v:5.2f}"


def culls_bench(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mondrian-bench-culls-") as tmp:
        work = Path(tmp)
        os.environ["MONDRIAN_HOME"] = str(work / "home")
        from app.testing.tiny_model import build_tiny_model

        models = [args.model] if args.model else [str(build_tiny_model(work / arch, arch=arch))
                                                  for arch in ("qwen3_vl", "gemma3")]
        for model in models:
            for method in ("sft", "orpo"):
                r = culls_run(model, method, work, args.bursts, args.steps, args.lr)
                r["model_name"] = Path(model).name
                results.append(r)
    print(f"synthetic photographer: {args.bursts} bursts of 3, {args.steps} steps, lr {args.lr}; "
          "agreement before -> after (train / held-out bursts)")
    head = f"{'model':<14}{'method':<7}{'split':<9}" + "".join(f"{n:>16}" for n, _ in CULL_METRICS)
    print(head + f"{'s/step':>9}{'peak GB':>9}")
    for r in results:
        for split in ("train", "held_out"):
            cells = "".join(f"{_value(r, 'before', split, k) + ' -> ' + _value(r, 'after', split, k):>16}"
                            for _, k in CULL_METRICS)
            t = r["training"]
            print(f"{r['model_name']:<14}{r['method']:<7}{split:<9}{cells}{t['step_time_s']:>9.2f}"
                  f"{t['peak_memory_gb']:>9.3f}")
    if args.json:
        args.json.write_text(json.dumps([{k: r[k] for k in ("model_name", "method", "agreement", "comparison",
                                                             "training", "frames")} for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
