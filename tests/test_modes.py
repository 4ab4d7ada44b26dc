"""Analysis modes end to end on the tiny model: baseline, rag, lora, and every fallback path
(lora -> rag -> baseline) with the reason recorded; an explicitly requested broken adapter is an error."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.manager import AdapterError
from app.engine.adapters.versions import AdapterManifest
from app.engine.rag.index import ReferenceIndex
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store

ADVISOR = "ansel"


def make_photo(path: Path, color: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (96, 64), color)
    img.putpixel((10, 10), (255, 255, 255))
    img.save(path, "JPEG")
    return path


@pytest.fixture
def service(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("MONDRIAN_HOME", str(tmp_path / "home"))
    store = Store(tmp_path / "home" / "test.db")
    svc = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000), store=store)
    yield svc
    svc.close()
    store.close()


@pytest.fixture
def photo(tmp_path) -> Path:
    return make_photo(tmp_path / "user" / "photo.jpg", (40, 90, 160))


def publish(adapter: Path, base_model: str, advisor: str = ADVISOR) -> adapter_versions.AdapterVersion:
    staged = adapter_versions.staging_dir(advisor)
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(adapter / name, staged / name)
    return adapter_versions.publish(advisor, staged, AdapterManifest(advisor, "", base_model=base_model))


def index_references(service: MondrianService, tmp_path: Path, n: int = 4) -> None:
    src = tmp_path / "refs"
    for i in range(n):
        make_photo(src / f"ref{i}.jpg", (50 * i, 200 - 40 * i, 90))
    summary = ReferenceIndex(service.host, service.settings, service.store).update(ADVISOR, src)
    assert summary.counts()["added"] == n


def test_baseline(service, photo):
    result = service.critique(photo, ADVISOR, "baseline")
    assert (result.requested_mode, result.effective_mode, result.fallback_reason) == ("baseline", "baseline", None)
    assert result.ok and result.model_used == "base" and result.adapter_version is None and result.references == []


def test_lora_end_to_end(service, photo, tiny_adapters, tiny_model_dir):
    version = publish(tiny_adapters["a"], str(tiny_model_dir))
    before = service.critique(photo, ADVISOR, "baseline")
    for mode in ("auto", "lora"):
        result = service.critique(photo, ADVISOR, mode)
        assert result.effective_mode == "lora" and result.fallback_reason is None, result.fallback_reason
        assert result.adapter_version == version.version == "v1" and result.model_used == "fine_tuned"
        assert result.ok or result.parse_problems  # random weights: structure, not content
        job = service.store.jobs.get_job(result.job_id)
        assert (job.effective_mode, job.adapter_version, job.model_used) == ("lora", "v1", "fine_tuned")
    after = service.critique(photo, ADVISOR, "baseline")
    assert after.raw_text == before.raw_text  # the adapter is off again: exactly the base's output
    status = service.adapters.status()
    assert status.applied == "v1" and not status.enabled


def test_rag_end_to_end(service, photo, tmp_path):
    index_references(service, tmp_path)
    baseline = service.critique(photo, ADVISOR, "baseline")
    result = service.critique(photo, ADVISOR, "rag")
    assert (result.requested_mode, result.effective_mode, result.fallback_reason) == ("rag", "rag", None)
    assert result.ok and result.model_used == "base"
    assert len(result.references) == 3
    assert {r["name"] for r in result.references} <= {f"ref{i}.jpg" for i in range(4)}
    distances = [r["distance"] for r in result.references]
    assert distances == sorted(distances) and all(set(r["scores"]) for r in result.references)
    # two passes: both prompts' tokens are counted
    assert result.stats.prompt_tokens > baseline.stats.prompt_tokens
    assert service.store.jobs.get_job(result.job_id).effective_mode == "rag"


def test_rag_without_a_parsed_profile_still_critiques(service, photo, tmp_path, monkeypatch):
    from app.engine.modes import pipelines

    index_references(service, tmp_path, n=2)
    real = pipelines.draft_profile

    def unparsed(*args, **kwargs):
        return replace(real(*args, **kwargs), report=None, problems=["not JSON"])

    monkeypatch.setattr(pipelines, "draft_profile", unparsed)
    result = service.critique(photo, ADVISOR, "rag")
    assert result.effective_mode == "rag" and result.references == [] and result.ok


def test_fallback_lora_to_rag(service, photo, tmp_path):
    index_references(service, tmp_path, n=2)
    result = service.critique(photo, ADVISOR, "auto")
    assert result.effective_mode == "rag"
    assert result.fallback_reason == "auto: lora unavailable (advisor 'ansel' has no active adapter)"
    explicit = service.critique(photo, ADVISOR, "lora")  # asked by name, but there is no adapter: falls back
    assert (explicit.requested_mode, explicit.effective_mode) == ("lora", "rag")
    assert explicit.fallback_reason == "lora unavailable (advisor 'ansel' has no active adapter)"
    job = service.store.jobs.get_job(explicit.job_id)
    assert (job.requested_mode, job.effective_mode, job.fallback_reason) == ("lora", "rag", explicit.fallback_reason)


def test_fallback_lora_to_rag_to_baseline(service, photo):
    result = service.critique(photo, ADVISOR, "auto")
    assert result.effective_mode == "baseline" and result.ok
    reason = result.fallback_reason
    assert reason.startswith("auto: lora unavailable (advisor 'ansel' has no active adapter); rag unavailable (")
    assert "no indexed reference photos" in reason and "mondrian index --advisor" in reason
    explicit = service.critique(photo, ADVISOR, "rag")
    assert explicit.effective_mode == "baseline" and explicit.fallback_reason.startswith("rag unavailable")


def test_a_broken_adapter_falls_back_in_auto_and_says_why(service, photo, tmp_path, tiny_adapters, tiny_model_dir):
    index_references(service, tmp_path, n=2)
    version = publish(tiny_adapters["a"], str(tiny_model_dir))
    weights = version.path / "adapters.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    result = service.critique(photo, ADVISOR, "auto")
    assert result.effective_mode == "rag" and result.adapter_version is None
    assert result.fallback_reason.startswith("auto: lora unavailable (adapter v1 of 'ansel' is unusable: ")
    assert "adapters.safetensors is corrupt" in result.fallback_reason


def test_an_adapter_for_another_base_falls_back_in_auto(service, photo, tiny_adapters):
    publish(tiny_adapters["b"], "mlx-community/Qwen2-VL-2B-Instruct-bf16")
    result = service.critique(photo, ADVISOR, "auto")
    assert result.effective_mode == "baseline"
    assert "adapter v1 of 'ansel' is unusable: made for base model 'mlx-community/Qwen2-VL-2B-Instruct-bf16'" \
        in result.fallback_reason


def test_explicit_lora_with_a_broken_adapter_is_an_error(service, photo, tiny_adapters, tiny_model_dir):
    version = publish(tiny_adapters["a"], str(tiny_model_dir))
    (version.path / "adapter_config.json").unlink()
    with pytest.raises(AdapterError) as err:
        service.critique(photo, ADVISOR, "lora")
    assert err.value.kind == "missing" and str(version.path) in str(err.value)
    failed = service.store.jobs.list_jobs(ADVISOR, status="failed")
    assert failed and "adapter_config.json" in failed[0].error
    # the model is untouched: baseline still works and auto falls back
    assert service.critique(photo, ADVISOR, "auto").effective_mode == "baseline"


def test_switching_advisors_swaps_adapters_on_one_model(service, photo, tiny_adapters, tiny_model_dir):
    publish(tiny_adapters["a"], str(tiny_model_dir), advisor="ansel")
    publish(tiny_adapters["b"], str(tiny_model_dir), advisor="fan_ho")
    runs = [service.critique(photo, advisor, "lora") for advisor in ("ansel", "fan_ho", "ansel")]
    assert [r.adapter_version for r in runs] == ["v1", "v1", "v1"]
    assert runs[0].raw_text == runs[2].raw_text
    loaded = service.host.loaded
    assert loaded is not None and "swap_s" in loaded.state["adapters"].timings
