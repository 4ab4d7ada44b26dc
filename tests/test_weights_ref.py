"""The typed weights value: one identity per adapter folder, read once per content."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from app.engine.adapters import files as adapter_files
from app.engine.adapters.files import AdapterError, read_adapter
from app.engine.adapters.versions import AdapterManifest, adapter_ref, publish, staging_dir
from app.engine.model.weights_ref import AdapterRef
from app.engine.modes.weights import Weights, adapter_weights


def _copy(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(src / name, dest / name)
    return dest


def test_one_folder_is_one_ref_however_it_is_named(home: Path, tiny_adapters, tmp_path: Path):
    staged = staging_dir("ansel")
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(tiny_adapters["a"] / name, staged / name)
    version = publish("ansel", staged, AdapterManifest("ansel", "", base_model="tiny"))
    link = tmp_path / "link"
    os.symlink(version.path, link)
    names = [version, version.path, str(version.path), link, version.path / "adapters.safetensors", version.ref]
    refs = [adapter_ref(n) for n in names]
    assert len(set(refs)) == 1 and all(r == version.ref for r in refs)
    assert {r.label for r in refs} == {version.version} and {r.advisor_id for r in refs} == {"ansel"}
    assert len({adapter_weights(n) for n in names}) == 1  # the runner batches them as one weights
    other = adapter_ref(_copy(tiny_adapters["a"], tmp_path / "elsewhere"))
    assert other != version.ref and other.version is None and other.label == str(other.path)
    assert Weights() != adapter_weights(other) and not Weights().fine_tuned


def test_read_once_per_content_and_again_when_it_changes(tiny_adapters, tmp_path: Path, monkeypatch):
    folder = _copy(tiny_adapters["a"], tmp_path / "adapter")
    calls: list[Path] = []
    real = adapter_files._read_adapter

    def counting(ref: AdapterRef):
        calls.append(ref.path)
        return real(ref)

    monkeypatch.setattr(adapter_files, "_read_adapter", counting)
    first = read_adapter(folder)
    assert read_adapter(str(folder)) is first and read_adapter(AdapterRef.to(folder)) is first
    assert len(calls) == 1  # validated once when it entered; later requests only stat it
    weights = folder / "adapters.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a changed (broken) file
    with pytest.raises(AdapterError, match="corrupt"):
        read_adapter(folder)
    assert len(calls) == 2
