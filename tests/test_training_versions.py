"""versions: list / activate / rollback / delete, and fuse (refused on a quantized base)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import AdapterManifest
from app.testing.tiny_adapter import train_tiny_adapter
from tests.training_helpers import quantized_copy
from training.__main__ import main as training_main
from training.common import run_main
from training.versions import main

ADVISOR = "versioned"


def _publish(model_dir: Path, seed: int, *, activate: bool = True) -> str:
    staged = adapter_versions.staging_dir(ADVISOR)
    train_tiny_adapter(model_dir, staged, seed=seed)
    manifest = AdapterManifest(advisor_id=ADVISOR, version="", base_model=str(model_dir), dataset_hash=f"h{seed}",
                               hyperparameters={"rank": 4}, metrics={"best_val_loss": 0.5 + seed})
    return adapter_versions.publish(ADVISOR, staged, manifest, activate=activate).version


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_main(main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_activate_rollback_delete(home: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "list", "--advisor", ADVISOR)
    assert code == 0 and "no adapter versions" in out
    for seed in (1, 2, 3):
        _publish(tiny_model_dir, seed)
    code, out, _ = _cli(capsys, "list", "--advisor", ADVISOR)
    rows = [ln for ln in out.splitlines() if re.search(r"\bv\d\b", ln)]
    assert [re.search(r"\bv\d\b", ln).group(0) for ln in rows] == ["v1", "v2", "v3"]  # type: ignore[union-attr]
    assert rows[2].startswith("*") and "3.5000" in rows[2]
    code, out, _ = _cli(capsys, "list", "--advisor", ADVISOR, "--json")
    listed = json.loads(out)
    assert [e["version"] for e in listed if e["active"]] == ["v3"] and listed[0]["dataset_hash"] == "h1"

    assert _cli(capsys, "activate", "--advisor", ADVISOR, "v1")[0] == 0
    assert adapter_versions.active_version(ADVISOR).version == "v1"  # type: ignore[union-attr]
    code, _, err = _cli(capsys, "activate", "--advisor", ADVISOR, "v9")
    assert code == 2 and "has no adapter v9" in err and "v1, v2, v3" in err

    assert _cli(capsys, "activate", "--advisor", ADVISOR, "v3")[0] == 0
    code, out, _ = _cli(capsys, "rollback", "--advisor", ADVISOR)
    assert code == 0 and "v2 is active" in out
    code, out, _ = _cli(capsys, "delete", "--advisor", ADVISOR, "v2")
    assert code == 0 and "active: v3" in out  # deleting the active version activates the newest left
    assert [v.version for v in adapter_versions.list_versions(ADVISOR)] == ["v1", "v3"]
    assert _cli(capsys, "activate", "--advisor", ADVISOR, "v1")[0] == 0
    code, out, _ = _cli(capsys, "rollback", "--advisor", ADVISOR)
    assert code == 0 and "base model" in out and adapter_versions.active_version(ADVISOR) is None
    code, _, err = _cli(capsys, "rollback", "--advisor", ADVISOR)
    assert code == 2 and "no active adapter" in err
    code, _, err = _cli(capsys, "list", "--advisor", "Bad/Id")
    assert code == 2 and "path separator" in err


def test_python_m_training_dispatches(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert training_main(["versions", "list", "--advisor", ADVISOR]) == 0
    assert "no adapter versions" in capsys.readouterr().out
    assert training_main(["bogus"]) == 2


def _greedy(model_dir: Path, adapter: Path | None, tiny_image) -> str:
    import mlx_vlm
    from mlx_vlm.trainer import apply_lora_layers

    from app.engine.advisors import get_advisor
    from app.engine.critique.prompts import critique_prompt
    from app.engine.model.host import render_prompt

    model, processor = mlx_vlm.load(str(model_dir))
    if adapter is not None:
        apply_lora_layers(model, str(adapter))
    prompt = render_prompt(processor, model.config, critique_prompt(get_advisor("ansel")))
    return mlx_vlm.generate(model, processor, prompt, image=[tiny_image], max_tokens=40, temperature=0.0,
                            verbose=False).text


def test_fuse_refuses_a_quantized_base_or_dequantizes_faithfully(home: Path, tiny_model_dir: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str],
                                                                 tiny_image) -> None:
    import mlx.nn as nn
    import mlx_vlm

    quantized = quantized_copy(tiny_model_dir, tmp_path / "tiny-4bit")
    loaded, _ = mlx_vlm.load(str(quantized))
    assert any(isinstance(m, nn.QuantizedLinear) for _, m in loaded.named_modules())
    version = _publish(quantized, seed=4)
    out = tmp_path / "fused"
    code, _, err = _cli(capsys, "fuse", "--advisor", ADVISOR, version, "--output", str(out))
    assert code == 3
    assert "quantized" in err and "--dequantize" in err and "rounded away" in err
    assert not out.exists()

    code, stdout, _ = _cli(capsys, "fuse", "--advisor", ADVISOR, version, "--output", str(out), "--dequantize")
    assert code == 0 and out.is_dir()
    assert "quantization" not in json.loads((out / "config.json").read_text())
    adapter = adapter_versions.get_version(ADVISOR, version).path
    expected = _greedy(quantized, adapter, tiny_image)
    assert expected != _greedy(quantized, None, tiny_image)  # the adapter changes the output
    assert _greedy(out, None, tiny_image) == expected
    fused_from = json.loads((out / "fused_from.json").read_text())
    assert fused_from["version"] == version and fused_from["dequantized"] is True

    code, _, err = _cli(capsys, "fuse", "--advisor", ADVISOR, version, "--output", str(out), "--dequantize")
    assert code == 2 and "already exists" in err


def test_training_never_imports_the_gui() -> None:
    root = Path(__file__).resolve().parents[1] / "training"
    offenders = [p.name for p in root.rglob("*.py")
                 if re.search(r"^\s*(from|import)\s+app\.ui\b", p.read_text(encoding="utf-8"), re.M)]
    assert offenders == []
