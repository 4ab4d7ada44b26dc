"""Benchmark: data-parallel LoRA training, 2 processes on loopback (ring backend) vs 1 process.

    .venv/bin/python bench/distributed.py [--model DIR] [--epochs 1]

Same dataset, same global batch (2) and seed. Prints per step: compute time, wall time between
steps, examples/s; and the all-reduce of the adapter's gradients measured on its own under
``mlx.launch`` (bytes per step, time per step, its share of the step). Also prints the adapter
gradient size for the default model's shape (mlx-community/Qwen3-VL-4B-Instruct-4bit: the text
config below; mlx-vlm's default LoRA targets, every Linear of the language model but lm_head) at
rank 8 and 16. On this 2-core machine the two ranks share the cores, so the speed-up itself is not
meaningful: the communication share is.
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
ARGS = ["--epochs", "1", "--batch-size", "2", "--rank", "8", "--lr", "1e-3", "--dropout", "0", "--no-activate"]
# text_config of mlx-community/Qwen3-VL-4B-Instruct-4bit (config.json), the default model.
DEFAULT_TEXT = {"hidden_size": 2560, "intermediate_size": 9728, "num_hidden_layers": 36, "num_attention_heads": 32,
                "num_key_value_heads": 8, "head_dim": 128}
GRAD_BYTES = 4  # LoRA A/B and their gradients are float32 in mlx-vlm's LoRALinear


def lora_gradient_bytes(text: dict[str, int], rank: int) -> int:
    """Bytes of one step's LoRA gradients: rank x (in + out) per targeted Linear."""
    h, inter, heads, kv, hd = (text[k] for k in ("hidden_size", "intermediate_size", "num_attention_heads",
                                                  "num_key_value_heads", "head_dim"))
    shapes = [(h, heads * hd), (h, kv * hd), (h, kv * hd), (heads * hd, h), (h, inter), (h, inter), (inter, h)]
    per_layer = sum(rank * (i + o) for i, o in shapes)
    return per_layer * text["num_hidden_layers"] * GRAD_BYTES


def _env(home: Path) -> dict[str, str]:
    return dict(os.environ, MONDRIAN_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def prepare(home: Path, work: Path) -> None:
    from tests.training_helpers import make_portfolio, write_targets

    names = make_portfolio(work / "portfolio", n=8, broken=False)
    write_targets(work / "targets.json", names)
    subprocess.run([sys.executable, "-m", "training.prepare_dataset", "--advisor", ADVISOR, "--advisor-name", "Bench",
                    "--portfolio", str(work / "portfolio"), "--targets", str(work / "targets.json"),
                    "--val-fraction", "0.25"], cwd=ROOT, env=_env(home), check=True, capture_output=True)


def train(home: Path, model: str, world: int) -> dict[str, Any]:
    if world == 1:
        argv = [sys.executable, "-m", "training.train_lora"]
    else:
        argv = [sys.executable, "-m", "training.distributed", "launch", "--hosts", ",".join(["127.0.0.1"] * world),
                "--no-check", "--"]
    proc = subprocess.run([*argv, "--advisor", ADVISOR, "--model", model, *ARGS], cwd=ROOT, env=_env(home),
                          capture_output=True, text=True, check=True)
    evs = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    steps = [e for e in evs if e["event"] == "step"]
    walls = [b["time"] - a["time"] for a, b in zip(steps, steps[1:], strict=False)]
    compute = statistics.median(e["step_time_s"] for e in steps)
    wall = statistics.median(walls) if walls else compute
    return {"world": world, "steps": len(steps), "compute_s": compute, "wall_s": wall, "examples_per_s": 2 / wall,
            "losses": [e["loss"] for e in steps], "trainable": next(e for e in evs if e["event"] == "memory_estimate")
            ["trainable_parameters"]}


WORKER = """
import json, sys, time
import mlx.core as mx
sizes = json.loads(sys.argv[1]); repeats = int(sys.argv[2])
world = mx.distributed.init()
arrays = [mx.ones((n,), dtype=mx.float32) for n in sizes]
mx.eval(arrays)
for _ in range(2):  # warm-up: connections, buffers
    mx.eval([mx.distributed.all_sum(a, stream=mx.cpu) for a in arrays])
times = []
for _ in range(repeats):
    t = time.perf_counter()
    mx.eval([mx.distributed.all_sum(a, stream=mx.cpu) for a in arrays])
    times.append(time.perf_counter() - t)
if world.rank() == 0:
    print(json.dumps({"seconds": sorted(times)[len(times) // 2], "bytes": 4 * sum(sizes)}))
"""


def allreduce(sizes: list[int], repeats: int) -> dict[str, float]:
    """Median time of all-reducing arrays of these sizes (float32) across 2 loopback processes."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(WORKER)
    launcher = Path(sys.executable).with_name("mlx.launch")
    proc = subprocess.run([str(launcher), "-n", "2", "--backend", "ring", "--", sys.executable, fh.name,
                           json.dumps(sizes), str(repeats)], capture_output=True, text=True, check=True, timeout=600)
    os.unlink(fh.name)
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def lora_shapes(model: str, rank: int) -> list[int]:
    """Sizes of the LoRA arrays the trainer averages each step (mlx-vlm's default targets)."""
    import mlx_vlm
    from mlx.utils import tree_flatten
    from mlx_vlm.trainer import prepare_model_for_training

    loaded, _ = mlx_vlm.load(model, lazy=True)
    prepare_model_for_training(loaded, train_type="lora", lora_rank=rank, lora_alpha=2.0 * rank, verbose=False)
    return [int(v.size) for _, v in tree_flatten(loaded.trainable_parameters())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: build the tiny test model)")
    args = parser.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = args.model
        if not model:
            from app.testing.tiny_model import build_tiny_model

            model = str(build_tiny_model(work / "tiny-model"))
        rows = []
        for world in (1, 2):
            home = work / f"home{world}"
            prepare(home, work / f"data{world}")
            rows.append(train(home, model, world))
        sizes = lora_shapes(model, 8)
        tiny = allreduce(sizes, repeats=50)
        big_sizes = [lora_gradient_bytes(DEFAULT_TEXT, 8) // GRAD_BYTES // 64] * 64  # 64 arrays, same total
        big = allreduce(big_sizes, repeats=5)

    one, two = rows
    print("\nData-parallel LoRA, tiny model, global batch 2, loopback ring (2 CPU cores shared by both ranks)\n")
    print(f"{'':34}{'1 process':>12}{'2 processes':>14}{'ratio':>8}")
    for label, key, fmt in (("step compute (median, s)", "compute_s", "{:.3f}"),
                            ("step wall time (median, s)", "wall_s", "{:.3f}"),
                            ("examples / s", "examples_per_s", "{:.2f}")):
        a, b = one[key], two[key]
        print(f"{label:34}{fmt.format(a):>12}{fmt.format(b):>14}{b / a:>8.2f}")
    worst = max(abs(x - y) / abs(x) for x, y in zip(one["losses"], two["losses"], strict=True))
    print(f"{'largest relative loss difference':34}{worst:>26.2e}")
    share = tiny["seconds"] / two["wall_s"]
    print("\nAll-reduce of the adapter gradients per step (2 processes, loopback):")
    print(f"  tiny model, rank 8: {tiny['bytes'] / 1e6:.3f} MB in {1e3 * tiny['seconds']:.2f} ms "
          f"= {100 * share:.1f} % of the 2-process step")
    print(f"  default-model size, rank 8: {big['bytes'] / 1e6:.1f} MB in {1e3 * big['seconds']:.0f} ms on loopback "
          f"({big['bytes'] / big['seconds'] / 1e9:.2f} GB/s)")
    print("\nAdapter gradient per step for mlx-community/Qwen3-VL-4B-Instruct-4bit (float32, default targets):")
    for rank in (8, 16):
        size = lora_gradient_bytes(DEFAULT_TEXT, rank)
        print(f"  rank {rank:>2}: {size / GRAD_BYTES / 1e6:.2f} M parameters, {size / 1e6:.1f} MB; a 2-Mac ring sends "
              f"and receives {size / 1e6:.1f} MB per step each: ~{size / 1.1e9 * 1e3:.0f} ms on 10 GbE, "
              f"~{size / 2.5e9 * 1e3:.0f} ms on a Thunderbolt bridge (~2.5 GB/s)")
    print(f"\n(measured {time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    main()
