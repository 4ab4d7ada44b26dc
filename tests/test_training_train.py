"""train_lora as a process: stop and resume, signals, kills, memory refusal, bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.training_helpers import ROOT, env_for, events, make_portfolio, run_module, write_targets

ADVISOR = "stopper"
FAST = ["--rank", "4", "--lr", "1e-3", "--dropout", "0"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A MONDRIAN_HOME with a prepared 4-photo dataset (3 training rows, 1 held out)."""
    home = tmp_path / "home"
    monkeypatch.setenv("MONDRIAN_HOME", str(home))
    folder = tmp_path / "portfolio"
    names = make_portfolio(folder, n=4, broken=False)
    run_module("training.prepare_dataset", "--advisor", ADVISOR, "--advisor-name", "Stop", "--portfolio",
               str(folder), "--targets", str(write_targets(tmp_path / "t.json", names)), "--val-fraction", "0.25",
               home=home)
    return home


def _start(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "training.train_lora", "--advisor", ADVISOR, *args], cwd=ROOT,
                            env=env_for(home), text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _read_until(proc: subprocess.Popen[str], seen: list[dict[str, Any]],
                stop: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)  # every stdout line is a JSON event
        seen.append(event)
        if stop(event):
            return event
    raise AssertionError(f"the process ended first; events: {[e['event'] for e in seen]}")


def _finish(proc: subprocess.Popen[str], seen: list[dict[str, Any]]) -> int:
    out, _ = proc.communicate(timeout=600)
    seen.extend(events(out))
    return proc.returncode


def _versions() -> list[str]:
    from app.engine.adapters import versions as adapter_versions

    return [v.version for v in adapter_versions.list_versions(ADVISOR)]


@pytest.mark.slow
def test_sigint_keeps_the_last_checkpoint_and_resume_finishes(home: Path, tiny_model_dir: Path) -> None:
    from training.train_lora import run_dir

    seen: list[dict[str, Any]] = []
    proc = _start(home, "--model", str(tiny_model_dir), "--epochs", "3", *FAST)
    _read_until(proc, seen, lambda e: e["event"] == "epoch" and e["epoch"] == 1)
    _read_until(proc, seen, lambda e: e["event"] == "step" and e["epoch"] == 2)
    proc.send_signal(signal.SIGINT)
    assert _finish(proc, seen) == 130
    last = seen[-1]
    assert last["event"] == "stopped" and last["signal"] == "SIGINT" and last["last_checkpoint_epoch"] == 1
    assert [e["step"] for e in seen if e["event"] == "step"][-1] < 6  # stopped within epoch 2
    assert _versions() == []  # nothing published
    checkpoints = run_dir(ADVISOR) / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["epoch-001"]  # the unfinished epoch was dropped
    assert {"adapters.safetensors", "adapter_config.json", "optimizer.safetensors"} <= {
        p.name for p in (checkpoints / "epoch-001").iterdir()}
    for item in [run_dir(ADVISOR).parent, checkpoints, *checkpoints.rglob("*")]:  # the data folder is private
        assert item.stat().st_mode & 0o077 == 0, item  # (mlx writes its own files: the umask makes them so)

    # A changed dataset cannot be resumed.
    state_file = run_dir(ADVISOR) / "run.json"
    state = json.loads(state_file.read_text())
    good_hash = state["dataset_hash"]
    state_file.write_text(json.dumps(state | {"dataset_hash": "0" * 64}))
    bad = run_module("training.train_lora", "--advisor", ADVISOR, "--resume", home=home, check=False)
    assert bad.returncode == 2 and "dataset changed" in events(bad.stdout)[-1]["message"]
    state_file.write_text(json.dumps(state | {"dataset_hash": good_hash}))

    resumed = run_module("training.train_lora", "--advisor", ADVISOR, "--resume", home=home)
    evs = events(resumed.stdout)
    start = evs[0]
    assert start["event"] == "start" and start["resumed"] and start["start_epoch"] == 2
    assert next(e for e in evs if e["event"] == "model_loaded")["resumed_from"].endswith("epoch-001")
    assert [e["epoch"] for e in evs if e["event"] == "epoch"] == [2, 3]
    published = evs[-1]
    assert published["event"] == "published" and published["version"] == "v1"
    assert published["metrics"]["epochs_completed"] == 3 and published["metrics"]["resumes"] == 1
    assert _versions() == ["v1"]
    log = [json.loads(x) for x in (Path(published["path"]) / "training_log.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in log]
    assert kinds.count("start") == 2 and "stopped" in kinds and kinds.count("epoch") == 3
    args = json.loads((Path(published["path"]) / "training_args.json").read_text())
    assert args["hyperparameters"]["rank"] == 4 and args["model"] == str(tiny_model_dir)


@pytest.mark.slow
def test_sigterm_before_a_checkpoint_and_kill_leave_no_version(home: Path, tiny_model_dir: Path) -> None:
    from app.engine.adapters import versions as adapter_versions
    from training.train_lora import run_dir

    seen: list[dict[str, Any]] = []
    proc = _start(home, "--model", str(tiny_model_dir), "--epochs", "2", *FAST)
    _read_until(proc, seen, lambda e: e["event"] == "step")
    proc.send_signal(signal.SIGTERM)
    assert _finish(proc, seen) == 143
    assert seen[-1]["event"] == "stopped" and not seen[-1]["resumable"]
    nothing = run_module("training.train_lora", "--advisor", ADVISOR, "--resume", home=home, check=False)
    assert nothing.returncode == 2 and "no unfinished training run" in events(nothing.stdout)[-1]["message"]

    # A killed run (no chance to clean up) leaves no version, and what it left is cleaned next time.
    stale = adapter_versions.staging_dir(ADVISOR)  # as if a publish had been killed half-way
    (stale / "adapters.safetensors").write_bytes(b"half")
    seen = []
    proc = _start(home, "--model", str(tiny_model_dir), "--epochs", "2", *FAST)
    _read_until(proc, seen, lambda e: e["event"] == "step")
    proc.kill()
    proc.wait(timeout=60)
    assert _versions() == [] and adapter_versions.active_version(ADVISOR) is None
    assert not stale.exists()  # the second run's start removed the stale staging folder
    assert not any(p.name.startswith("v") for p in adapter_versions.advisor_root(ADVISOR).iterdir())
    assert not list((run_dir(ADVISOR) / "checkpoints").glob("epoch-*"))


def test_memory_refusal(home: Path, tiny_model_dir: Path) -> None:
    proc = run_module("training.train_lora", "--advisor", ADVISOR, "--model", str(tiny_model_dir),
                      "--memory-limit-gb", "0.01", home=home, check=False)
    assert proc.returncode == 3
    evs = events(proc.stdout)
    estimate = next(e for e in evs if e["event"] == "memory_estimate")
    assert estimate["total_gb"] > 0.01 and estimate["fits"] is False and estimate["sequence_tokens"] > 64
    refused = evs[-1]
    assert refused["event"] == "refused" and "--grad-checkpoint" in refused["message"]
    assert _versions() == []


def test_estimate_shrinks_with_grad_checkpoint(tiny_model) -> None:
    from training.memory import estimate

    model, _ = tiny_model
    kwargs = {"sequence_tokens": 4000, "image_tokens": 256, "batch_size": 1, "lora_parameters": 10_000,
              "budget_bytes": None}
    full = estimate(model, grad_checkpoint=False, **kwargs)
    light = estimate(model, grad_checkpoint=True, **kwargs)
    assert light.activations_gb < full.activations_gb / 1.5 and full.fits and light.total_gb < full.total_gb


def test_missing_dataset_and_bad_arguments(tmp_path: Path, tiny_model_dir: Path) -> None:
    home = tmp_path / "empty-home"
    proc = run_module("training.train_lora", "--advisor", "nobody", "--model", str(tiny_model_dir), home=home,
                      check=False)
    assert proc.returncode == 2
    error = events(proc.stdout)[-1]
    assert error["event"] == "error" and "no dataset for advisor 'nobody'" in error["message"]
    assert "prepare_dataset" in error["message"]
    bad = run_module("training.train_lora", "--advisor", "../etc", home=home, check=False)
    assert bad.returncode == 2 and "path separator" in events(bad.stdout)[-1]["message"]


def test_bad_hyperparameters_are_refused_before_loading(home: Path, tiny_model_dir: Path) -> None:
    proc = run_module("training.train_lora", "--advisor", ADVISOR, "--model", str(tiny_model_dir), "--lr", "-1",
                      home=home, check=False)
    assert proc.returncode == 2 and "--lr must be at least" in events(proc.stdout)[-1]["message"]
    proc = run_module("training.train_lora", "--advisor", ADVISOR, "--model", str(tiny_model_dir),
                      "--batch-size", "9", home=home, check=False)
    assert proc.returncode == 2 and "larger than the 3 training rows" in events(proc.stdout)[-1]["message"]


def test_grad_checkpoint_small_images_and_no_validation(tmp_path: Path, tiny_model_dir: Path) -> None:
    """--grad-checkpoint and --max-image-edge train and publish; without a held-out split there is no
    validation loss and the last epoch is published."""
    home = tmp_path / "home"
    folder = tmp_path / "portfolio"
    names = make_portfolio(folder, n=3, broken=False)
    run_module("training.prepare_dataset", "--advisor", ADVISOR, "--advisor-name", "Stop", "--portfolio", str(folder),
               "--targets", str(write_targets(tmp_path / "t.json", names)), "--val-fraction", "0", home=home)
    proc = run_module("training.train_lora", "--advisor", ADVISOR, "--model", str(tiny_model_dir), "--epochs", "2",
                      "--grad-checkpoint", "--max-image-edge", "64", *FAST, home=home)
    evs = events(proc.stdout)
    start = evs[0]
    assert start["val_rows"] == 0 and start["hyperparameters"]["grad_checkpoint"]
    estimate = next(e for e in evs if e["event"] == "memory_estimate")
    assert estimate["grad_checkpoint"] is True
    epochs = [e for e in evs if e["event"] == "epoch"]
    assert [e["val_loss"] for e in epochs] == [None, None]
    published = evs[-1]
    assert published["event"] == "published" and published["metrics"]["best_val_loss"] is None
    assert published["metrics"]["best_epoch"] == 2 and published["active"] is True


@pytest.mark.slow
def test_early_stopping_publishes_the_best_epoch(home: Path, tiny_model_dir: Path) -> None:
    """At a learning rate this high the validation loss soon stops improving: training stops after
    --patience epochs without improvement and publishes the best epoch, not the last."""
    proc = run_module("training.train_lora", "--advisor", ADVISOR, "--model", str(tiny_model_dir), "--epochs", "8",
                      "--rank", "4", "--lr", "3", "--dropout", "0", "--patience", "1", home=home)
    evs = events(proc.stdout)
    epochs = [e for e in evs if e["event"] == "epoch"]
    stop = next(e for e in evs if e["event"] == "early_stop")
    assert stop["epoch"] == epochs[-1]["epoch"] < 8 and not epochs[-1]["improved"]
    best = min(epochs, key=lambda e: e["val_loss"])
    published = evs[-1]
    assert published["metrics"]["best_epoch"] == best["epoch"] == stop["best_epoch"] < stop["epoch"]
    assert published["metrics"]["early_stopped"] is True


def test_one_run_per_advisor_at_a_time(home: Path, tiny_model_dir: Path) -> None:
    from training.train_lora import advisor_lock

    with advisor_lock(ADVISOR):
        proc = run_module("training.train_lora", "--advisor", ADVISOR, "--model", str(tiny_model_dir), home=home,
                          check=False)
    assert proc.returncode == 2
    assert "another training run for advisor 'stopper' is in progress" in events(proc.stdout)[-1]["message"]


def test_qlora_on_a_quantized_base(home: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    """The default base is 4-bit: training attaches LoRA to the quantized layers (QLoRA) and the
    published adapter records the base quantization."""
    from tests.training_helpers import quantized_copy

    base = quantized_copy(tiny_model_dir, tmp_path / "tiny-4bit")
    proc = run_module("training.train_lora", "--advisor", ADVISOR, "--model", str(base), "--epochs", "1", *FAST,
                      home=home)
    evs = events(proc.stdout)
    assert next(e for e in evs if e["event"] == "model_loaded")["quantized"] is True
    published = evs[-1]
    assert published["event"] == "published"
    config = json.loads((Path(published["path"]) / "adapter_config.json").read_text())
    assert config["base_quantization"]  # mlx-vlm restores the 4-bit layers before applying the adapter
