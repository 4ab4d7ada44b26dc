"""Adapters on the one resident model: off = base, on = a fresh load with the adapter, swaps, re-applies,
and validation that refuses a bad adapter before the model is touched."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.manager import AdapterError, AdapterManager, base_signature, read_adapter
from app.engine.adapters.versions import AdapterManifest
from app.engine.critique.prompts import Prompt
from app.engine.model.host import GenerationRequest, ModelHost, render_prompt

PROMPT = Prompt(system="You are a critic.", user="Critique this photo.")
STEPS = 8


def fingerprint(model, processor, image) -> tuple[list[int], np.ndarray]:
    """Greedy tokens and the first step's log-probabilities: equal fingerprints = same output."""
    from mlx_vlm import stream_generate

    text = render_prompt(processor, model.config, PROMPT)
    tokens: list[int] = []
    first = None
    for r in stream_generate(model, processor, text, image=[image], max_tokens=STEPS, temperature=0.0):
        tokens.append(int(r.token))
        if first is None:
            first = np.array(r.logprobs)
    return tokens, first


def same(fp1, fp2) -> bool:
    return fp1[0] == fp2[0] and np.array_equal(fp1[1], fp2[1])


@pytest.fixture(scope="module")
def image():
    from PIL import Image

    img = Image.new("RGB", (96, 64))
    img.putdata([(x * 255 // 95, y * 255 // 63, 128) for y in range(64) for x in range(96)])
    return img


@pytest.fixture(scope="module")
def fresh(tiny_model_dir, tiny_model, tiny_adapters, image) -> dict[str | None, tuple]:
    """Fingerprints of the base and of a fresh ``mlx_vlm.load(..., adapter_path=...)`` per adapter (main thread)."""
    import mlx_vlm

    out = {None: fingerprint(*tiny_model, image)}
    for name, path in tiny_adapters.items():
        out[name] = fingerprint(*mlx_vlm.load(str(tiny_model_dir), adapter_path=str(path)), image)
    return out


@pytest.fixture(scope="module")
def hosted(tiny_model_dir):
    """A model host (its own thread and copy of the model) with an adapter manager installed."""
    host = ModelHost(str(tiny_model_dir))
    manager = AdapterManager(host)
    assert host.adapter_hook is manager
    yield host, manager
    host.shutdown()


def on_thread(host: ModelHost, fn):
    return host.call(fn).result(120)


def use_and_fingerprint(hosted, adapter, image):
    host, manager = hosted

    def run(loaded):
        manager.use(loaded, adapter)
        return fingerprint(loaded.model, loaded.processor, image)

    return on_thread(host, run)


def test_adapters_change_the_output(fresh):
    for name in ("a", "b", "r2", "dora"):
        assert not same(fresh[name], fresh[None]), name
    assert not same(fresh["a"], fresh["b"])


def test_off_is_the_base_and_on_is_a_fresh_load(hosted, tiny_adapters, fresh, image):
    assert same(use_and_fingerprint(hosted, None, image), fresh[None])
    assert same(use_and_fingerprint(hosted, tiny_adapters["a"], image), fresh["a"])
    assert same(use_and_fingerprint(hosted, None, image), fresh[None])  # off: the plain base layers
    status = hosted[1].status()
    assert status.applied == str(tiny_adapters["a"]) and not status.enabled and status.layers == 14
    assert same(use_and_fingerprint(hosted, tiny_adapters["a"], image), fresh["a"])  # on again


def test_off_unpatches_the_layers_and_keeps_one_copy_of_the_base(hosted, tiny_adapters):
    host, manager = hosted

    def run(loaded):
        from mlx_vlm.trainer.peft import LoRALinear

        manager.use(loaded, tiny_adapters["a"])
        wrappers = [m for _, m in loaded.model.named_modules() if isinstance(m, LoRALinear)]
        on = {w.scale for w in wrappers}
        base_weight = wrappers[0].linear.weight
        manager.use(loaded, None)
        left = [m for _, m in loaded.model.named_modules() if isinstance(m, LoRALinear)]
        return len(wrappers), on, len(left), wrappers[0].linear.weight is base_weight

    n, on, left, shared = on_thread(host, run)
    assert n == 14 and on == {2.0} and left == 0 and shared


def test_swap_between_adapters_of_the_same_layout_loads_weights(hosted, tiny_adapters, fresh, image):
    host, manager = hosted

    def wrapper_ids(loaded):
        state = loaded.state["adapters"]
        return sorted(id(w) for w in state.wrappers.values())

    assert same(use_and_fingerprint(hosted, tiny_adapters["a"], image), fresh["a"])
    before = on_thread(host, wrapper_ids)
    assert same(use_and_fingerprint(hosted, tiny_adapters["b"], image), fresh["b"])
    assert on_thread(host, wrapper_ids) == before  # same layers, new weights: no re-apply
    assert on_thread(host, lambda loaded: "swap_s" in loaded.state["adapters"].timings)
    assert same(use_and_fingerprint(hosted, tiny_adapters["a"], image), fresh["a"])
    assert same(use_and_fingerprint(hosted, None, image), fresh[None])


def test_another_layout_reapplies_on_the_original_layers(hosted, tiny_adapters, fresh, image, tiny_model_dir):
    host, manager = hosted
    original = on_thread(host, base_signature)
    assert same(use_and_fingerprint(hosted, tiny_adapters["a"], image), fresh["a"])
    assert same(use_and_fingerprint(hosted, tiny_adapters["r2"], image), fresh["r2"])
    assert manager.status().layers == 4
    assert same(use_and_fingerprint(hosted, tiny_adapters["dora"], image), fresh["dora"])
    assert same(use_and_fingerprint(hosted, None, image), fresh[None])  # DoRA off: original layers back
    assert same(use_and_fingerprint(hosted, tiny_adapters["dora"], image), fresh["dora"])
    assert same(use_and_fingerprint(hosted, tiny_adapters["a"], image), fresh["a"])

    def remove(loaded):
        manager.remove(loaded)
        return base_signature(loaded), [n for n, _ in loaded.model.named_modules() if n.endswith(".lora_a")]

    after, leftovers = on_thread(host, remove)
    assert after.layers == original.layers and not leftovers
    assert same(use_and_fingerprint(hosted, None, image), fresh[None])


def test_generation_requests_carry_the_adapter(hosted, tiny_model_dir, tiny_adapters, tiny_model, image):
    import mlx_vlm

    host, _ = hosted

    def text_of(model, processor):
        prompt = render_prompt(processor, model.config, PROMPT)
        return mlx_vlm.generate(model, processor, prompt, image=[image], max_tokens=16, temperature=0.0).text

    expected_b = text_of(*mlx_vlm.load(str(tiny_model_dir), adapter_path=str(tiny_adapters["b"])))
    expected_base = text_of(*tiny_model)
    for adapter, expected in ((tiny_adapters["b"], expected_b), (None, expected_base),
                              (tiny_adapters["b"], expected_b)):
        out = host.generate(GenerationRequest(prompt=PROMPT, image=image, max_tokens=16, adapter=adapter)).result(60)
        assert out.text == expected


def test_an_adapter_version_from_the_store_applies(hosted, tiny_adapters, tiny_model_dir, fresh, image):
    staged = adapter_versions.staging_dir("adapters-test")
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(tiny_adapters["b"] / name, staged / name)
    version = adapter_versions.publish("adapters-test", staged,
                                    AdapterManifest("adapters-test", "", base_model=str(tiny_model_dir)))
    info = hosted[1].validate(version)
    assert info.label == version.version and info.base_model == str(tiny_model_dir)
    assert same(use_and_fingerprint(hosted, version, image), fresh["b"])


def test_an_adapter_made_by_the_mlx_vlm_train_cli_loads_as_it_is(hosted, tiny_model_dir, tmp_path, image):
    import mlx_vlm
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (64, 48), (120, 30, 30)).save(data / "p.png")
    row = {"messages": [{"role": "user", "content": "Critique this photo."},
                        {"role": "assistant", "content": '{"overall_grade": "B"}'}], "images": [str(data / "p.png")]}
    (data / "train.jsonl").write_text((json.dumps(row) + "\n") * 2)
    out = tmp_path / "cli-adapter"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "mlx_vlm.train", "--model", str(tiny_model_dir), "--data", str(data),
                           "--iters", "3", "--lora-rank", "4", "--learning-rate", "0.05", "--output-path", str(out),
                           "--steps-per-eval", "none", "--max-seq-length", "512"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapters.safetensors"]
    info = hosted[1].validate(out)
    assert info.base_model is None and info.rank == 4
    expected = fingerprint(*mlx_vlm.load(str(tiny_model_dir), adapter_path=str(out)), image)
    assert same(use_and_fingerprint(hosted, out, image), expected)


# ---- validation -----------------------------------------------------------------------------------

def damaged_copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def write_tensors(folder: Path, mutate) -> None:
    import mlx.core as mx

    file = folder / "adapters.safetensors"
    tensors = dict(mx.load(str(file)))
    mutate(tensors)
    mx.save_safetensors(str(file), tensors)


def edit_config(folder: Path, mutate) -> None:
    file = folder / "adapter_config.json"
    config = json.loads(file.read_text())
    mutate(config)
    file.write_text(json.dumps(config))


def expect_error(adapter, kind: str, *words: str, manager: AdapterManager | None = None) -> AdapterError:
    with pytest.raises(AdapterError) as err:
        if manager is None:
            read_adapter(adapter)
        else:
            manager.validate(adapter, 60)
    assert err.value.kind == kind, str(err.value)
    assert str(Path(adapter)) in str(err.value)
    for word in words:
        assert word in str(err.value)
    return err.value


def test_missing_files(tiny_adapters, tmp_path):
    expect_error(tmp_path / "nowhere", "missing", "does not exist")
    for name in ("adapter_config.json", "adapters.safetensors"):
        folder = damaged_copy(tiny_adapters["a"], tmp_path / name)
        (folder / name).unlink()
        expect_error(folder, "missing", name)


def test_corrupt_safetensors(tiny_adapters, tmp_path):
    truncated = damaged_copy(tiny_adapters["a"], tmp_path / "truncated")
    file = truncated / "adapters.safetensors"
    file.write_bytes(file.read_bytes()[:-100])
    expect_error(truncated, "corrupt", "adapters.safetensors is corrupt")
    garbage = damaged_copy(tiny_adapters["a"], tmp_path / "garbage")
    (garbage / "adapters.safetensors").write_bytes(b"this is not a safetensors file at all")
    expect_error(garbage, "corrupt", "adapters.safetensors is corrupt")
    header = damaged_copy(tiny_adapters["a"], tmp_path / "header")
    body = b"{not json" + b" " * 7
    (header / "adapters.safetensors").write_bytes(struct.pack("<Q", len(body)) + body)
    expect_error(header, "corrupt", "unreadable header")
    empty = damaged_copy(tiny_adapters["a"], tmp_path / "empty")
    (empty / "adapters.safetensors").write_bytes(b"")
    expect_error(empty, "corrupt")


def test_bad_or_unsupported_config(tiny_adapters, tmp_path):
    broken = damaged_copy(tiny_adapters["a"], tmp_path / "json")
    (broken / "adapter_config.json").write_text("{oops")
    expect_error(broken, "bad_config", "adapter_config.json is unreadable")
    full = damaged_copy(tiny_adapters["a"], tmp_path / "full")
    edit_config(full, lambda c: c.update(fine_tune_type="full"))
    expect_error(full, "unsupported", "full fine-tune")
    legacy = damaged_copy(tiny_adapters["a"], tmp_path / "legacy")
    (legacy / "adapter_config.json").write_text(json.dumps({"rank": 8, "alpha": 0.1, "dropout": 0.1}))
    expect_error(legacy, "unsupported", "legacy")
    rank = damaged_copy(tiny_adapters["a"], tmp_path / "rank")
    edit_config(rank, lambda c: c["lora_parameters"].update(rank=0))
    expect_error(rank, "bad_config", "lora_parameters.rank")


def test_made_for_another_base_model(hosted, tiny_adapters):
    host, manager = hosted
    staged = adapter_versions.staging_dir("adapters-test")
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(tiny_adapters["a"] / name, staged / name)
    version = adapter_versions.publish("adapters-test", staged, AdapterManifest(
        "adapters-test", "", base_model="mlx-community/Qwen2-VL-2B-Instruct-bf16"), activate=False)
    for check in (manager.inspect, lambda v: manager.validate(v, 60)):
        with pytest.raises(AdapterError) as err:
            check(version)
        assert err.value.kind == "wrong_base" and "Qwen2-VL-2B" in str(err.value) and str(version.path) in str(err.value)


def test_quantized_for_another_base(hosted, tiny_adapters, tmp_path):
    folder = damaged_copy(tiny_adapters["a"], tmp_path / "quant")
    layer = "language_model.model.layers.0.self_attn.q_proj"
    edit_config(folder, lambda c: c.update(base_quantization={layer: {"bits": 4, "group_size": 64,
                                                                      "mode": "affine"}}))
    expect_error(folder, "wrong_base", "quantized", layer, manager=hosted[1])


def test_shape_mismatches(hosted, tiny_adapters, tmp_path):
    manager = hosted[1]
    key = "language_model.model.layers.0.self_attn.q_proj.lora_a"

    wrong_shape = damaged_copy(tiny_adapters["a"], tmp_path / "shape")
    write_tensors(wrong_shape, lambda t: t.update({key: t[key][:32]}))
    expect_error(wrong_shape, "shape_mismatch", "q_proj.lora_a is (32, 4)", "(64, 4)", manager=manager)

    other_layers = damaged_copy(tiny_adapters["a"], tmp_path / "layers")

    def rename(t):
        for k in [k for k in t if ".layers.1." in k]:
            t[k.replace(".layers.1.", ".layers.7.")] = t.pop(k)

    write_tensors(other_layers, rename)
    edit_config(other_layers, lambda c: c["lora_parameters"].update(
        keys=[k.replace(".layers.1.", ".layers.7.") for k in c["lora_parameters"]["keys"]]))
    expect_error(other_layers, "shape_mismatch", "layers.7", "does not have", manager=manager)

    rank = damaged_copy(tiny_adapters["a"], tmp_path / "rank")
    edit_config(rank, lambda c: c["lora_parameters"].update(rank=8))
    expect_error(rank, "shape_mismatch", "rank 8", manager=manager)

    missing = damaged_copy(tiny_adapters["a"], tmp_path / "missing-b")
    write_tensors(missing, lambda t: t.pop(key.replace("lora_a", "lora_b")))
    expect_error(missing, "shape_mismatch", "no lora_b", manager=manager)


def test_a_bad_adapter_never_leaves_the_model_half_changed(hosted, tiny_adapters, fresh, image, tmp_path):
    host, manager = hosted
    assert same(use_and_fingerprint(hosted, tiny_adapters["a"], image), fresh["a"])
    wrong = damaged_copy(tiny_adapters["b"], tmp_path / "wrong")
    write_tensors(wrong, lambda t: t.update({k: v[:, :2] for k, v in t.items() if k.endswith("lora_b")}))
    truncated = damaged_copy(tiny_adapters["r2"], tmp_path / "truncated")
    data = (truncated / "adapters.safetensors").read_bytes()
    (truncated / "adapters.safetensors").write_bytes(data[:-8])
    for bad in (wrong, truncated, tmp_path / "absent"):
        with pytest.raises(AdapterError):
            on_thread(host, lambda loaded, bad=bad: manager.use(loaded, bad))
        status = manager.status()
        assert status.applied == str(tiny_adapters["a"]) and status.enabled
        assert same(on_thread(host, lambda loaded: fingerprint(loaded.model, loaded.processor, image)), fresh["a"])
    # a generation request with a bad adapter fails that request only
    with pytest.raises(AdapterError):
        host.generate(GenerationRequest(prompt=PROMPT, image=image, max_tokens=4, adapter=wrong)).result(60)
    assert same(use_and_fingerprint(hosted, None, image), fresh[None])


def test_a_changed_adapter_folder_is_reloaded(hosted, tiny_adapters, fresh, image, tmp_path):
    folder = damaged_copy(tiny_adapters["a"], tmp_path / "retrained")
    assert same(use_and_fingerprint(hosted, folder, image), fresh["a"])
    shutil.copy(tiny_adapters["b"] / "adapters.safetensors", folder / "adapters.safetensors")  # retrained in place
    assert same(use_and_fingerprint(hosted, folder, image), fresh["b"])
