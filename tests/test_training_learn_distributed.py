"""Learning from culls on several Macs, tried on loopback: the culls are prepared once as a folder
that travels (``learn --prepare-only``), then two processes under ``mlx.launch`` (ring backend) teach
the tiny model from it and match a one-process run of the same global batch; the host check looks
at that folder, and a damaged copy is named."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from training_helpers import ROOT, env_for, events, ring_can_bind, run_module

from app.testing.synthetic_photographer import decisions as photographer

ADVISOR = "me"
LEARN = ["--advisor", ADVISOR, "--method", "sft", "--steps", "4", "--batch-size", "2", "--lr", "1e-3", "--rank", "4",
         "--held-out", "0.5", "--seed", "3", "--no-facts", "--activate", "never"]
LOSS_RTOL = 1e-3  # float summation order only (one batch of two vs two halves summed by the ring)




pytestmark = [pytest.mark.distributed,
              pytest.mark.skipif(not ring_can_bind(), reason="the ring backend cannot bind a loopback port here")]


@pytest.fixture(scope="module")
def prepared(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A MONDRIAN_HOME with a review of two bursts culled in the window, and its culls prepared."""
    from app.engine.advisors import Advisor, save_user_advisor
    from app.engine.review.culling import CullJournal
    from app.engine.store.database import open_default_store
    from app.engine.store.reviews import FrameRow

    base = tmp_path_factory.mktemp("learn-duo")
    home = base / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("MONDRIAN_HOME", str(home))
    try:
        save_user_advisor(Advisor(id=ADVISOR, name="Me", bio="Likes sharp, bright frames."))
        bursts = photographer(base / "shoot", 2)
        store = open_default_store()
        review = store.reviews.open_review(str(base / "shoot"), ADVISOR, "baseline", "k", recursive=False,
                                           settings={})
        store.reviews.set_frames(review.id, [FrameRow(review.id, d.path, position=i,
                                                      taken_at=f"2026-12-05T10:00:{i:02d}")
                                             for i, d in enumerate(bursts)])
        journal = CullJournal(store, review.id)
        for d in bursts:
            if d.flag:
                journal.apply(d.flag, [d.path], "flag", d.flag)
            if d.stars:
                journal.apply(f"{d.stars} stars", [d.path], "stars", d.stars)
        store.close()
    finally:
        mp.undo()
    proc = subprocess.run([str(Path(sys.executable).parent / "mondrian"), "train", "learn", "--advisor", ADVISOR,
                           "--from-review", review.id, "--model", str(tiny_model_dir), "--prepare-only"],
                          cwd=ROOT, env=env_for(home), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = events(proc.stdout)[-1]
    return {"home": home, "review": review.id, "saved": saved, "frames": len(bursts)}


def test_prepare_only_writes_the_culls_folder_and_publishes_nothing(prepared: dict[str, Any]) -> None:
    saved, home = prepared["saved"], prepared["home"]
    assert saved["event"] == "saved" and saved["counts"]["frames"] == prepared["frames"]
    folder = Path(saved["path"])
    assert folder == home / "data" / "culls" / ADVISOR or folder.name == ADVISOR
    manifest = json.loads((folder / "culls.json").read_text(encoding="utf-8"))
    assert manifest["hash"] == saved["hash"] and manifest["reviews"] == [prepared["review"]]
    assert len(list((folder / "images").glob("*.png"))) == prepared["frames"]
    edge = manifest["edge"]
    for frame in manifest["frames"]:
        with Image.open(folder / frame["image"]) as im:
            assert max(im.size) <= edge
    assert not (home / "data" / "adapters" / ADVISOR).exists() or not any(
        (home / "data" / "adapters" / ADVISOR).glob("v*"))


def test_two_processes_learn_as_one_with_the_same_global_batch(prepared: dict[str, Any], tiny_model_dir: Path,
                                                             tmp_path: Path) -> None:
    single_home, duo_home = tmp_path / "single", tmp_path / "duo"
    shutil.copytree(prepared["home"], single_home)
    shutil.copytree(prepared["home"], duo_home)  # "copied to the other Mac": the same folder at the same path
    single = events(run_module("training.learn", *LEARN, "--model", str(tiny_model_dir), home=single_home).stdout)
    proc = subprocess.run([sys.executable, "-m", "training.distributed", "launch", "--hosts", "127.0.0.1,127.0.0.1",
                           "--", "learn", *LEARN, "--model", str(tiny_model_dir)], cwd=ROOT, env=env_for(duo_home),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    duo = events(proc.stdout)  # rank 0's events only
    assert [e["event"] for e in duo].count("start") == 1
    start = next(e for e in duo if e["event"] == "start")
    assert start["world_size"] == 2 and start["dataset"] == "culls:" + prepared["saved"]["hash"][:12]
    losses = {name: [e["loss"] for e in evs if e["event"] == "step"] for name, evs in (("1", single), ("2", duo))}
    assert len(losses["1"]) == len(losses["2"]) == 4
    np.testing.assert_allclose(losses["2"], losses["1"], rtol=LOSS_RTOL)
    assert duo[-1]["event"] == single[-1]["event"] == "published"
    one = json.loads((Path(single[-1]["path"]) / "eval.json").read_text(encoding="utf-8"))
    two = json.loads((Path(duo[-1]["path"]) / "eval.json").read_text(encoding="utf-8"))
    assert two["world_size"] == 2 and two["reviews"] == [prepared["review"]]
    for when in ("before", "after"):  # each process scored half the frames: the same scores, summed
        for split in ("train", "held_out"):
            np.testing.assert_allclose(two["scores"][when][split], one["scores"][when][split], atol=1e-3)


def test_the_host_check_looks_at_the_culls_and_a_damaged_copy_is_named(prepared: dict[str, Any],
                                                                       tiny_model_dir: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(prepared["home"], home)
    ok = run_module("training.distributed", "check", "--advisor", ADVISOR, "--hosts", "127.0.0.1", "--learn",
                    "--jsonl", home=home)
    assert events(ok.stdout)[0]["ok"] is True
    folder = Path(prepared["saved"]["path"].replace(str(prepared["home"]), str(home)))
    sorted((folder / "images").glob("*.png"))[-1].unlink()  # an rsync that did not finish
    proc = run_module("training.learn", *LEARN, "--model", str(tiny_model_dir), home=home, check=False)
    assert proc.returncode == 2
    assert "is missing (an incomplete copy?)" in proc.stderr and "--prepare-only" in proc.stderr
    shutil.rmtree(folder)
    missing = run_module("training.distributed", "check", "--advisor", ADVISOR, "--hosts", "127.0.0.1", "--learn",
                         "--jsonl", home=home, check=False)
    assert missing.returncode == 2
    problems = events(missing.stdout)[0]["problems"]
    assert any("no culls for advisor 'me'" in p for p in problems), problems


def test_cancel_stops_both_processes_and_publishes_nothing(prepared: dict[str, Any], tiny_model_dir: Path,
                                                          tmp_path: Path) -> None:
    import signal

    home = tmp_path / "home"
    shutil.copytree(prepared["home"], home)
    steps = LEARN.index("--steps") + 1
    args = [*LEARN[:steps], "200", *LEARN[steps + 1:]]
    proc = subprocess.Popen([sys.executable, "-m", "training.distributed", "launch", "--hosts",
                             "127.0.0.1,127.0.0.1", "--no-check", "--", "learn", *args, "--model",
                             str(tiny_model_dir)], cwd=ROOT, env=env_for(home), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # until the first optimizer step of the two processes
        seen.append(json.loads(line))
        if seen[-1]["event"] == "step":
            break
    proc.send_signal(signal.SIGTERM)  # what the Training tab's Cancel sends
    out, _ = proc.communicate(timeout=300)
    seen += events(out)
    assert seen[-1]["event"] == "stopped" and proc.returncode == 143
    assert sum(e["event"] == "step" for e in seen) < 200
    assert not (home / "data" / "adapters" / ADVISOR).exists() or not any(
        (home / "data" / "adapters" / ADVISOR).glob("v*"))
