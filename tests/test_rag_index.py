"""The RAG reference index: import by link or copy (originals untouched), incremental profiling by
content hash, removal, failures listed and skipped, retrieval by profile distance, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from app.engine.critique.report import DIMENSIONS, DimensionScore, Report
from app.engine.model.host import ModelHost
from app.engine.rag import index as rag_index
from app.engine.rag.index import ReferenceIndex, import_subfolder, nearest_profiles, references_root
from app.engine.settings import Settings, save_settings
from app.engine.store.database import ProfileRow, Store

ADVISOR = "ansel"


def photo(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (80, 60)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, "JPEG")
    return path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def env(tmp_path, monkeypatch, tiny_model_dir):
    """An isolated data folder, a model host on the tiny model (counting generations) and a store."""
    monkeypatch.setenv("MONDRIAN_HOME", str(tmp_path / "home"))
    host = ModelHost(str(tiny_model_dir))
    calls: list[str] = []
    generate = host.generate

    def counting(request):
        calls.append(request.request_id)
        return generate(request)

    monkeypatch.setattr(host, "generate", counting)
    store = Store(tmp_path / "home" / "test.db")
    settings = Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000)
    index = ReferenceIndex(host, settings, store)
    index.calls = calls  # type: ignore[attr-defined]
    yield index
    host.shutdown()
    store.close()


def test_first_run_copies_and_profiles_every_photo(env, tmp_path):
    src = tmp_path / "refs"
    for i in range(3):
        photo(src / f"r{i}.jpg", (60 * i, 120, 200 - 50 * i))
    photo(src / "nested" / "deep.jpg", (10, 200, 10))
    before = snapshot(src)
    summary = env.update(ADVISOR, src)
    assert summary.counts() == {"added": 4, "updated": 0, "unchanged": 0, "removed": 0, "failed": 0}
    assert snapshot(src) == before  # originals untouched
    target = import_subfolder(ADVISOR, src)
    assert target.parent == references_root(ADVISOR)
    copies = sorted(target.rglob("*.jpg"))
    assert [p.relative_to(target).as_posix() for p in copies] == ["nested/deep.jpg", "r0.jpg", "r1.jpg", "r2.jpg"]
    for c in copies:  # copies, never hard links: editing a reference must not edit the original
        original = src / c.relative_to(target)
        assert not os.path.samefile(c, original) and c.read_bytes() == original.read_bytes()
    assert len(summary.imported.copied) == 4
    profiles = env.store.profiles.list_profiles(ADVISOR)
    assert sorted(p.image_path for p in profiles) == [str(c) for c in copies]
    for p in profiles:
        assert p.source == "model" and len(p.content_hash) == 64
        assert set(k for k, v in p.scores.items() if v is not None) == set(DIMENSIONS)
    assert len(env.calls) == 4


def test_rerun_profiles_only_new_or_changed_files_and_drops_removed_ones(env, tmp_path):
    src = tmp_path / "refs"
    for i in range(3):
        photo(src / f"r{i}.jpg", (60 * i, 120, 200 - 50 * i))
    env.update(ADVISOR, src)
    env.calls.clear()

    again = env.update(ADVISOR, src)
    assert again.counts() == {"added": 0, "updated": 0, "unchanged": 3, "removed": 0, "failed": 0}
    assert env.calls == []  # nothing re-profiled

    photo(src / "r0.jpg", (250, 250, 0))  # edited in place
    (src / "r1.jpg").unlink()
    photo(src / "r1-new.jpg", (0, 0, 250))
    replaced = src / "r2.jpg"  # rewritten as a new file (editors save-and-rename)
    photo(tmp_path / "tmp.jpg", (90, 10, 90)).replace(replaced)
    before = snapshot(src)
    summary = env.update(ADVISOR, src)
    target = import_subfolder(ADVISOR, src)
    assert summary.counts() == {"added": 1, "updated": 2, "unchanged": 0, "removed": 1, "failed": 0}
    assert summary.added == [str(target / "r1-new.jpg")]
    assert sorted(summary.updated) == [str(target / "r0.jpg"), str(target / "r2.jpg")]
    assert summary.removed == [str(target / "r1.jpg")]
    assert not (target / "r1.jpg").exists() and (target / "r2.jpg").read_bytes() == replaced.read_bytes()
    assert len(env.calls) == 3
    assert snapshot(src) == before
    rows = {Path(p.image_path).name: p for p in env.store.profiles.list_profiles(ADVISOR)}
    assert sorted(rows) == ["r0.jpg", "r1-new.jpg", "r2.jpg"]


def test_files_added_or_deleted_in_the_references_folder_itself(env, tmp_path):
    root = references_root(ADVISOR)
    photo(root / "direct" / "a.jpg", (1, 2, 3))
    photo(root / "direct" / "b.jpg", (200, 2, 3))
    assert env.update(ADVISOR).counts()["added"] == 2
    (root / "direct" / "a.jpg").unlink()
    summary = env.update(ADVISOR)
    assert summary.counts() == {"added": 0, "updated": 0, "unchanged": 1, "removed": 1, "failed": 0}
    assert [Path(p.image_path).name for p in env.store.profiles.list_profiles(ADVISOR)] == ["b.jpg"]


def test_other_profiles_of_the_advisor_are_left_alone(env, tmp_path):
    """Profiles outside the references folder (e.g. training targets) are not the index's to drop."""
    elsewhere = photo(tmp_path / "portfolio" / "mine.jpg", (5, 5, 5))
    report = Report(dimensions={d: DimensionScore(6.0, "ok", "") for d in DIMENSIONS}, summary="")
    env.store.profiles.upsert_profile(ADVISOR, elsewhere, "x" * 64, report, source="targets")
    photo(references_root(ADVISOR) / "one.jpg", (9, 9, 9))
    summary = env.update(ADVISOR)
    assert summary.counts()["removed"] == 0 and summary.counts()["added"] == 1
    assert env.store.profiles.get_profile(ADVISOR, elsewhere) is not None


def test_an_unreadable_photo_is_listed_and_skipped(env, tmp_path):
    src = tmp_path / "refs"
    photo(src / "good.jpg", (10, 120, 10))
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (src / "notes.txt").write_text("not a photo, never considered")
    summary = env.update(ADVISOR, src)
    assert summary.counts() == {"added": 1, "updated": 0, "unchanged": 0, "removed": 0, "failed": 1}
    path, reason = summary.failed[0]
    assert path.endswith("broken.jpg") and reason
    assert [Path(p.image_path).name for p in env.store.profiles.list_profiles(ADVISOR)] == ["good.jpg"]
    # a photo that becomes unreadable loses its stale profile
    target = import_subfolder(ADVISOR, src)
    (src / "good.jpg").write_bytes(b"\xff\xd8\xff garbage now")  # in place: copied again, fails
    summary = env.update(ADVISOR, src)
    assert summary.counts()["failed"] == 2 and env.store.profiles.get_profile(ADVISOR, target / "good.jpg") is None


def test_a_hard_link_left_by_an_older_version_becomes_a_copy(env, tmp_path, monkeypatch):
    src = tmp_path / "refs"
    photo(src / "a.jpg", (30, 60, 90))
    target = import_subfolder(ADVISOR, src) / "a.jpg"
    target.parent.mkdir(parents=True)
    os.link(src / "a.jpg", target)  # what versions before 0.x left behind

    def no_hard_links(*_args, **_kwargs):
        raise AssertionError("index must never hard-link a user's photo")

    monkeypatch.setattr(rag_index.os, "link", no_hard_links)
    before = snapshot(src)
    summary = rag_index.import_folder(ADVISOR, src)
    assert summary.copied == [str(target)] and not os.path.samefile(target, src / "a.jpg")
    target.write_bytes(b"edited reference")  # an edit of the reference ...
    assert snapshot(src) == before  # ... leaves the original alone
    rag_index.import_folder(ADVISOR, src)
    assert rag_index.import_folder(ADVISOR, src).unchanged == [str(target)]  # copy2 kept size and mtime


def test_symlink_mode_and_links_out_of_the_folder(tmp_path, home):
    src = tmp_path / "refs"
    photo(src / "in.jpg", (30, 60, 90))
    outside = photo(tmp_path / "private" / "secret.jpg", (200, 10, 10))
    os.symlink(outside, src / "escape.jpg")
    os.symlink(tmp_path / "private", src / "elsewhere")  # a linked folder: never walked
    os.symlink(src / "in.jpg", src / "alias.jpg")  # a link that stays inside the folder is fine
    before = snapshot(src)
    summary = rag_index.import_folder(ADVISOR, src, link=True)
    target = import_subfolder(ADVISOR, src)
    assert sorted(summary.linked) == [str(target / "alias.jpg"), str(target / "in.jpg")]
    assert summary.skipped == [(str(src / "escape.jpg"),
                                "a symbolic link out of the folder (follow_links to import it)")]
    assert (target / "in.jpg").is_symlink() and (target / "in.jpg").resolve() == (src / "in.jpg").resolve()
    assert not (target / "escape.jpg").exists() and snapshot(src) == before
    again = rag_index.import_folder(ADVISOR, src, link=True, follow_links=True)
    assert again.linked == [str(target / "escape.jpg")] and len(again.unchanged) == 2
    copied = rag_index.import_folder(ADVISOR, src, follow_links=True)  # switching to copies
    assert len(copied.copied) == 3 and not any(p.is_symlink() for p in target.iterdir())
    (src / "in.jpg").unlink()
    (src / "alias.jpg").unlink()
    assert sorted(rag_index.import_folder(ADVISOR, src, follow_links=True).removed) == \
        [str(target / "alias.jpg"), str(target / "in.jpg")]


def test_a_missing_folder_is_a_clear_error(env, tmp_path):
    from app.engine.photos.decode import ImageLoadError

    with pytest.raises(ImageLoadError, match="folder not found"):
        env.update(ADVISOR, tmp_path / "nope")


def _row(name: str, score: float | None, **overrides: float) -> ProfileRow:
    scores = {d: score for d in DIMENSIONS}
    scores.update(overrides)
    return ProfileRow(id=name, advisor_id=ADVISOR, image_path=f"/refs/{name}", scores=scores, comments={},
                      recommendations={}, content_hash=None, stated_grade="B", summary="s" * 300, source="model",
                      edited=False, created_at="", updated_at="")


def test_nearest_profiles_by_distance_over_the_eight_scores():
    rows = [_row("far.jpg", 1.0), _row("near.jpg", 7.0), _row("tie-b.jpg", 8.0), _row("tie-a.jpg", 6.0),
            _row("empty.jpg", None)]
    target = {d: 7.0 for d in DIMENSIONS}
    found = nearest_profiles(rows, target, k=3)
    assert [n.name for n in found] == ["near.jpg", "tie-a.jpg", "tie-b.jpg"]
    assert found[0].distance == 0.0 and found[1].distance == pytest.approx(8 ** 0.5)
    ref = found[0].to_reference()
    assert ref.scores["composition"] == 7.0 and len(ref.note) <= rag_index.NOTE_CHARS
    assert nearest_profiles(rows, target, k=0) == []
    one_off = [_row("x.jpg", 7.0, lighting=9.0), _row("y.jpg", 7.0, lighting=4.0)]
    assert [n.name for n in nearest_profiles(one_off, target, k=1)] == ["x.jpg"]


def test_index_command(tmp_path, monkeypatch, tiny_model_dir, capsys):
    from app.cli import main

    monkeypatch.setenv("MONDRIAN_HOME", str(tmp_path / "home"))
    save_settings(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000))
    src = tmp_path / "refs"
    photo(src / "a.jpg", (30, 60, 90))
    photo(src / "b.jpg", (90, 60, 30))
    assert main(["index", "--advisor", ADVISOR, "--folder", str(src)]) == 0
    out = capsys.readouterr()
    assert "ansel: added 2, updated 0, unchanged 0, removed 0, failed 0" in out.out
    progress = [json.loads(line) for line in out.err.splitlines()]  # not a terminal: JSON lines on stderr
    assert progress[-1]["event"] == "progress" and (progress[-1]["done"], progress[-1]["total"]) == (2, 2)
    assert progress[-1]["item"].startswith("added ")
    (src / "c.jpg").write_bytes(b"not a photo")
    assert main(["index", "--advisor", ADVISOR, "--folder", str(src), "--json", "--quiet"]) == 1
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert (data["added"], data["unchanged"], data["failed"]) == (0, 2, 1)
    assert data["failures"][0]["path"].endswith("c.jpg") and out.err == ""
    assert main(["index", "--advisor", "nobody-here", "--folder", str(src)]) == 2
    assert "nobody-here" in capsys.readouterr().err
    assert main(["index", "--advisor", ADVISOR, "--folder", str(tmp_path / "missing")]) == 2
    assert "folder not found" in capsys.readouterr().err


def test_a_reference_is_measured_like_the_critique_of_the_same_file(env, tmp_path, monkeypatch):
    """The facts in a reference's profile prompt are the facts a critique of that file carries
    (one photo preparation), on a photo large enough that measuring at another size would differ."""
    import numpy as np

    from app.engine.critique.prompts import facts_in_prompt
    from app.engine.photos.decode import load_photo
    from app.engine.service import MondrianService
    from app.engine.technical import analyze_photo, grounding_facts

    rng = np.random.default_rng(7)
    pixels = np.clip(rng.normal(120, 50, (1800, 2700, 3)) + np.linspace(0, 80, 2700)[None, :, None], 0, 255)
    path = tmp_path / "refs" / "big.jpg"
    path.parent.mkdir(parents=True)
    Image.fromarray(pixels.astype("uint8")).save(path, "JPEG", quality=92)
    prompts: list = []
    generate = env.host.generate

    def watching(request):
        prompts.append(request.prompt)
        return generate(request)

    monkeypatch.setattr(env.host, "generate", watching)
    assert env.update(ADVISOR, path.parent).counts()["added"] == 1
    reference_facts = facts_in_prompt(prompts[-1].user)
    service = MondrianService(env.settings, host=env.host, store=env.store)
    result = service.critique(path, ADVISOR, "baseline")
    critique_facts = facts_in_prompt(prompts[-1].user)
    assert reference_facts and reference_facts == critique_facts
    assert result.technical is not None
    elsewhere = grounding_facts(analyze_photo(load_photo(path, max_edge=1024)))
    assert elsewhere != critique_facts  # the photo tells the measuring sizes apart: the test can fail
