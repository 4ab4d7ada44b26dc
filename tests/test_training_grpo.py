"""GRPO from the user's culls (training.learn_grpo): the reward, and mlx-vlm's own GRPO trainer on
the tiny model, kept to a few short rollouts (a couple of seconds a step on CPU)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image

from app.engine.advisors import Advisor
from app.engine.critique.report import DIMENSIONS
from training.culls import Examples, build_examples, scores_answer, target_scores
from training.learn_grpo import FORMAT, answer_scores, cull_reward, grpo_rows, readable_scores, train_grpo
from training.stopping import StopRequested

ADVISOR = Advisor(id="grpo", name="Grpo", bio="Likes sharp, bright frames.")


def test_the_reward_is_the_users_level_for_the_scores_read() -> None:
    target = scores_answer(dict.fromkeys(DIMENSIONS, 8))
    exact, near, far = (scores_answer(dict.fromkeys(DIMENSIONS, v)) for v in (8, 6, 1))
    raw = cull_reward(completions=[exact, near, far, exact + " trailing words", '{"composition": 8}',
                                   "8 8 8 8 8 8 8 8", exact.replace("8", "11", 1)], answer=[target] * 7)
    rewards = [r for r in raw if r is not None]
    assert len(rewards) == 7
    assert rewards[0] == pytest.approx(1.0)
    assert rewards[0] > rewards[1] > rewards[2] >= FORMAT  # closer to the user's level earns more
    assert rewards[3] == rewards[0]  # text after the object is not read, as the triage pass does
    assert rewards[4] == pytest.approx(1 / 8)  # one dimension read, at the user's level: an eighth
    assert rewards[5] == 0.0  # no score readable
    assert 0 < rewards[6] < rewards[0] and rewards[6] == pytest.approx(7 / 8)  # the 11 is not a score
    assert cull_reward(completions=[exact], answer=[None]) == [None]  # a row with no target: no reward
    assert answer_scores("  " + exact) == dict.fromkeys(DIMENSIONS, 8)
    near_miss = '{"composition": 4, "lighting": 4, "depth_impact": 4, "focus_sharpness": 10, "lighting": 9'
    assert readable_scores(near_miss) == {"composition": 4, "lighting": 4, "focus_sharpness": 10}
    assert answer_scores(near_miss) is None


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Examples:
    from app.testing.synthetic_photographer import decisions

    found = decisions(tmp_path_factory.mktemp("grpo-bursts"), 1, edge=64)

    def load(path: str) -> Image.Image:
        with Image.open(path) as opened:
            return opened.convert("RGB")

    return build_examples(found, ADVISOR, load)


def test_rows_are_prompts_with_the_target_kept_for_the_reward(examples: Examples) -> None:
    rows = grpo_rows(examples)
    assert len(rows) == len(examples.decisions) == 3
    for row, d in zip(rows, examples.decisions, strict=True):
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]  # no answer shown to the model
        assert json.loads(row["answer"]) == target_scores(d)
        assert len(row["images"]) == 1


def _fresh(model_dir: Path) -> tuple[Any, Any]:
    import mlx.core as mx
    import mlx_vlm
    from mlx_vlm.trainer import prepare_model_for_training

    model, processor = mlx_vlm.load(str(model_dir))
    mx.random.seed(0)
    prepare_model_for_training(model, train_type="lora", lora_rank=4, lora_alpha=8.0, lora_dropout=0.0, verbose=False)
    return model, processor


def _weights(model: Any) -> dict[str, Any]:
    import numpy as np
    from mlx.utils import tree_flatten

    flat = cast(list[tuple[str, Any]], tree_flatten(model.trainable_parameters()))
    return {k: np.array(v) for k, v in flat}


def _moved(before: dict[str, Any], model: Any) -> bool:
    import numpy as np

    return any(not np.array_equal(before[k], v) for k, v in _weights(model).items())


GROUP, TOKENS = 2, 12  # short rollouts: a couple of seconds a step


def test_grpo_learns_only_from_rewards_that_differ_within_a_group(tiny_model_dir: Path, examples: Examples,
                                                                   tmp_path: Path) -> None:
    # The random model never answers in the format: every rollout earns 0, the advantages are 0,
    # and the adapter does not move (the honest outcome, not a failure of the plumbing).
    model, processor = _fresh(tiny_model_dir)
    before = _weights(model)
    out = io.StringIO()
    run = train_grpo(model, processor, examples, tmp_path / "a" / "adapters.safetensors", steps=2, lr=1e-2, seed=0,
                     out=out, group_size=GROUP, max_completion_length=TOKENS)
    assert set(run) >= {"steps", "seconds", "step_time_s", "peak_memory_gb", "first_loss", "final_loss"}
    assert run["steps"] == 2 and run["first_reward"] == 0.0 and run["peak_memory_gb"] > 0
    assert 0 < run["generated_tokens_per_answer"] <= TOKENS
    assert (tmp_path / "a" / "adapters.safetensors").is_file()
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == ["step", "step"]
    assert not _moved(before, model)

    # A reward that does differ between a group's samples (their length) moves it, through the same trainer.
    def longer(*, completions: list[str], **_: Any) -> list[float | None]:
        return [float(len(c)) for c in completions]

    model, processor = _fresh(tiny_model_dir)
    before = _weights(model)
    run = train_grpo(model, processor, examples, tmp_path / "b" / "adapters.safetensors", steps=2, lr=1e-2, seed=0,
                     out=None, rewards=[longer], group_size=GROUP, max_completion_length=TOKENS)
    assert run["first_reward"] is not None and run["first_reward"] > 0
    assert _moved(before, model)


def test_a_stop_request_ends_grpo_before_the_next_step(tiny_model_dir: Path, examples: Examples,
                                                        tmp_path: Path) -> None:
    model, processor = _fresh(tiny_model_dir)
    with pytest.raises(StopRequested):
        train_grpo(model, processor, examples, tmp_path / "adapters.safetensors", steps=5, lr=1e-2, seed=0,
                   out=None, should_stop=lambda: True, group_size=GROUP, max_completion_length=TOKENS)
