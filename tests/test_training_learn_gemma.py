"""Learning from culls on the tiny Gemma 3: why it learned nothing before, checked piece by piece.

Two causes, each with its test. The tiny model was blind: the builder kept mlx-vlm's all-ones
``mm_input_projection_weight``, which sums each image feature over its channels, and the vision
tower's final LayerNorm makes that sum zero, so every photo reached the language model as zeros.
And mlx-vlm 0.7.10's training forward for Gemma 3 is not causal (``training.causal``): training
copied the visible next token and the teacher-forced score read the probe's own digits. Then the
synthetic photographer's taste is learned end to end (mlx-vlm's SFT trainer, at lr 2e-3: at the
qwen3_vl tests' 5e-3 the causal Gemma's loss jumps about and 100 steps are not always enough)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.testing.synthetic_photographer import decisions as photographer
from app.testing.tiny_model import build_tiny_model
from training.causal import leaks_future, make_training_causal
from training.cull_scoring import FrameScorer
from training.culls import build_examples
from training.learn import Learning, LearnOptions, training_edge

STEPS = 100
TIME_LIMIT_S = 300


@pytest.fixture(scope="module")
def gemma_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("gemma") / "tiny-gemma3", arch="gemma3")


def _eye(advisor_id: str = "eye") -> Any:
    from app.engine.advisors import Advisor, get_advisor, save_user_advisor

    save_user_advisor(Advisor(id=advisor_id, name="Eye", bio="Likes sharp, bright frames."))
    return get_advisor(advisor_id)


@pytest.fixture(scope="module")
def burst(gemma_dir: Path, tmp_path_factory: pytest.TempPathFactory, mondrian_home: Path) -> dict[str, Any]:
    """A fresh model and the SFT rows of one synthetic burst (sharp pick, dark copy, blurred reject)."""
    import mlx_vlm
    from PIL import Image

    model, processor = mlx_vlm.load(str(gemma_dir))
    edge = training_edge(model.config)
    found = photographer(tmp_path_factory.mktemp("burst"), 1, edge=192)

    def image(path: str) -> Image.Image:
        with Image.open(path) as opened:
            img = opened.convert("RGB")
        img.thumbnail((edge, edge))
        return img

    return {"model": model, "processor": processor, "rows": build_examples(found, _eye(), image).sft}


def _batch(scorer: FrameScorer, row: dict[str, Any]) -> dict[str, Any]:
    from mlx_vlm.trainer.vlm.sft.runtime import collate_vlm_batch

    return collate_vlm_batch([scorer.dataset.process(row)], 1 << 20, pad_to_multiple=1)


def _image_embeddings(model: Any, batch: dict[str, Any]) -> np.ndarray:
    import mlx.core as mx

    out = model.get_input_embeddings(batch["input_ids"], batch["pixel_values"], mask=batch["attention_mask"])
    ids = np.asarray(batch["input_ids"])[0]
    return np.asarray(out.inputs_embeds[0].astype(mx.float32))[ids == model.config.image_token_index]


def test_the_tiny_gemma_sees_the_photo(burst: dict[str, Any]) -> None:
    """64 image tokens, and what reaches the language model differs between a burst's frames."""
    scorer = FrameScorer(burst["model"], burst["processor"])
    sharp, _dark, blurred = (_image_embeddings(burst["model"], _batch(scorer, row)) for row in burst["rows"])
    assert sharp.shape == (64, 64)
    assert np.abs(sharp).mean() > 1e-3  # was 3e-8: zeros for every photo
    normed = [e / np.sqrt((e ** 2).mean(axis=1, keepdims=True)) for e in (sharp, blurred)]
    assert np.abs(normed[0] - normed[1]).mean() > 0.1  # was 0.000 after the language model's RMS norm


def test_the_training_forward_is_causal_once_made_so(gemma_dir: Path, burst: dict[str, Any]) -> None:
    """mlx-vlm 0.7.10's own Gemma 3 training forward sees the future; the scorer's and the trainer's
    forward (after make_training_causal) does not."""
    import mlx_vlm

    model, _ = mlx_vlm.load(str(gemma_dir))
    scorer_batch = _batch(FrameScorer(burst["model"], burst["processor"]), burst["rows"][0])
    assert leaks_future(model, scorer_batch) > 0.01, "mlx-vlm's Gemma 3 forward is causal now: training.causal may go"
    assert make_training_causal(model) and make_training_causal(model)  # idempotent
    assert leaks_future(model, scorer_batch) == 0.0


def test_the_scorer_refuses_a_forward_that_sees_the_future(gemma_dir: Path, burst: dict[str, Any]) -> None:
    import mlx_vlm

    model, processor = mlx_vlm.load(str(gemma_dir))
    scorer = FrameScorer(model, processor)
    del model.get_input_embeddings  # mlx-vlm's own forward again
    row = burst["rows"][0]
    with pytest.raises(ValueError, match="gemma3 is not causal"):
        scorer.score_rows([row])


@pytest.fixture(scope="module")
def learned(gemma_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One SFT run on eight synthetic bursts (two held out), the taste from the pixels alone: the bench's
    setting. With three bursts the random model already ranks them 0.93 by chance, nothing to rise from."""
    import time

    root = tmp_path_factory.mktemp("learn-gemma")
    mp = pytest.MonkeyPatch()
    mp.setenv("MONDRIAN_HOME", str(root / "home"))
    try:
        opts = LearnOptions(advisor_id=_eye().id, reviews=["synthetic"], model=str(gemma_dir), method="sft",
                            steps=STEPS, lr=2e-3, held_out=0.25, decisions=photographer(root / "photos", 8, edge=192),
                            bootstrap=200, activate="never", facts=False)
        started = time.perf_counter()
        result = Learning(opts, io.StringIO()).run()
        yield {"result": result, "seconds": time.perf_counter() - started}
    finally:
        mp.undo()


def test_the_tiny_gemma_learns_the_photographers_taste(learned: dict[str, Any]) -> None:
    r = learned["result"]
    assert learned["seconds"] < TIME_LIMIT_S
    before, after = r["agreement"]["before"]["train"], r["agreement"]["after"]["train"]
    assert before["pairs"] == after["pairs"] == 108  # 6 bursts of a pick, a 2-star and a reject
    held_before, held_after = r["agreement"]["before"]["held_out"], r["agreement"]["after"]["held_out"]
    figures = {k: v["pairwise"]["value"] for k, v in (("before", before), ("after", after),
                                                      ("held before", held_before), ("held after", held_after))}
    assert after["pairwise"]["value"] > before["pairwise"]["value"] + 0.1, figures
    assert after["pairwise"]["value"] >= 0.9, figures
    assert held_after["pairwise"]["value"] >= held_before["pairwise"]["value"], figures
    assert r["training"]["steps"] == STEPS
