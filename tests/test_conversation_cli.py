"""``python -m app ask`` and ``crop`` on the tiny model, in a subprocess-free run of the real CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from app.cli import main


@pytest.fixture
def job(home: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[str, Path]:
    from app.engine.settings import Settings, save_settings

    save_settings(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000))
    photo = tmp_path / "dune.jpg"
    img = Image.new("RGB", (160, 120))
    img.putdata([((x * 3) % 256, (y * 2) % 256, 90) for y in range(120) for x in range(160)])
    img.save(photo)
    assert main(["critique", str(photo), "--mode", "baseline", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return out["job_id"], photo


def test_ask_streams_an_answer_and_show_lists_the_conversation(job, capsys, monkeypatch):
    job_id, _ = job
    assert main(["ask", job_id[:8], "Why this grade?", "--max-tokens", "6", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert answer["turn"]["question"] == "Why this grade?" and answer["turn"]["status"] == "done"
    monkeypatch.setattr("sys.stdin", io.StringIO("And the light?\nAnd the colour?\n\n"))
    assert main(["ask", job_id, "--interactive", "--max-tokens", "4"]) == 0
    capsys.readouterr()
    assert main(["ask", job_id, "--show"]) == 0
    shown = capsys.readouterr().out
    for question in ("Why this grade?", "And the light?", "And the colour?"):
        assert f"you: {question}" in shown


def test_ask_refuses_bad_input_with_the_reason(job, capsys, tmp_path):
    job_id, photo = job
    assert main(["ask", "nope", "why?"]) == 2
    assert "no job 'nope'" in capsys.readouterr().err
    assert main(["ask", job_id, "   "]) == 1
    assert "the question is empty" in capsys.readouterr().err
    photo.rename(tmp_path / "elsewhere.jpg")
    assert main(["ask", job_id, "why?"]) == 1
    assert "locate it (--photo PATH" in capsys.readouterr().err
    assert main(["ask", job_id, "why?", "--photo", str(tmp_path / "elsewhere.jpg"), "--max-tokens", "3"]) == 0


def test_crop_exports_beside_the_photo_and_critiques_it(job, capsys):
    job_id, photo = job
    assert main(["crop", job_id, "--aspect", "4:5", "--export", "--critique", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    exported = Path(out["exported"])
    assert exported.parent == photo.parent and exported.name == "dune-crop.jpg"
    assert Image.open(exported).size == (out["width"], out["height"]) and out["aspect"] == "4:5"
    assert out["critique_job_id"] and out["critique_job_id"] != job_id
    assert main(["crop", job_id, "--export"]) == 0  # a second crop never replaces the first
    assert "dune-crop-2.jpg" in capsys.readouterr().out


@pytest.fixture
def job_on_named_model(home: Path, tiny_model_dir: Path, tmp_path: Path, capsys) -> tuple[str, Path]:
    """A job critiqued with ``--model DIR`` while the settings name another (absent) model (issue 23)."""
    from app.engine.settings import Settings, save_settings

    save_settings(Settings(model="mlx-community/not-downloaded-4bit", max_text_chars=24, max_tokens=2000))
    photo = tmp_path / "named.jpg"
    Image.new("RGB", (128, 96), (40, 90, 160)).save(photo)
    assert main(["critique", str(photo), "--mode", "baseline", "--model", str(tiny_model_dir), "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])["job_id"], photo


def test_ask_and_crop_use_the_model_that_critiqued_the_job(job_on_named_model, capsys):
    job_id, _ = job_on_named_model
    assert main(["ask", job_id, "Why?", "--max-tokens", "3"]) == 0, capsys.readouterr().err
    assert main(["crop", job_id, "--json"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["ask", job_id, "--show"]) == 0
    shown = capsys.readouterr().out
    assert "Crop x " in shown and " px" in shown and "{" not in shown  # the crop as text, not JSON


def test_a_job_whose_model_is_gone_is_exit_2_and_stores_no_failed_turn(home, tiny_model_dir, tmp_path, capsys):
    import shutil

    from app.engine.store.database import open_default_store

    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "soon-gone"))
    photo = tmp_path / "gone.jpg"
    Image.new("RGB", (128, 96), (40, 90, 160)).save(photo)
    assert main(["critique", str(photo), "--mode", "technical", "--json"]) == 0
    capsys.readouterr()
    assert main(["critique", str(photo), "--mode", "baseline", "--model", str(model), "--json",
                 "--max-tokens", "8", "--no-constrain"]) in (0, 1)
    job_id = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["job_id"]
    shutil.rmtree(model)
    assert main(["ask", job_id, "Why?"]) == 2
    err = capsys.readouterr().err
    assert f"the model that critiqued job {job_id[:8]}" in err and "does not exist" in err
    store = open_default_store()
    assert store.conversations.list_turns(job_id) == []
    store.close()


def test_a_different_photo_at_the_old_path_is_refused(job_on_named_model, capsys):
    job_id, photo = job_on_named_model
    Image.new("RGB", (128, 96), (200, 10, 10)).save(photo)  # another picture under the same name
    assert main(["ask", job_id, "Why?"]) == 1
    assert "is no longer the photo of job" in capsys.readouterr().err
    assert main(["crop", job_id]) == 1
    assert "is no longer the photo of job" in capsys.readouterr().err
