"""The comparisons as engine operations (app/engine/compare.py), and the CLI and API over them.

On the tiny model with a real adapter made by mlx-vlm's trainer: base vs fine-tuned runs the
pipeline the chosen mode resolves to on both sides and links the two jobs by one pair id; a blind
A/B draw honours the mode too and types its arm; with no adapter the error is the engine's (no
CLI flag, no button), and each front end adds its own words.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from app.cli import main
from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import AdapterManifest, AdapterVersion
from app.engine.compare import ComparisonError, Comparisons
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store
from app.engine.vocabulary import ModelUsed

ADVISOR = "ansel"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    img = Image.new("RGB", (96, 64), (40, 90, 160))
    img.putpixel((10, 10), (255, 255, 255))
    img.save(path, "JPEG")
    return path


def publish(adapter: Path, base_model: Path) -> AdapterVersion:
    staged = adapter_versions.staging_dir(ADVISOR)
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(adapter / name, staged / name)
    return adapter_versions.publish(ADVISOR, staged, AdapterManifest(ADVISOR, "", base_model=str(base_model)))


@pytest.fixture
def service(home: Path, tiny_model_dir: Path):
    store = Store(home / "compare.db")
    svc = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=16, max_tokens=2000), store=store)
    yield svc
    svc.close()
    store.close()


def test_without_an_adapter_the_engine_says_why_in_its_own_words(service: MondrianService, photo: Path):
    for run in (lambda: service.compare(photo, ADVISOR), lambda: service.blind(photo, ADVISOR, split=1.0)):
        with pytest.raises(ComparisonError) as err:
            run()
        assert err.value.kind == "no_adapter" and "ansel" in str(err.value)
        assert "--" not in str(err.value) and "Training tab" not in str(err.value)
    assert service.store is not None and service.store.jobs.list_jobs() == []  # refused before any job
    assert not service.comparisons.available(ADVISOR)


def test_base_vs_fine_tuned_in_the_chosen_mode_linked_by_one_pair_id(service: MondrianService, photo: Path,
                                                                     tiny_model_dir: Path, tiny_adapters):
    version = publish(tiny_adapters["a"], tiny_model_dir)
    stages: list[str] = []
    pair = service.compare(photo, ADVISOR, "baseline", on_stage=lambda text, _f: stages.append(text))
    assert stages == ["Base model (1 of 2)…", "Fine-tuned (2 of 2)…"]
    assert pair.base.model_used == ModelUsed.BASE.value and pair.tuned.model_used == ModelUsed.FINE_TUNED.value
    assert pair.base.effective_mode == "baseline" and pair.tuned.effective_mode == "lora"  # one pass, both
    assert pair.tuned.adapter_version == version.version and pair.base.adapter_version is None
    assert pair.base.raw_text != pair.tuned.raw_text  # the adapter changed what the model wrote
    assert pair.pair_id and pair.base.pair_id == pair.tuned.pair_id == pair.pair_id
    assert set(pair.deltas()) == set(pair.base.report.dimensions)  # type: ignore[union-attr]
    jobs = service.paired_jobs(service.store.jobs.get_job(pair.tuned.job_id))  # type: ignore[union-attr]
    assert [j.id for j in jobs] == [pair.base.job_id, pair.tuned.job_id]
    again = Comparisons.from_jobs(jobs)
    assert again is not None and again.pair_id == pair.pair_id and again.deltas() == pair.deltas()


def test_blind_draw_types_its_arm_and_honours_the_mode(service: MondrianService, photo: Path,
                                                       tiny_model_dir: Path, tiny_adapters):
    version = publish(tiny_adapters["a"], tiny_model_dir)
    tuned = service.blind(photo, ADVISOR, "baseline", split=1.0)
    base = service.blind(photo, ADVISOR, "baseline", split=0.0)
    assert tuned.arm is ModelUsed.AB_TEST_FINE_TUNED and tuned.fine_tuned and tuned.adapter_version == version.version
    assert base.arm is ModelUsed.AB_TEST_BASE and not base.fine_tuned
    # the chosen mode's pipeline (one pass) on both arms; only the weights differ
    assert base.result.effective_mode == "baseline" and tuned.result.effective_mode == "lora"
    assert base.result.requested_mode == tuned.result.requested_mode == "baseline"
    with pytest.raises(ComparisonError) as err:
        service.blind(photo, ADVISOR, "technical")
    assert err.value.kind == "technical"


def test_cli_compare_and_blind(home: Path, tiny_model_dir: Path, tiny_adapters, photo: Path,
                               capsys: pytest.CaptureFixture[str]):
    common = ["critique", str(photo), "--advisor", ADVISOR, "--mode", "baseline", "--model", str(tiny_model_dir),
              "--max-tokens", "2000"]
    assert main([*common, "--compare"]) == 2  # no adapter yet: nothing can run
    err = capsys.readouterr().err
    assert "no fine-tuned adapter" in err and "mondrian train versions" in err  # the CLI adds its command
    assert main([*common, "--compare", "--json"]) == 2  # the exit rule of every command, in JSON too
    stopped = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert stopped["cannot_run"] is True and stopped["ok"] is False and stopped["photo"] == str(photo)
    publish(tiny_adapters["a"], tiny_model_dir)
    main([*common, "--compare", "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["pair_id"] and out["base"]["model_used"] == "base" and out["fine_tuned"]["model_used"] == "fine_tuned"
    assert set(out["deltas"]) == set(out["base"]["report"]["dimensional_analysis"]) if out["ok"] else True
    main([*common, "--blind", "--ab-split", "1", "--json"])
    captured = capsys.readouterr()
    shown = json.loads(captured.out.strip().splitlines()[-1])
    assert shown["blind"] is True and shown["model_used"] == "hidden (blind A/B)" and shown["adapter_version"] is None
    assert "reveals it" in captured.err and shown["job_id"] in captured.err


def test_api_compare(home: Path, tiny_model_dir: Path, tiny_adapters):
    from app.api.app import BackgroundServer, build_asgi
    from tests.api_support import jpeg_bytes, multipart, request

    store = Store(home / "api.db")
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=16, max_tokens=2000), store=store)
    server = BackgroundServer(build_asgi(service, max_queue=2)).start()
    try:
        def post(**fields: str):
            body, ctype = multipart(fields, {"image": ("photo.jpg", jpeg_bytes(), "image/jpeg")})
            return request(server.url, "POST", "/compare", body, {"Content-Type": ctype}, timeout=300)

        status, _, body = post(advisor=ADVISOR, mode="baseline")
        assert status == 409 and "no fine-tuned adapter" in body["error"] and "--" not in body["error"]
        publish(tiny_adapters["a"], tiny_model_dir)
        status, _, body = post(advisor=ADVISOR, mode="baseline")
        assert status in (200, 502) and body["pair_id"]
        assert body["base"]["model_used"] == "base" and body["fine_tuned"]["model_used"] == "fine_tuned"
        jobs = store.jobs.jobs_in_pair(body["pair_id"]) if status == 200 else []
        assert status != 200 or {j.id for j in jobs} == {body["base"]["job_id"], body["fine_tuned"]["job_id"]}
        status, _, body = post(advisor=ADVISOR, mode="baseline", blind="true")
        assert status in (200, 502) and body["blind"] is True and body["model_used"] == "hidden"
        assert store.jobs.get_job(body["job_id"]).model_used in ("ab_test_base", "ab_test_fine_tuned")
        status, _, body = post(advisor=ADVISOR, blind="maybe")
        assert status == 400 and "blind" in body["error"]
    finally:
        server.stop()
        service.close()
        store.close()
