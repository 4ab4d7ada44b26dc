"""Real LoRA adapters for the tiny test model, made by mlx-vlm's own trainer in a few steps.

Tests and the benchmark need adapters that went through the real path (``prepare_model_for_training``,
``Trainer``, ``save_adapter``) so their files are exactly what training writes. A few steps at a
high learning rate on a two-row dataset move the weights enough that greedy output differs from
the base. Runs on the calling thread (it loads its own copy of the model there).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path

from app.engine.adapters.versions import ADAPTER_CONFIG, ADAPTER_WEIGHTS

_ANSWER = {"dimensional_analysis": {"composition": {"score": 7, "comment": "Strong diagonal.",
                                                    "recommendation": "Crop the left edge."}},
           "summary": "A calm, well balanced frame."}


def train_tiny_adapter(model_dir: str | Path, dest: str | Path, *, rank: int = 4, alpha: float = 8.0,
                       iters: int = 4, seed: int = 0, train_type: str = "lora",
                       target_modules: Sequence[str] | None = None, learning_rate: float = 5e-2,
                       quiet: bool = True) -> Path:
    """Train an adapter on ``model_dir`` for ``iters`` steps and save it in ``dest`` (created)."""
    import mlx.core as mx
    import mlx.optimizers as optim
    import mlx_vlm
    from datasets import Dataset
    from mlx_vlm.trainer import Trainer, VLMTrainingArgs, prepare_model_for_training
    from PIL import Image

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    mx.random.seed(seed)
    model, processor = mlx_vlm.load(str(model_dir))
    prepare_model_for_training(model, train_type=train_type, lora_rank=rank, lora_alpha=alpha,
                               target_modules=list(target_modules) if target_modules else None, verbose=False)
    shade = (seed * 53) % 256
    rows = [{"messages": [{"role": "user", "content": f"Critique this photo ({i})."},
                          {"role": "assistant", "content": json.dumps(_ANSWER) + f" #{seed}"}],
             "images": [Image.new("RGB", (64, 48), (shade, 255 - shade, 40 * i))]} for i in range(2)]
    args = VLMTrainingArgs(batch_size=1, iters=iters, steps_per_report=max(iters, 1), steps_per_eval=None,
                           steps_per_save=10_000, max_seq_length=512, adapter_file=str(dest / ADAPTER_WEIGHTS))
    trainer = Trainer(model, args, train_dataset=Dataset.from_list(rows), processing_class=processor,
                      optimizer=optim.Adam(learning_rate=learning_rate), seed=seed)
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext(), \
            contextlib.redirect_stderr(sink) if quiet else contextlib.nullcontext():
        trainer.train()
        trainer.save_adapter()
    if not (dest / ADAPTER_CONFIG).is_file():
        raise RuntimeError(f"mlx-vlm's trainer wrote no {ADAPTER_CONFIG} in {dest}")
    return dest
