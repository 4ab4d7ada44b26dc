"""GRPO for ``training.learn``: mlx-vlm's own online trainer, rewarded by the user's cull.

mlx-vlm 0.7.10 ships Group Relative Policy Optimization for vision models
(``mlx_vlm/trainer/vlm/grpo/``: ``GRPOTrainingArgs``, ``GRPOVisionDataset``, rollouts sampled with
``generate_step``, rewards normalised within each group). Here each decided frame is one prompt
(the triage prompt and the photo, the same turns as the SFT rows); the model samples
``group_size`` answers, and :func:`cull_reward` scores each against the level the user's decision
stands for (:func:`training.culls.target_scores`):

* the scores are read as the triage pass reads them (``app.engine.critique.triage.read_scores_dict``
  on the JSON object the answer starts with), else one by one (each dimension's ``"key": N`` with
  N from 0 to 10, first occurrence): sampled answers are unconstrained, while the triage pass
  decodes under the JSON schema, so the level is what matters and a near-miss still counts;
* an answer with no readable score earns 0; else ``coverage * (FORMAT + (1 - FORMAT) * closeness)``,
  where coverage is the share of the eight dimensions read and closeness is
  ``1 - |mean of those scores - target mean| / 10``: a little for answering, the rest for putting
  the frame at the user's level.

The advantages are the rewards centred and scaled within a group, so a group whose answers all
earn the same (all malformed, the usual case for a model that does not yet answer in the format)
teaches nothing: GRPO only refines an advisor that already answers. The loss mlx-vlm reports for
GRPO is ``-mean(advantage)`` at ratio 1, about 0 by construction, so the reward is what shows
progress (``first_reward``/``final_reward``). Cost: every step samples ``group_size`` answers of up
to ``max_completion_length`` tokens before the gradient; mlx-vlm's ``step_time`` leaves that
sampling out (it is batch preparation), so the wall time per step is the figure reported.

Measured against SFT and ORPO in ``bench/learn_methods.py`` (its docstring has the figures): on the
tiny models it does not earn its cost. Each step costs 5-12x an SFT step; from the base no rollout
holds a readable score, so nothing is learned; after SFT the reward falls instead of rising, and
the agreement it leaves varies with the sampling seed (train pairwise 0.21-0.89). ORPO
trains on the same ordering at under 2x SFT's cost and did better than SFT there. Keep GRPO opt-in, from an adapter that already
answers in the format, at a small learning rate, until a real base model shows otherwise.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from app.engine.critique.report import DIMENSIONS, SCORE_MAX, SCORE_MIN

from .common import JsonLines
from .culls import Examples
from .trainer_support import progress_callback_class, stop_at_step

FORMAT = 0.2  # the share of the reward a well-formed answer earns whatever its level
GROUP_SIZE = 4
MAX_COMPLETION = 96  # tokens: the scores-only answer is 67 on the tiny byte-level tokenizer, fewer on a real one
TEMPERATURE = 0.8  # mlx-vlm's default: rollouts must differ for a group to teach anything


def answer_scores(text: str) -> dict[str, int] | None:
    """The eight scores of a sampled answer when it starts with the triage JSON object, else None
    (text after the object is ignored: the triage pass stops reading there too)."""
    from app.engine.critique.triage import read_scores_dict

    try:
        obj, _end = json.JSONDecoder().raw_decode(text.strip())
        return read_scores_dict(obj)
    except ValueError:
        return None


def readable_scores(text: str) -> dict[str, int]:
    """The scores an answer holds: the whole triage object when it parses, else each dimension's
    first ``"key": N`` with N from 0 to 10 (module docstring: why a near-miss counts)."""
    whole = answer_scores(text)
    if whole is not None:
        return whole
    found = {}
    for key in DIMENSIONS:
        match = re.search(rf'"{key}"\s*:\s*(\d{{1,2}})(?!\d)', text)
        if match and SCORE_MIN <= int(match.group(1)) <= SCORE_MAX:
            found[key] = int(match.group(1))
    return found


def level_reward(scores: dict[str, int], target_mean: float) -> float:
    """0 with no score read; else the coverage times FORMAT plus the rest scaled by closeness to the
    user's level (module docstring)."""
    if not scores:
        return 0.0
    mean = sum(scores.values()) / len(scores)
    closeness = 1.0 - abs(mean - target_mean) / (SCORE_MAX - SCORE_MIN)
    return len(scores) / len(DIMENSIONS) * (FORMAT + (1.0 - FORMAT) * max(0.0, closeness))


def cull_reward(*, completions: Sequence[str], answer: Sequence[str | None], **_: Any) -> list[float | None]:
    """mlx-vlm's batched reward callback: ``answer`` is the target scores JSON of each row (the
    user's decision mapped by :func:`training.culls.target_scores`)."""
    out: list[float | None] = []
    for text, target in zip(completions, answer, strict=True):
        if target is None:
            out.append(None)
            continue
        goal = json.loads(target)
        out.append(level_reward(readable_scores(text), sum(goal[k] for k in DIMENSIONS) / len(DIMENSIONS)))
    return out


def grpo_rows(examples: Examples) -> list[dict[str, Any]]:
    """One prompt-only row per decided frame: the SFT row's prompt turns and photo, with its target
    answer kept aside for the reward (never shown to the model)."""
    rows = []
    for row in examples.sft:
        prompt = [m for m in row["messages"] if m["role"] != "assistant"]
        target = next(m["content"] for m in row["messages"] if m["role"] == "assistant")
        rows.append({"prompt": prompt, "images": list(row["images"]), "answer": target})
    return rows


def train_grpo(model: Any, processor: Any, examples: Examples, adapter_file: Path, *, steps: int, lr: float,
               seed: int, out: JsonLines | IO[str] | None, should_stop: Callable[[], bool] = lambda: False,
               group_size: int = GROUP_SIZE, max_completion_length: int = MAX_COMPLETION,
               temperature: float = TEMPERATURE,
               rewards: Sequence[Callable[..., list[float | None]]] = (cull_reward,)) -> dict[str, Any]:
    """Train the LoRA already on ``model`` with mlx-vlm's GRPO; the dict ``Learning.train`` returns
    (steps, seconds, step_time_s, peak_memory_gb, first_loss, final_loss) plus the mean reward of the
    first and last steps and the rollout share of the wall time. ``rewards`` are mlx-vlm reward
    callbacks (:func:`cull_reward` unless given), summed. Raises ``StopRequested`` when
    ``should_stop`` turns true before a step."""
    import mlx.optimizers as optim
    from mlx_vlm.trainer import GRPOTrainingArgs, Trainer

    rows = grpo_rows(examples)
    if not rows:
        raise ValueError("no decided frames to train on")
    sink = out if isinstance(out, JsonLines) else JsonLines(out)
    base = progress_callback_class()

    class RewardCallback(base):  # type: ignore[misc, valid-type]
        """The progress events, and GRPO's own figures: mean reward, sampled tokens, sampling time."""

        def __init__(self) -> None:
            super().__init__(sink, steps, 1)
            self.rewards: list[float] = []
            self.generated: list[float] = []
            self.data_s: list[float] = []

        def on_train_loss_report(self, info: dict) -> None:
            super().on_train_loss_report(info)
            self.rewards.append(float(info.get("train_reward_mean", 0.0)))
            self.generated.append(float(info.get("train_average_generated_tokens", 0.0)))
            self.data_s.append(float(info.get("data_time_per_step", 0.0)))

    # Room for the longest prompt (image tokens included) and the answer; GRPO never truncates a prompt.
    args = GRPOTrainingArgs(batch_size=1, iters=steps, steps_per_report=1, steps_per_eval=None,
                            steps_per_save=steps + 1, max_seq_length=1 << 20, adapter_file=str(adapter_file),
                            group_size=group_size, max_completion_length=max_completion_length,
                            temperature=temperature, beta=0.0)
    callback = RewardCallback()
    callback.begin_epoch(1)
    trainer = Trainer(model, args, train_dataset=rows, processing_class=processor,
                      optimizer=optim.Adam(learning_rate=lr), reward_funcs=list(rewards),
                      training_callback=callback, seed=seed)
    stop_at_step(trainer, should_stop)
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        trainer.train()
        trainer.save_adapter(str(adapter_file))
    seconds = time.perf_counter() - started
    n = max(len(callback.losses), 1)
    return {"steps": len(callback.losses), "seconds": seconds, "step_time_s": seconds / n,
            "peak_memory_gb": callback.peak_gb,
            "first_loss": callback.losses[0] if callback.losses else None,
            "final_loss": callback.losses[-1] if callback.losses else None,
            "first_reward": callback.rewards[0] if callback.rewards else None,
            "final_reward": _tail_mean(callback.rewards),
            "mean_reward": sum(callback.rewards) / len(callback.rewards) if callback.rewards else None,
            "generated_tokens_per_answer": sum(callback.generated) / n,
            "rollout_share": sum(callback.data_s) / seconds if seconds > 0 else None}


def _tail_mean(values: Sequence[float], k: int = 5) -> float | None:
    """The mean of the last ``k`` values: one step's reward is one group of a few samples, noisy."""
    tail = list(values)[-k:]
    return sum(tail) / len(tail) if tail else None
