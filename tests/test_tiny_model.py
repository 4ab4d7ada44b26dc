"""The tiny offline model goes through the real mlx-vlm paths: load, chat template, generate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.testing.tiny_model import CHAT_TEMPLATE, TOKEN_ID, VOCAB_SIZE, build_tiny_model, main

REPO = Path(__file__).resolve().parents[1]


def test_folder_has_every_file_mlx_vlm_reads(tiny_model_dir: Path) -> None:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "chat_template.jinja", "chat_template.json", "preprocessor_config.json",
                 "generation_config.json"):
        assert (tiny_model_dir / name).is_file(), name
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "qwen3_vl"
    assert config["image_token_id"] == TOKEN_ID["<|image_pad|>"]
    assert json.loads((tiny_model_dir / "chat_template.json").read_text())["chat_template"] == CHAT_TEMPLATE


def test_weights_are_saved_in_mlx_format(tiny_model_dir: Path) -> None:
    import mlx.core as mx

    weights, metadata = mx.load(str(tiny_model_dir / "model.safetensors"), return_metadata=True)
    assert metadata == {"format": "mlx"}
    assert 100_000 < sum(v.size for v in weights.values()) < 1_000_000


def test_same_seed_same_model_other_seed_other_weights(tmp_path: Path) -> None:
    a = build_tiny_model(tmp_path / "a", seed=3)
    b = build_tiny_model(tmp_path / "b", seed=3)
    c = build_tiny_model(tmp_path / "c", seed=4)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_loads_with_the_real_model_class(tiny_model) -> None:
    from mlx_vlm.models import qwen3_vl

    model, processor = tiny_model
    assert isinstance(model, qwen3_vl.Model)
    assert len(processor.tokenizer) == VOCAB_SIZE


def test_tokenizer_encodes_any_text(tiny_model) -> None:
    tokenizer = tiny_model[1].tokenizer
    text = "Ünïcödé 日本語 🙂 \t{\"score\": 7}"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text


def test_chat_template_is_applied_to_the_prompt(tiny_model) -> None:
    import mlx_vlm

    model, processor = tiny_model
    prompt = mlx_vlm.apply_chat_template(processor, model.config, "Critique this photo.", num_images=1)
    assert prompt == ("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
                      "Critique this photo.<|im_end|>\n<|im_start|>assistant\n")


def test_chat_template_renders_training_conversations(tiny_model) -> None:
    tokenizer = tiny_model[1].tokenizer
    messages = [
        {"role": "system", "content": "You are Ansel Adams."},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Critique."}]},
        {"role": "assistant", "content": '{"summary": "ok"}'},
    ]
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    assert full == ("<|im_start|>system\nYou are Ansel Adams.<|im_end|>\n"
                    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Critique.<|im_end|>\n"
                    '<|im_start|>assistant\n{"summary": "ok"}<|im_end|>\n')
    # The trainer masks the prompt by rendering it alone: it must be a prefix of the full text.
    prefix = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    assert full.startswith(prefix) and prefix.endswith("<|im_start|>assistant\n")


def test_generates_on_an_image(tiny_model, tiny_image) -> None:
    import mlx_vlm

    model, processor = tiny_model
    prompt = mlx_vlm.apply_chat_template(processor, model.config, "Critique this photo.", num_images=1)
    text_only = len(processor.tokenizer.encode(prompt))
    results = list(mlx_vlm.stream_generate(model, processor, prompt, image=[tiny_image],
                                           max_tokens=12, temperature=0.0))
    last = results[-1]
    assert last.prompt_tokens > text_only  # the image placeholder was expanded into patch tokens
    assert 1 <= last.generation_tokens <= 12
    assert isinstance("".join(r.text for r in results), str)


def test_qwen2_5_vl_builds_loads_and_generates(tmp_path: Path, tiny_image) -> None:
    import mlx_vlm
    from mlx_vlm.models import qwen2_5_vl

    model, processor = mlx_vlm.load(str(build_tiny_model(tmp_path / "q25", arch="qwen2_5_vl")))
    assert isinstance(model, qwen2_5_vl.Model)
    prompt = mlx_vlm.apply_chat_template(processor, model.config, "Hi", num_images=1)
    assert "<|image_pad|>" in prompt
    result = mlx_vlm.generate(model, processor, prompt, image=[tiny_image], max_tokens=5, temperature=0.0)
    assert result.generation_tokens >= 1


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="arch 'llama'"):
        build_tiny_model(tmp_path / "x", arch="llama")
    with pytest.raises(ValueError, match="max_pixels"):
        build_tiny_model(tmp_path / "x", max_pixels=10)


def test_main_builds_a_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "m"), "--seed", "1"]) == 0
    assert (tmp_path / "m" / "model.safetensors").is_file()
    assert capsys.readouterr().out.strip() == str(tmp_path / "m")
    assert main([str(tmp_path / "m2"), "--max-pixels", "5"]) == 2


def test_importing_does_not_import_mlx_vlm() -> None:
    code = "import sys, app.testing.tiny_model, app.engine.model.structured; print('mlx_vlm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_gemma3_family_has_its_own_template_and_image_tokens(tmp_path: Path, tiny_image) -> None:
    import mlx_vlm
    from mlx_vlm.models import gemma3

    from app.testing.tiny_families import GEMMA_IMAGE_TOKENS

    model, processor = mlx_vlm.load(str(build_tiny_model(tmp_path / "g3", arch="gemma3")))
    assert isinstance(model, gemma3.Model)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Critique."}]
    prompt = mlx_vlm.apply_chat_template(processor, model.config, messages, num_images=1)
    # Gemma folds the system text into the first user turn; mlx-vlm puts <start_of_image> after the text.
    assert prompt == "<bos><start_of_turn>user\nBe brief.\n\nCritique.<start_of_image><end_of_turn>\n<start_of_turn>model\n"
    result = mlx_vlm.generate(model, processor, prompt, image=[tiny_image], max_tokens=3, temperature=0.0)
    text_only = len(processor.tokenizer.encode(prompt, add_special_tokens=False))
    assert result.prompt_tokens >= text_only + GEMMA_IMAGE_TOKENS  # the processor expanded the image


def test_cli_family_option(tmp_path: Path) -> None:
    assert main([str(tmp_path / "g"), "--family", "gemma3"]) == 0
    assert json.loads((tmp_path / "g" / "config.json").read_text())["model_type"] == "gemma3"
