"""prepare_dataset: scanning, targets precedence, ratings, split, augmentation, the saved dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from app.engine.advisors import Advisor, save_user_advisor
from app.engine.critique.prompts import critique_prompt
from app.engine.critique.report import DIMENSIONS
from app.engine.settings import Settings, load_settings, save_settings
from tests.training_helpers import TARGET, TARGET_SCORES, make_portfolio, write_targets
from training.augment import AugmentOptions
from training.common import run_main
from training.dataset import TRAIN, VALIDATION, DatasetError, export_jsonl, load_dataset
from training.prepare_dataset import PrepareOptions, main, prepare

ADVISOR = "tester"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MONDRIAN_HOME with a short personal advisor."""
    home = tmp_path / "home"
    monkeypatch.setenv("MONDRIAN_HOME", str(home))
    save_user_advisor(Advisor(id=ADVISOR, name="Tess", bio="Likes quiet light."))
    return home


@pytest.fixture
def portfolio(tmp_path: Path) -> tuple[Path, list[str]]:
    folder = tmp_path / "portfolio"
    return folder, make_portfolio(folder)


def _opts(portfolio: Path, targets: Path | None, **kw: object) -> PrepareOptions:
    return PrepareOptions(advisor_id=ADVISOR, portfolio=portfolio, targets=targets, **kw)  # type: ignore[arg-type]


def test_dataset_columns_split_and_skipped_files(home: Path, portfolio: tuple[Path, list[str]],
                                                 tmp_path: Path) -> None:
    folder, names = portfolio
    targets = write_targets(tmp_path / "t.json", names)
    result = prepare(_opts(folder, targets, augment=2, val_fraction=0.25, seed=3))
    assert {s["file"] for s in result.skipped} == {"broken.jpg", "empty.png"}
    reasons = {s["file"]: s["reason"] for s in result.skipped}
    assert "corrupt JPEG" in reasons["broken.jpg"] and reasons["empty.png"] == "file is empty"
    data = load_dataset(ADVISOR)
    train, val = data.split(TRAIN), data.split(VALIDATION)
    assert len(train) == 6 * 3 and len(val) == 2
    assert data.meta["counts"]["photos"] == 8 and data.meta["sources"]["targets"] == 8
    assert data.hash == result.hash
    row = train[0]
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
    assert all(isinstance(m["content"], str) for r in (train, val) for msgs in list(r["messages"]) for m in msgs)
    assert json.loads(row["messages"][-1]["content"]) == TARGET
    assert isinstance(row["images"][0], Image.Image) and len(row["images"]) == 1
    # Validation holds originals only; augmented copies exist only for training photos.
    assert set(list(val["augmentation"])) == {"original"}
    assert list(train["augmentation"]).count("original") == 6


def test_split_never_leaks_a_photo(home: Path, portfolio: tuple[Path, list[str]], tmp_path: Path) -> None:
    folder, names = portfolio
    shutil.copyfile(folder / "p0.jpg", folder / "p0-copy.jpg")  # same content under another name
    targets = write_targets(tmp_path / "t.json", [*names, "p0-copy.jpg"])
    for seed in range(4):
        prepare(_opts(folder, targets, augment=1, val_fraction=0.4, seed=seed))
        data = load_dataset(ADVISOR)
        train_ids = set(list(data.split(TRAIN)["photo_sha256"]))
        val_ids = set(list(data.split(VALIDATION)["photo_sha256"]))
        assert train_ids and val_ids and not train_ids & val_ids
        by_name = dict(zip(list(data.split(TRAIN)["photo"]) + list(data.split(VALIDATION)["photo"]),
                           list(data.split(TRAIN)["photo_sha256"]) + list(data.split(VALIDATION)["photo_sha256"]), strict=True))
        assert by_name["p0.jpg"] == by_name["p0-copy.jpg"]


def test_same_seed_same_dataset(home: Path, portfolio: tuple[Path, list[str]], tmp_path: Path) -> None:
    folder, names = portfolio
    targets = write_targets(tmp_path / "t.json", names)
    first = prepare(_opts(folder, targets, augment=2, seed=5)).hash
    again = prepare(_opts(folder, targets, augment=2, seed=5)).hash
    other = prepare(_opts(folder, targets, augment=2, seed=6)).hash
    no_flip = prepare(_opts(folder, targets, augment=2, seed=5,
                            augment_options=AugmentOptions(flip=False))).hash
    assert first == again and len({first, other, no_flip}) == 3


def test_user_turn_is_the_inference_prompt_for_that_image(home: Path, portfolio: tuple[Path, list[str]],
                                                          tmp_path: Path) -> None:
    from app.engine.critique.prompts import facts_in_prompt
    from app.engine.photos.prepare import prepare_photo

    folder, names = portfolio
    prepare(_opts(folder, write_targets(tmp_path / "t.json", names), augment=1, val_fraction=0.25))
    settings = load_settings()
    assert settings.grounding
    advisor = next(a for a in [__import__("app.engine.advisors", fromlist=["get_advisor"]).get_advisor(ADVISOR)])
    data = load_dataset(ADVISOR)
    for row in list(data.split(TRAIN)) + list(data.split(VALIDATION)):
        image = row["images"][0]
        facts = facts_in_prompt(row["messages"][1]["content"])
        assert facts, "grounding is on: the facts must be in the prompt"
        assert row["messages"][:2] == critique_prompt(advisor, facts=facts).messages()
        if row["augmentation"] == "original":  # exactly the prompt and pixels inference makes from that file
            inference = prepare_photo(folder / row["photo"], settings)
            assert facts == inference.facts
            assert image.tobytes() == inference.image.tobytes()
    settings.grounding = False
    save_settings(settings)
    prepare(_opts(folder, write_targets(tmp_path / "t.json", names), val_fraction=0.25))
    row = load_dataset(ADVISOR).split(TRAIN)[0]
    assert row["messages"][:2] == critique_prompt(advisor).messages()


def test_trainer_completion_prefix_is_the_inference_prompt(home: Path, portfolio: tuple[Path, list[str]],
                                                           tmp_path: Path, tiny_model) -> None:
    """mlx-vlm's trainer masks the loss up to a prefix it renders itself: it must be, token for
    token, what ``model_host.render_prompt`` gives inference for the same advisor and photo."""
    import numpy as np
    from mlx_vlm.trainer.vlm.sft.dataset import VisionDataset
    from mlx_vlm.utils import prepare_inputs

    from app.engine.advisors import get_advisor
    from app.engine.model.host import render_prompt
    from app.engine.photos.prepare import prepare_photo

    model, processor = tiny_model
    folder, names = portfolio
    prepare(_opts(folder, write_targets(tmp_path / "t.json", names), val_fraction=0.25))
    data = load_dataset(ADVISOR)
    rows = data.split(VALIDATION)
    vd = VisionDataset(rows, model.config, processor, config={"train_on_completions": True})
    advisor = get_advisor(ADVISOR)
    for i, row in enumerate(rows):
        prepared = prepare_photo(folder / row["photo"], load_settings())
        inference = render_prompt(processor, model.config, critique_prompt(advisor, facts=prepared.facts))
        conversation = vd._conversation(row)
        prefix = vd._apply_chat_template(processor, vd.config, conversation[:-1], add_generation_prompt=True,
                                         num_images=1)
        assert prefix == inference
        sample = vd[i]
        ids = np.asarray(sample["input_ids"])
        mask = np.asarray(sample["completion_mask"])
        n_prompt = int((mask == 0).sum())
        expected = prepare_inputs(processor, images=[prepared.image], prompts=[inference], add_special_tokens=False,
                                  image_token_index=model.config.image_token_id)["input_ids"]
        expected = np.asarray(expected).reshape(-1)
        assert n_prompt == len(expected) and np.array_equal(ids[:n_prompt], expected)
        completion = processor.tokenizer.decode(ids[n_prompt:].tolist())
        assert completion.startswith(row["messages"][-1]["content"])


def test_targets_precedence_edited_file_draft(home: Path, portfolio: tuple[Path, list[str]], tmp_path: Path) -> None:
    from app.engine.photos.decode import file_sha256
    from app.engine.store.database import open_default_store

    folder, names = portfolio
    low = {d: 3 for d in DIMENSIONS}
    mid = {d: 5 for d in DIMENSIONS}
    with open_default_store() as store:
        # p0: the user edited its profile -> wins over the targets file.
        store.profiles.upsert_profile(ADVISOR, str((folder / "p0.jpg").resolve()), file_sha256(folder / "p0.jpg"),
                             {"dimensional_analysis": {d: {"score": s, "comment": "edited", "recommendation": "r"}
                                                       for d, s in low.items()}, "overall_grade": "D",
                              "summary": "mine"}, source="model", edited=True)
        # p7: only a model draft (matched by content hash); the targets file does not list p7.
        store.profiles.upsert_profile(ADVISOR, "/elsewhere/p7-copy.jpg", file_sha256(folder / "p7.jpg"),
                             {"dimensional_analysis": {d: {"score": s, "comment": "draft", "recommendation": "r"}
                                                       for d, s in mid.items()}, "overall_grade": "C",
                              "summary": "draft"}, source="model", edited=False)
    (folder / "p7.xmp").write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                                   '<rdf:Description rdf:about="" '
                                   'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5"/></rdf:RDF></x:xmpmeta>')
    targets = write_targets(tmp_path / "t.json", names[:7] + ["ghost.jpg"])

    without = prepare(_opts(folder, targets, val_fraction=0))
    assert any(s["file"] == "p7.jpg" and s["reason"].startswith("no target") for s in without.skipped)
    assert any("ghost.jpg" in w for w in without.warnings)

    result = prepare(_opts(folder, targets, val_fraction=0, draft=True))
    assert result.sources == {"edited": 1, "targets": 6, "draft": 1}
    rows = {r["photo"]: r for r in load_dataset(ADVISOR).split(TRAIN)}
    target = {p: json.loads(r["messages"][-1]["content"]) for p, r in rows.items()}
    assert target["p0.jpg"]["dimensional_analysis"]["lighting"] == {"score": 3, "comment": "edited",
                                                                    "recommendation": "r"}
    assert rows["p0.jpg"]["target_source"] == "edited"
    assert target["p1.jpg"] == TARGET and rows["p1.jpg"]["target_source"] == "targets"
    # The draft was calibrated to the photographer's 5 stars (anchor 9.5): 5 -> 10 (clamped at 10).
    assert rows["p7.jpg"]["target_source"] == "draft" and rows["p7.jpg"]["rating"] == 5
    assert {v["score"] for v in target["p7.jpg"]["dimensional_analysis"].values()} == {10}
    assert any("p7.jpg: draft calibrated to 5 star" in w for w in result.warnings)
    assert not any(w.startswith("p0.jpg") for w in result.warnings)


def test_exclude_rejected(home: Path, portfolio: tuple[Path, list[str]], tmp_path: Path) -> None:
    folder, names = portfolio
    (folder / "p3.jpg.xmp").write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                                   '<rdf:Description rdf:about="" '
                                       'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="-1"/></rdf:RDF></x:xmpmeta>')
    targets = write_targets(tmp_path / "t.json", names)
    kept = prepare(_opts(folder, targets, val_fraction=0))
    assert kept.counts[TRAIN] == 8
    assert -1 in list(load_dataset(ADVISOR).split(TRAIN)["rating"])
    dropped = prepare(_opts(folder, targets, val_fraction=0, exclude_rejected=True))
    assert dropped.counts[TRAIN] == 7
    assert any(s["file"] == "p3.jpg" and "rejected" in s["reason"] for s in dropped.skipped)


def test_drafts_from_the_base_model_are_saved_for_review(home: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    from app.engine.store.database import open_default_store

    folder = tmp_path / "few"
    names = make_portfolio(folder, n=2, broken=False)
    save_settings(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000))
    result = prepare(_opts(folder, None, draft=True, draft_only=True))
    assert result.path is None
    assert sorted(result.drafted) + [s["file"] for s in result.skipped] == sorted(names)
    with open_default_store() as store:
        profiles = store.profiles.list_profiles(ADVISOR)
    assert len(profiles) == len(result.drafted)
    assert all(p.source == "model" and not p.edited for p in profiles)


def test_cli_bad_targets_file_is_a_clear_error(home: Path, portfolio: tuple[Path, list[str]], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder, _ = portfolio
    bad = tmp_path / "bad.csv"
    bad.write_text("file,composition\nx.jpg,5\n", encoding="utf-8")
    code = run_main(main, ["--advisor", ADVISOR, "--portfolio", str(folder), "--targets", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert str(bad) in err and "no 'lighting' score column" in err
    code = run_main(main, ["--advisor", ADVISOR, "--portfolio", str(tmp_path / "nowhere")])
    assert code == 2 and "folder not found" in capsys.readouterr().err
    code = run_main(main, ["--advisor", "ghost", "--portfolio", str(folder)])
    err = capsys.readouterr().err
    assert "created the personal advisor 'ghost'" in err and "--advisor-name" in err  # a new id says so


def test_cli_summary_and_new_personal_advisor(home: Path, portfolio: tuple[Path, list[str]], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder, names = portfolio
    targets = write_targets(tmp_path / "t.json", names)
    code = run_main(main, ["--advisor", "jane", "--advisor-name", "Jane Doe", "--portfolio", str(folder),
                           "--targets", str(targets), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["counts"]["train"] + out["counts"]["validation"] == 8
    assert {s["file"] for s in out["skipped"]} == {"broken.jpg", "empty.png"}


def test_missing_or_corrupt_dataset(home: Path, portfolio: tuple[Path, list[str]], tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no dataset for advisor 'tester'.*mondrian train prepare"):
        load_dataset(ADVISOR)
    folder, names = portfolio
    prepare(_opts(folder, write_targets(tmp_path / "t.json", names)))
    path = load_dataset(ADVISOR).path
    arrow = next((path / TRAIN).glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:200])
    with pytest.raises(DatasetError, match="unreadable"):
        load_dataset(ADVISOR)
    (path / "dataset_dict.json").write_text("{not json")
    with pytest.raises(DatasetError, match="unreadable"):
        load_dataset(ADVISOR)


def test_export_jsonl_reads_back_with_mlx_vlm(home: Path, portfolio: tuple[Path, list[str]], tmp_path: Path) -> None:
    from mlx_vlm.trainer.datasets.loading import load

    folder, names = portfolio
    prepare(_opts(folder, write_targets(tmp_path / "t.json", names), val_fraction=0.25))
    out = export_jsonl(ADVISOR, tmp_path / "export")
    splits = load(str(out))
    assert set(splits) == {"train", "validation"} and len(splits["train"]) == 6
    row = splits["train"][0]
    assert (out / row["images"][0]).is_file() and row["messages"][-1]["role"] == "assistant"
    assert json.loads(row["messages"][-1]["content"])["dimensional_analysis"]["color_harmony"]["score"] == \
        TARGET_SCORES["color_harmony"]


def test_exported_jsonl_trains_with_mlx_vlm_train(home: Path, portfolio: tuple[Path, list[str]], tmp_path: Path,
                                                  tiny_model_dir: Path) -> None:
    from tests.training_helpers import run_module

    folder, names = portfolio
    prepare(_opts(folder, write_targets(tmp_path / "t.json", names), val_fraction=0.25))
    out = export_jsonl(ADVISOR, tmp_path / "export")
    adapter = tmp_path / "adapter"
    run_module("mlx_vlm.train", "--model", str(tiny_model_dir), "--data", str(out), "--iters", "2",
               "--train-on-completions", "--steps-per-eval", "2", "--val-batches", "1", "--output-path",
               str(adapter), home=home)
    assert (adapter / "adapters.safetensors").is_file() and (adapter / "adapter_config.json").is_file()


def test_prompt_drift_is_detected(home: Path, portfolio: tuple[Path, list[str]], tmp_path: Path) -> None:
    from app.engine.advisors import get_advisor
    from training.evaluate import prompt_drift

    folder, names = portfolio
    prepare(_opts(folder, write_targets(tmp_path / "t.json", names), val_fraction=0.25))
    rows = list(load_dataset(ADVISOR).split(VALIDATION))
    advisor = get_advisor(ADVISOR)
    assert prompt_drift(advisor, rows, grounding=True) == ""
    assert "2 of 2 held-out prompts differ" in prompt_drift(advisor, rows, grounding=False)
    advisor.bio = "Now loves harsh noon light."
    assert "train again" in prompt_drift(advisor, rows, grounding=True)


def test_draft_without_a_model_is_one_clear_error(home: Path, portfolio: tuple[Path, list[str]],
                                                  tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, _ = portfolio
    save_settings(Settings(model=str(tmp_path / "no-model-here")))
    code = run_main(main, ["--advisor", ADVISOR, "--portfolio", str(folder), "--draft"])
    err = capsys.readouterr().err
    assert code == 2 and "--draft needs the base model" in err and "no-model-here" in err
