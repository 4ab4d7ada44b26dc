"""``train learn``'s other methods through the one run: SFT with the two-frame "which is stronger"
rows where the loaded model takes two photos (opt-in, ``--pairs``), and GRPO (opt-in) publishing
like every version."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from app.engine.advisors import Advisor, save_user_advisor
from app.testing.synthetic_photographer import decisions as photographer
from training.learn import Learning, LearnOptions


def _events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _run(tiny_model_dir: Path, folder: Path, **extra: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    save_user_advisor(Advisor(id="eye", name="Eye", bio="Likes sharp, bright frames."))
    settings: dict[str, Any] = {"steps": 2, "lr": 1e-3, "held_out": 0.0, "bootstrap": 20, "facts": False,
                                "activate": "never", **extra}
    opts = LearnOptions(advisor_id="eye", reviews=["synthetic"], model=str(tiny_model_dir),
                        decisions=photographer(folder, 2), **settings)
    out = io.StringIO()
    result = Learning(opts, out).run()
    return result, _events(out.getvalue())


def test_sft_adds_two_frame_rows_where_the_model_takes_two_photos(tiny_model_dir: Path, tmp_path: Path,
                                                                    home: Path) -> None:
    result, events = _run(tiny_model_dir, tmp_path / "photos", method="sft", pairs=True)
    start = next(e for e in events if e["event"] == "start")
    # 2 bursts of a 4.5 pick, a 2-star and a reject: 3 ranked pairs each, in both orders
    assert start["hyperparameters"]["pair_rows"] == 12 and start["train_rows"] == 6
    assert result["training"]["steps"] == 2 and result["frames"]["train"] == 6  # scored: single frames only
    _, without = _run(tiny_model_dir, tmp_path / "again", method="sft")  # opt-in: none by default
    assert next(e for e in without if e["event"] == "start")["hyperparameters"]["pair_rows"] == 0


def test_grpo_runs_through_learn_and_publishes(tiny_model_dir: Path, tmp_path: Path, home: Path) -> None:
    result, events = _run(tiny_model_dir, tmp_path / "photos", method="grpo", steps=1)
    assert any("GRPO from the base model" in e.get("message", "") for e in events if e["event"] == "note")
    assert result["method"] == "grpo" and result["training"]["steps"] == 1 and result["version"] == "v1"
    assert "mean_reward" in result["training"] and events[-1]["event"] == "published"
