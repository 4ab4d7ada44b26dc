"""Learning from culls end to end on the tiny models: a synthetic photographer's bursts train an
advisor (mlx-vlm's SFT and ORPO trainers), the agreement table is written beside a published
version, activation waits for enough held-out pairs, a stop publishes nothing, and a review culled
in the window trains from the CLI (``mondrian train learn --from-review``)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from training_helpers import ROOT, env_for

from app.engine.adapters import versions as adapter_versions
from app.testing.synthetic_photographer import decisions as photographer
from training.learn import Learning, LearnOptions

STEPS = 100  # enough for the tiny qwen3_vl to tell the frames apart at this learning rate (measured: 60 is not)
TIME_LIMIT_S = 240  # the whole run on the tiny model (about a minute on an idle 2-core machine)


def _eye(advisor_id: str = "eye") -> str:
    """A personal advisor with a one-line bio: the prompt is half the built-ins' (so are the steps)."""
    from app.engine.advisors import Advisor, save_user_advisor

    save_user_advisor(Advisor(id=advisor_id, name="Eye", bio="Likes sharp, bright frames."))
    return advisor_id


def _events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def learned(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One SFT run on three synthetic bursts, every frame trained on (the taste is checked on them).
    The prompt leaves the measured facts out: it is half as long, and the taste must come from the
    pixels. The CLI test below runs with the facts, as a review's triage has them."""
    root = tmp_path_factory.mktemp("learn")
    mp = pytest.MonkeyPatch()
    mp.setenv("MONDRIAN_HOME", str(root / "home"))
    try:
        found = photographer(root / "photos", 3, edge=192)
        out = io.StringIO()
        opts = LearnOptions(advisor_id=_eye(), reviews=["synthetic"], model=str(tiny_model_dir),
                            method="sft", steps=STEPS, lr=5e-3, held_out=0.0, decisions=found, bootstrap=200,
                            facts=False)  # the taste from the pixels alone (the measured facts would spell it out)
        started = time.perf_counter()
        result = Learning(opts, out).run()
        seconds = time.perf_counter() - started
        version = adapter_versions.get_version("eye", result["version"])
        yield {"result": result, "events": _events(out.getvalue()), "seconds": seconds, "version": version,
               "decisions": found}
    finally:
        mp.undo()


def test_agreement_on_the_training_frames_rises(learned: dict[str, Any]) -> None:
    r = learned["result"]
    assert learned["seconds"] < TIME_LIMIT_S
    before, after = r["agreement"]["before"]["train"], r["agreement"]["after"]["train"]
    assert before["pairs"] == after["pairs"] == 27  # 9 within bursts + 18 across stars
    assert after["pairwise"]["value"] > before["pairwise"]["value"] + 0.1
    assert after["spearman"]["value"] > before["spearman"]["value"]
    assert r["training"]["steps"] == STEPS and r["training"]["final_loss"] < r["training"]["first_loss"]


def test_the_version_is_published_with_the_agreement_table(learned: dict[str, Any]) -> None:
    r, version = learned["result"], learned["version"]
    assert (version.path / "adapters.safetensors").is_file() and (version.path / "adapter_config.json").is_file()
    saved = json.loads((version.path / "eval.json").read_text(encoding="utf-8"))
    assert saved["agreement"] == r["agreement"] and saved["method"] == "sft"
    table = (version.path / "eval.md").read_text(encoding="utf-8")
    from training.learn import summary_line

    assert summary_line(saved).startswith("Agreement with your culls (SFT): held-out n/a → n/a on 0 frames")
    assert "| train | before | 27 |" in table and "| train | after | 27 |" in table and "Spearman" in table
    # no held-out frames: nothing measured there, so nothing activated automatically
    assert not r["activate"] and "fewer than the 20 needed" in r["reason"]
    assert adapter_versions.active_version("eye") is None
    kinds = [e["event"] for e in learned["events"]]
    assert kinds[0] == "saved" and "start" in kinds and kinds[-1] == "published"  # the culls folder first
    assert sum(k == "step" for k in kinds) == STEPS


def test_a_stop_publishes_nothing(tiny_model_dir: Path, tmp_path: Path, home: Path) -> None:
    from training.stopping import StopRequested

    found = photographer(tmp_path / "photos", 2)
    opts = LearnOptions(advisor_id=_eye("stopped"), reviews=["synthetic"], model=str(tiny_model_dir), method="orpo",
                        steps=5, decisions=found, bootstrap=50)
    out = io.StringIO()
    with pytest.raises(StopRequested):
        Learning(opts, out, should_stop=lambda: True).run()
    assert adapter_versions.list_versions("stopped") == []
    assert _events(out.getvalue())[-1]["event"] == "stopped"


def test_orpo_on_gemma3_held_out_by_burst(tmp_path: Path, home: Path) -> None:
    """Another family and tokenizer: its own training edge, preference pairs, whole bursts held out."""
    from app.testing.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "gemma", arch="gemma3")
    found = photographer(tmp_path / "photos", 3)
    opts = LearnOptions(advisor_id=_eye("gemma_eye"), reviews=["synthetic"], model=str(model), method="orpo", steps=2,
                        decisions=found, bootstrap=50, activate="always", facts=False)
    r = Learning(opts, io.StringIO()).run()
    held = {d["group"] for d in r["frames_detail"] if d["split"] == "held_out"}
    train = {d["group"] for d in r["frames_detail"] if d["split"] == "train"}
    assert held and train and held.isdisjoint(train) and r["frames"] == {"train": 6, "held_out": 3}
    assert r["activate"] and "override" in r["reason"]  # --activate always
    assert adapter_versions.active_version("gemma_eye").version == r["version"]
    # the next shoot's run starts from that active adapter (ORPO needs no frozen reference model) ...
    out = io.StringIO()
    again = Learning(LearnOptions(**{**opts.__dict__, "steps": 1, "activate": "auto"}), out).run()
    assert any(e.get("message") == f"starting from the active adapter {r['version']}" for e in _events(out.getvalue()))
    assert not again["activate"] and adapter_versions.active_version("gemma_eye").version == r["version"]
    # ... unless its layout differs: then nothing compared it with the active one, so no activation
    other = Learning(LearnOptions(**{**opts.__dict__, "steps": 1, "activate": "auto", "rank": 2}), io.StringIO()).run()
    assert not other["activate"] and "has another layout" in other["reason"]


def test_a_review_culled_in_the_window_trains_from_the_cli(tiny_model_dir: Path, tmp_path: Path, home: Path) -> None:
    from app.engine.review.bursts import perceptual_hash
    from app.engine.review.culling import CullJournal
    from app.engine.store.database import open_default_store
    from app.engine.store.reviews import FrameRow

    bursts = photographer(tmp_path / "shoot", 2)
    _eye("me")
    store = open_default_store()
    review = store.reviews.open_review(str(tmp_path / "shoot"), "ansel", "baseline", "k", recursive=False, settings={})
    frames = []
    for i, d in enumerate(bursts):
        with Image.open(d.path) as im:
            phash = perceptual_hash(im)
        frames.append(FrameRow(review.id, d.path, position=i, phash=phash, taken_at=f"2026-12-05T10:00:{i:02d}"))
    store.reviews.set_frames(review.id, frames)
    journal = CullJournal(store, review.id)
    for d in bursts[:3]:  # the first burst culled in the window
        if d.flag:
            journal.apply(d.flag, [d.path], "flag", d.flag)
        if d.stars:
            journal.apply(f"{d.stars} stars", [d.path], "stars", d.stars)
    for d in bursts[3:]:  # the second one rated in Lightroom: XMP sidecars (a reject is -1)
        rating = -1 if d.flag == "reject" else d.stars
        Path(d.path).with_suffix(".xmp").write_text(
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="{rating}"/>'
            '</rdf:RDF></x:xmpmeta>', encoding="utf-8")
    store.close()
    proc = subprocess.run([str(Path(sys.executable).parent / "mondrian"), "train", "learn", "--advisor", "me",
                           "--from-review", review.id, "--model", str(tiny_model_dir), "--steps", "2",
                           "--held-out", "0.5"], cwd=ROOT, env=env_for(home), capture_output=True, text=True,
                          timeout=TIME_LIMIT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = _events(proc.stdout)
    start = next(e for e in events if e["event"] == "start")
    assert start["train_rows"] + start["val_rows"] == 6 and start["hyperparameters"]["method"] == "orpo"
    published = events[-1]
    assert published["event"] == "published" and published["version"] == "v1" and not published["active"]
    saved = json.loads((Path(published["path"]) / "eval.json").read_text(encoding="utf-8"))
    assert saved["reviews"] == [review.id] and saved["frames"]["train"] + saved["frames"]["held_out"] == 6
    assert saved["frames"]["held_out"] == 3 and start["hyperparameters"]["facts"]  # one whole burst; facts on
    detail = saved["frames_detail"]
    assert len({f["group"] for f in detail}) == 2  # the review's own bursts, by perceptual hash
    assert len({f["group"] for f in detail if f["split"] == "held_out"}) == 1
    sources = {Path(f["path"]).name: f["source"] for f in detail}
    assert sources["burst00_sharp.jpg"] == "window" and sources["burst01_sharp.jpg"] == "sidecar burst01_sharp.xmp"
    levels = {Path(f["path"]).name: f["user"] for f in detail}
    assert levels["burst01_sharp.jpg"] == 4 and levels["burst01_dark.jpg"] == 2 and levels["burst01_blurred.jpg"] == 0


def test_an_undecided_review_is_refused_clearly(tiny_model_dir: Path, tmp_path: Path, home: Path) -> None:
    from app.engine.store.database import open_default_store
    from app.engine.store.reviews import FrameRow

    store = open_default_store()
    review = store.reviews.open_review(str(tmp_path), "ansel", "baseline", "k", recursive=False, settings={})
    store.reviews.set_frames(review.id, [FrameRow(review.id, str(tmp_path / "a.jpg"))])
    store.close()
    proc = subprocess.run([sys.executable, "-m", "training", "learn", "--advisor", "ansel", "--from-review", review.id,
                           "--model", str(tiny_model_dir)], cwd=ROOT, env=env_for(home), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "has a decision" in proc.stderr + proc.stdout


def test_a_taught_version_is_listed_by_agreement_and_not_evaluated_as_a_portfolio(
        learned: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from training import evaluate, versions
    from training.common import run_main

    version = learned["result"]["version"]
    assert run_main(evaluate.main, ["--advisor", "eye", "--version", version]) == 2
    assert "was taught from culls" in capsys.readouterr().err  # its agreement table stays
    assert json.loads((learned["version"].path / "eval.json").read_text(encoding="utf-8"))["agreement"]
    assert run_main(versions.main, ["list", "--advisor", "eye"]) == 0
    listed = capsys.readouterr().out
    held = learned["result"]["agreement"]["after"]["held_out"]["pairwise"]["value"]
    assert version in listed and ("agr " in listed or held is None)
