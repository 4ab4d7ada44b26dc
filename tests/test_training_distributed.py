"""Data-parallel training on loopback: two processes under ``mlx.launch`` (ring backend), tiny model.

(a) the two-process run matches a one-process run with the same global batch and seed, (b) killing
one process mid-epoch ends the other with a clear error and publishes nothing, (c) resuming after
(b) publishes one version, (d) the host check names an unreachable host, a version mismatch and a
missing dataset (simulated hosts through ``MONDRIAN_SSH``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.training_helpers import (
    ROOT,
    env_for,
    events,
    make_portfolio,
    ring_can_bind,
    run_module,
    write_targets,
)

ADVISOR = "duo"
ARGS = ["--epochs", "2", "--batch-size", "2", "--rank", "4", "--lr", "1e-3", "--dropout", "0", "--seed", "3"]
LOOPBACK = "127.0.0.1,127.0.0.1"
# Same rows, same seed: the only differences are float summation order (one batch of two vs two
# batches of one, summed by the ring) and padding. Measured: ~1e-6 relative on the losses.
LOSS_RTOL = 1e-3
WEIGHT_ATOL = 1e-4



pytestmark = [pytest.mark.distributed,
              pytest.mark.skipif(not ring_can_bind(), reason="the ring backend cannot bind a loopback port here")]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MONDRIAN_HOME with a 6-photo dataset: 4 training rows, 2 held out (validation needs a full batch)."""
    base = tmp_path_factory.mktemp("distributed")
    home = base / "home"
    folder = base / "portfolio"
    names = make_portfolio(folder, n=6, broken=False)
    proc = run_module("training.prepare_dataset", "--advisor", ADVISOR, "--advisor-name", "Duo", "--portfolio",
                      str(folder), "--targets", str(write_targets(base / "t.json", names)), "--val-fraction", "0.34",
                      "--json", home=home)
    counts = json.loads(proc.stdout)["counts"]
    assert counts["train"] == 4 and counts["validation"] == 2, counts
    return home


@pytest.fixture
def home(prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(prepared, copy)
    monkeypatch.setenv("MONDRIAN_HOME", str(copy))
    return copy


def _launch(home: Path, *train_args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "training.distributed", "launch", "--hosts", LOOPBACK, "--no-check", "--",
            "--advisor", ADVISOR, *train_args]
    return subprocess.Popen(argv, cwd=ROOT, env=env_for(home), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


@pytest.fixture(autouse=True)
def _no_rank_left_behind(home: Path) -> Any:
    """A failing test must not leave training processes running on the shared machine."""
    yield
    for rank in (0, 1):
        pid = _rank_pid(home, rank)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)


def _versions() -> list[str]:
    from app.engine.adapters import versions as adapter_versions

    return [v.version for v in adapter_versions.list_versions(ADVISOR)]


def _adapter(path: str) -> dict[str, np.ndarray]:
    import mlx.core as mx

    return {k: np.array(v) for k, v in mx.load(str(Path(path) / "adapters.safetensors")).items()}


def test_two_processes_match_one_with_the_same_global_batch(home: Path, tiny_model_dir: Path,
                                                           tmp_path: Path) -> None:
    single_home = tmp_path / "single"
    shutil.copytree(home, single_home)
    single = events(run_module("training.train_lora", "--advisor", ADVISOR, "--model", str(tiny_model_dir), *ARGS,
                               home=single_home).stdout)
    proc = _launch(home, "--model", str(tiny_model_dir), *ARGS)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    duo = events(out)  # every stdout line is one of rank 0's events: rank 1 prints none
    assert duo[0]["event"] == "start" and duo[0]["world_size"] == 2 and duo[-1]["event"] == "published"
    assert [e["event"] for e in duo].count("start") == 1
    losses = {name: [e["loss"] for e in evs if e["event"] == "step"] for name, evs in (("1", single), ("2", duo))}
    assert len(losses["1"]) == len(losses["2"]) == 4
    np.testing.assert_allclose(losses["2"], losses["1"], rtol=LOSS_RTOL)
    val = {name: [e["val_loss"] for e in evs if e["event"] == "epoch"] for name, evs in (("1", single), ("2", duo))}
    np.testing.assert_allclose(val["2"], val["1"], rtol=LOSS_RTOL)
    a, b = _adapter(single[-1]["path"]), _adapter(duo[-1]["path"])
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(b[key], a[key], atol=WEIGHT_ATOL, err_msg=key)
    assert duo[-1]["metrics"]["world_size"] == 2


def _rank_pid(home: Path, rank: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if (b"training.train_lora" in cmdline and f"MLX_RANK={rank}".encode() in environ
                and f"MONDRIAN_HOME={home}".encode() in environ):
            return int(entry.name)
    return None


def _read_until(proc: subprocess.Popen[str], seen: list[dict[str, Any]], stop: Any) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(json.loads(line))
        if stop(seen[-1]):
            return
    raise AssertionError(f"the run ended first: {[e['event'] for e in seen]}")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank's process through /proc")
def test_a_lost_process_stops_the_run_and_resume_publishes_once(home: Path, tiny_model_dir: Path) -> None:
    proc = _launch(home, "--model", str(tiny_model_dir), *ARGS[:1], "4", *ARGS[2:])
    seen: list[dict[str, Any]] = []
    _read_until(proc, seen, lambda e: e["event"] == "epoch" and e["epoch"] == 1)
    _read_until(proc, seen, lambda e: e["event"] == "step" and e["epoch"] == 2)
    pid = _rank_pid(home, 1)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    seen += events(out)
    error = seen[-1]
    assert error["event"] == "error" and error["reason"] == "peer_lost", seen[-3:]
    assert "was lost" in error["message"] and "nothing was published" in error["message"]
    assert "resume" in error["message"] and proc.returncode == 4
    assert _versions() == []

    resumed = _launch(home, "--resume")
    out, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err[-3000:]
    evs = events(out)
    assert evs[0]["event"] == "start" and evs[0]["resumed"] and evs[0]["start_epoch"] >= 2
    assert evs[-1]["event"] == "published" and evs[-1]["metrics"]["resumes"] == 1
    assert _versions() == ["v1"]


def test_cancel_stops_every_process_at_the_same_step(home: Path, tiny_model_dir: Path) -> None:
    proc = _launch(home, "--model", str(tiny_model_dir), *ARGS[:1], "4", *ARGS[2:])
    seen: list[dict[str, Any]] = []
    _read_until(proc, seen, lambda e: e["event"] == "epoch" and e["epoch"] == 1)
    proc.send_signal(signal.SIGTERM)  # what the GUI's Cancel sends
    out, _ = proc.communicate(timeout=300)
    seen += events(out)
    assert seen[-1]["event"] == "stopped" and seen[-1]["resumable"] and proc.returncode == 143
    deadline = time.monotonic() + 30
    while (_rank_pid(home, 0) or _rank_pid(home, 1)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _rank_pid(home, 0) is None and _rank_pid(home, 1) is None  # no process left behind
    assert _versions() == []


FAKE_SSH = '''
import json, os, subprocess, sys
args = sys.argv[1:]
while args and args[0] == "-o":
    args = args[2:]
host, command = args[0], args[1]
if host == "down.local":
    print("ssh: connect to host down.local port 22: Connection refused", file=sys.stderr)
    sys.exit(255)
env = dict(os.environ)
if host == "nodata.local":
    env["MONDRIAN_HOME"] = os.environ["EMPTY_HOME"]
out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env)
line = out.stdout.strip().splitlines()[-1]
facts = json.loads(line)
if host == "old.local":
    facts["mlx"] = "0.1.0"
print(json.dumps(facts))
'''


def test_host_check_names_each_problem(home: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake_ssh.py"
    fake.write_text(FAKE_SSH)
    env = env_for(home, MONDRIAN_SSH=f"{sys.executable} {fake}", EMPTY_HOME=str(tmp_path / "empty"))
    proc = subprocess.run([sys.executable, "-m", "training.distributed", "check", "--advisor", ADVISOR, "--hosts",
                           "127.0.0.1,down.local,old.local,nodata.local,studio.local", "--model", str(tiny_model_dir),
                           "--jsonl"], cwd=ROOT, env=env, text=True, capture_output=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    reports = {e["host"]: e for e in events(proc.stdout)}
    assert reports["127.0.0.1"]["ok"] and reports["studio.local"]["ok"]
    assert not reports["down.local"]["ok"] and "not reachable over ssh" in reports["down.local"]["problems"][0]
    assert "Connection refused" in reports["down.local"]["problems"][0]
    assert any("MLX 0.1.0 there" in p for p in reports["old.local"]["problems"])
    assert any("no dataset for advisor 'duo' there" in p for p in reports["nodata.local"]["problems"])
    assert all(len(r["problems"]) <= 1 for r in reports.values())
