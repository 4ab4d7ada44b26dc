"""Two frames of one burst, "which is stronger?": the rows, and the probe of whether a model takes
two photos, checked against what mlx-vlm's own Trainer does with a pair row on three tiny families
(two that take them, gemma3 whose two-photo rows the 0.7.10 trainer cannot collate)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image

from app.engine.advisors import Advisor
from training.culls import Decision, user_level
from training.pairs import pair_answer, pair_rows, ranked_pairs, several_images_problem, takes_several_images

ADVISOR = Advisor(id="pairs", name="Pairs", bio="Likes sharp, bright frames.")


@pytest.fixture(scope="module")
def bursts(tmp_path_factory: pytest.TempPathFactory) -> list[Decision]:
    from app.testing.synthetic_photographer import decisions

    return decisions(tmp_path_factory.mktemp("bursts"), 2, edge=96)


def _load(path: str) -> Image.Image:
    with Image.open(path) as opened:
        return opened.convert("RGB")


def test_every_ranked_pair_of_a_burst_comes_in_both_orders(bursts: list[Decision]) -> None:
    facts = {d.path: [f"exposure of {Path(d.path).stem}"] for d in bursts}
    rows = pair_rows(bursts, ADVISOR, _load, lambda path: facts[path])
    assert len(rows) == 2 * 3 * 2  # two bursts, three ranked pairs each, both orders
    answers = [json.loads(r["messages"][-1]["content"])["stronger"] for r in rows]
    assert answers.count(1) == answers.count(2)  # the position alone predicts nothing
    by_path = {d.path: d for d in bursts}
    pixels = {d.path: _load(d.path).tobytes() for d in bursts}
    for row, answer in zip(rows, answers, strict=True):
        assert len(row["images"]) == 2
        first, second = (next(p for p, b in pixels.items() if b == im.tobytes()) for im in row["images"])
        assert by_path[first].group == by_path[second].group  # one burst
        stronger, weaker = (first, second) if answer == 1 else (second, first)
        assert user_level(by_path[stronger]) > user_level(by_path[weaker])  # the user's order
        user = row["messages"][1]["content"]
        assert user.index(facts[first][0]) < user.index(facts[second][0])  # facts follow the photos' order
        assert row["messages"][0]["role"] == "system" and row["messages"][-1]["role"] == "assistant"


def test_unranked_and_undecided_frames_make_no_pairs() -> None:
    frames = [Decision("a", "s", "b1", stars=3), Decision("b", "s", "b1", stars=3),  # a tie
              Decision("c", "s", "b1"),  # undecided
              Decision("d", "s", "b2", flag="pick"), Decision("e", "s", "b3", flag="reject")]  # other bursts
    assert ranked_pairs(frames) == []
    with pytest.raises(ValueError, match="stronger must be 1 or 2"):
        pair_answer(3)


@pytest.fixture(scope="module", params=["qwen3_vl", "qwen2_5_vl", "gemma3"])
def family(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    from app.testing.tiny_model import build_tiny_model

    return request.param, build_tiny_model(tmp_path_factory.mktemp("pairs") / request.param, arch=request.param)


def _train_one_step(model_dir: Path, rows: list[dict[str, Any]], tmp: Path) -> tuple[Any, dict[str, Any], bool]:
    """(Trainer metrics or the error, weights moved?) after one real step of mlx-vlm's Trainer on pair rows."""
    import mlx.core as mx
    import mlx.optimizers as optim
    import mlx_vlm
    import numpy as np
    from datasets import Dataset
    from mlx.utils import tree_flatten
    from mlx_vlm.trainer import Trainer, VLMTrainingArgs, prepare_model_for_training

    model, processor = mlx_vlm.load(str(model_dir))
    probe = several_images_problem(model, processor)
    mx.random.seed(0)
    prepare_model_for_training(model, train_type="lora", lora_rank=4, lora_alpha=8.0, lora_dropout=0.0, verbose=False)
    flat = cast(list[tuple[str, Any]], tree_flatten(model.trainable_parameters()))
    before = {k: np.array(v) for k, v in flat}
    args = VLMTrainingArgs(batch_size=1, iters=1, steps_per_report=1, steps_per_eval=None, steps_per_save=2,
                           max_seq_length=1 << 20, train_on_completions=True,
                           adapter_file=str(tmp / "adapters.safetensors"))
    trainer = Trainer(model, args, train_dataset=Dataset.from_list(rows[:2]), processing_class=processor,
                      optimizer=optim.Adam(learning_rate=1e-2), seed=0)
    try:
        metrics: Any = trainer.train()
    except Exception as exc:  # noqa: BLE001 - the outcome compared with the probe's answer
        metrics = exc
    after: dict[str, Any] = dict(tree_flatten(model.trainable_parameters()))
    moved = any(not np.array_equal(before[k], np.array(v)) for k, v in after.items())
    return metrics, {"probe": probe, "takes": takes_several_images(model, processor)}, moved


def test_the_probe_agrees_with_a_real_training_step_on_pair_rows(family: tuple[str, Path], bursts: list[Decision],
                                                                tmp_path: Path) -> None:
    name, model_dir = family
    rows = pair_rows(bursts, ADVISOR, _load)
    metrics, probe, moved = _train_one_step(model_dir, rows, tmp_path)
    assert probe["takes"] == (probe["probe"] is None)
    if name in ("qwen3_vl", "qwen2_5_vl"):  # Qwen VL: several images per prompt, in training too
        assert probe["takes"], probe["probe"]
    if probe["takes"]:
        assert not isinstance(metrics, Exception), f"{name}: the probe said yes but the Trainer failed: {metrics!r}"
        assert metrics["train_loss"] == metrics["train_loss"] and metrics["train_loss"] > 0  # finite, not NaN
        assert moved and (tmp_path / "adapters.safetensors").is_file()
    else:
        # gemma3 in mlx-vlm 0.7.10: collate_vlm_batch stacks the row's (2, 3, H, W) pixels into 5-D
        assert isinstance(metrics, Exception), f"{name}: the probe said no ({probe['probe']}) but the Trainer trained"
        assert "forward pass failed" in str(probe["probe"]) and str(metrics) in str(probe["probe"])


def test_a_single_image_model_type_is_refused_before_any_probe(tiny_model: tuple[Any, Any]) -> None:
    model, processor = tiny_model
    real = model.config.model_type
    try:
        model.config.model_type = "paligemma"  # mlx-vlm's SINGLE_IMAGE_ONLY_MODELS
        assert "single-image" in str(several_images_problem(model, processor))
        model.config.model_type = "no_such_vlm"
        assert "no chat format" in str(several_images_problem(model, processor))
    finally:
        model.config.model_type = real
    assert several_images_problem(model, processor) is None
