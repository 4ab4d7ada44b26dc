"""Shared by the training tests: a generated portfolio, fixed targets, and running the commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.engine.critique.report import DIMENSIONS

ROOT = Path(__file__).resolve().parents[1]
# Fixed scores far from the 5/10 midpoint, so an adapter that learned them is easy to tell apart.
TARGET_SCORES = dict(zip(DIMENSIONS, [9, 8, 9, 2, 8, 9, 1, 8], strict=True))
# Short texts: the tiny model memorises them in a couple of minutes of CPU training.
TARGET = {"dimensional_analysis": {d: {"score": s, "comment": "Ok.", "recommendation": "Keep."}
                                   for d, s in TARGET_SCORES.items()},
          "summary": "Fine."}  # no grade: it is derived from the scores, never a target


def make_portfolio(folder: Path, n: int = 8, *, broken: bool = True, size: tuple[int, int] = (128, 96)) -> list[str]:
    """``n`` distinct JPEG photos (gradients + noise), plus unreadable files when ``broken``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    w, h = size
    names = []
    for i in range(n):
        arr = np.zeros((h, w, 3), np.uint8)
        arr[..., 0] = np.linspace(0, 255, w)[None, :]
        arr[..., 1] = np.linspace(0, 255, h)[:, None]
        arr[..., 2] = (i * 30) % 255
        arr = arr // 2 + rng.integers(0, 60, arr.shape, dtype=np.uint8)
        name = f"p{i}.jpg"
        Image.fromarray(arr).save(folder / name, quality=92)
        names.append(name)
    if broken:
        (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        (folder / "empty.png").write_bytes(b"")
        (folder / "notes.txt").write_text("not a photo")  # no photo suffix: not even listed
    return names


def write_targets(path: Path, names: list[str], target: dict[str, Any] | None = None) -> Path:
    path.write_text(json.dumps({n: target or TARGET for n in names}), encoding="utf-8")
    return path


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MONDRIAN_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""), **extra)
    return env


def run_module(module: str, *args: str, home: Path, timeout: float = 900, check: bool = True,
               **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` in a subprocess on ``home``; raises with its output on failure."""
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env_for(home), text=True,
                          capture_output=True, timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"{module} {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
    return proc


def events(stdout: str) -> list[dict[str, Any]]:
    """The JSON-lines events of a training command (every stdout line must be one)."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def quantized_copy(model_dir: Path, dest: Path) -> Path:
    """The tiny model with its language-model Linear layers quantized to 4 bits (like the default base)."""
    import mlx.nn as nn
    import mlx_vlm
    from mlx_vlm.utils import save_weights

    model, _ = mlx_vlm.load(str(model_dir))
    nn.quantize(model.language_model, group_size=64, bits=4,
                class_predicate=lambda _p, m: isinstance(m, nn.Linear) and m.weight.shape[-1] % 64 == 0)
    dest.mkdir(parents=True)
    for item in model_dir.iterdir():
        if item.is_file() and not item.name.endswith(".safetensors") and item.name != "model.safetensors.index.json":
            shutil.copy2(item, dest / item.name)
    config = json.loads((model_dir / "config.json").read_text())
    config["quantization"] = {"group_size": 64, "bits": 4}
    (dest / "config.json").write_text(json.dumps(config))
    save_weights(dest, model)
    return dest


def ring_can_bind() -> bool:
    """Whether ``mlx.launch``'s ring backend can run here: the launcher is installed and a loopback
    port can be bound (the several-Mac tests run two processes on loopback)."""
    import socket

    if not Path(sys.executable).with_name("mlx.launch").exists():
        return False
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
    except OSError:
        return False
    return True
