"""The facade the front ends use: ensure loaded, resolve a mode without running it, run on the model
thread, switch model without waiting (no cache of the old model survives)."""

from __future__ import annotations

import random
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image

from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import AdapterManifest
from app.engine.modes.weights import ABDrawPolicy
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.vocabulary import UnknownModeError

ADVISOR = "ansel"


@pytest.fixture
def service(home: Path, tiny_model_dir: Path):
    svc = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000))
    yield svc
    svc.close()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (96, 64), (40, 90, 160)).save(path, "JPEG")
    return path


def test_resolve_mode_says_what_would_run(service: MondrianService, tiny_adapters, tiny_model_dir, tmp_path):
    info = service.resolve_mode(ADVISOR, "auto")
    assert (info.requested, info.effective, info.model_available) == ("auto", "baseline", True)
    assert info.reason.startswith("auto: lora unavailable (advisor 'ansel' has no active adapter); rag unavailable")
    assert service.resolve_mode(ADVISOR, "technical").effective == "technical"
    with pytest.raises(UnknownModeError, match="choose one of: auto, baseline, rag, lora, technical"):
        service.resolve_mode(ADVISOR, "telepathy")
    staged = adapter_versions.staging_dir(ADVISOR)
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(tiny_adapters["a"] / name, staged / name)
    adapter_versions.publish(ADVISOR, staged, AdapterManifest(ADVISOR, "", base_model=str(tiny_model_dir)))
    assert service.resolve_mode(ADVISOR, "auto").effective == "lora"
    ab = ABDrawPolicy(tiny_adapters["a"], 0.5, seed=3)
    assert service.resolve_mode(ADVISOR, "lora", weights=ab).effective == "lora"
    assert ab.flip() == (random.Random(3).random() < 0.5)  # previewing took no draw
    missing = MondrianService(Settings(model=str(tmp_path / "no-model")), store=None)
    assert missing.resolve_mode(ADVISOR, "auto").effective == "technical"
    missing.close()


def test_ensure_loaded_and_run_on_model(service: MondrianService):
    assert not service.model_loaded
    handle = service.ensure_loaded()
    assert handle is not None and handle.result(120) is service.host.loaded and service.model_loaded
    assert service.ensure_loaded() is None
    model_thread = service.run_on_model(lambda loaded: threading.current_thread().name).result(30)
    assert model_thread == "mondrian-model" != threading.current_thread().name


def test_switch_model_drops_every_cache_of_the_old_one(service: MondrianService, photo: Path, tiny_adapters,
                                                       tiny_model_dir: Path, tmp_path: Path):
    first = service.critique(photo, ADVISOR, "baseline", weights=ABDrawPolicy(tiny_adapters["a"], 1.0))
    assert first.model_used == "ab_test_fine_tuned"
    old_host, old_adapters = service.host, service.adapters
    assert old_adapters.signature() is not None and old_host.loaded is not None
    other = tmp_path / "copy-of-tiny"
    shutil.copytree(tiny_model_dir, other)
    stopping = service.switch_model(str(other))
    assert service.host is not old_host and service.adapters is not old_adapters
    assert not service.model_loaded and service.model_ref == str(other) == service.settings.model
    assert service.host.adapter_hook is service.adapters and service.adapters._signature is None
    stopping.join(60)
    assert old_host.loaded is None  # the old model is gone with its thread
    again = service.critique(photo, ADVISOR, "baseline", weights=ABDrawPolicy(tiny_adapters["a"], 1.0))
    assert again.model_id == str(other) and again.raw_text == first.raw_text  # same weights, new host
