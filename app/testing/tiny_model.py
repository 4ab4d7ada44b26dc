"""A tiny random-weight vision-language model of a real mlx-vlm architecture, built offline.

Tests, the README demo and the benchmark need a model that goes through exactly the code paths
of the real one (``mlx_vlm.load``, the processor, the chat template, generation, LoRA training)
without a multi-gigabyte download. This builds one in well under a second: the real mlx-vlm
model class with a small config and random weights, a byte-level BPE tokenizer trained here with
the Qwen special tokens, and a Qwen-style chat template. Its output is gibberish, by design.

``python -m app.testing.tiny_model DIR [--arch qwen3_vl|qwen2_5_vl] [--seed N]`` builds one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ARCHITECTURES: tuple[str, ...] = ("qwen3_vl", "qwen2_5_vl")
DEFAULT_ARCH = "qwen3_vl"
VOCAB_SIZE = 512

# Qwen's special tokens, in Qwen's order. Training puts them at ids 0..n-1.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
TOKEN_ID = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}

# Qwen-style template: string or list content, image/video placeholders, prefix-stable (the
# trainer renders the conversation without its last turn plus a generation prompt and expects
# a prefix of the full rendering).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] }}{{ '\\n' }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] }}"
    "{%- else -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' or item['type'] == 'image_url' -%}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif item['type'] == 'video' -%}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif item['type'] == 'text' -%}"
    "{{ item['text'] }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "<|im_end|>{{ '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant{{ '\\n' }}{%- endif -%}"
)

_CORPUS_LINES: tuple[str, ...] = (
    "The composition places the subject on a third; the horizon is level and the frame is calm.",
    "Soft window light models the face; the shadows hold detail and the highlights are not clipped.",
    "Focus is sharp on the eyes, the background falls off gently, and there is no motion blur.",
    "Warm and cool colors balance; the palette is muted, harmonious and restrained.",
    "Try a lower angle, a longer lens, or wait for the golden hour to separate the subject.",
    "Depth comes from overlapping planes, leading lines and atmospheric perspective.",
    "The visual weight sits left; crop tighter or add a counterweight on the right.",
    "An honest, quiet moment with strong emotional impact and a clear story.",
    "You are a photography critic. Critique this photo. Answer with JSON only.",
    '{"dimensional_analysis": {"composition": {"score": 7, "comment": "Good.", '
    '"recommendation": "Crop."}}, "overall_grade": "B+", "summary": "A fine photo."}',
    "composition lighting focus_sharpness color_harmony subject_isolation depth_perspective "
    "visual_balance emotional_impact score comment recommendation overall_grade summary",
    "A+ A A- B+ B B- C+ C C- D+ D D- F 0 1 2 3 4 5 6 7 8 9 10",
)


def _set_offline() -> None:
    """transformers and huggingface_hub read these at import time: set them first."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _text_config(arch: str) -> dict[str, Any]:
    """Text settings: hidden 64, 2 layers, 4 heads (2 kv), head_dim 16, MLP 128."""
    cfg: dict[str, Any] = {
        "model_type": arch if arch == "qwen3_vl" else "qwen2_5_vl",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6,
        "vocab_size": VOCAB_SIZE,
        "max_position_embeddings": 4096,
        "rope_theta": 1000000.0,
        "hidden_act": "silu",
    }
    if arch == "qwen3_vl":
        cfg.update(head_dim=16, tie_word_embeddings=True, attention_bias=False,
                   rope_scaling={"rope_type": "default", "mrope_section": [4, 2, 2],
                                 "mrope_interleaved": True})
    else:
        cfg.update(tie_word_embeddings=True,
                   rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]})
    return cfg


def _vision_config(arch: str) -> dict[str, Any]:
    """Vision settings: 2 layers, width 32; patch 16 (Qwen3) or 14 (Qwen2.5), merge 2."""
    cfg: dict[str, Any] = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "out_hidden_size": 64,
        "num_heads": 2,
        "in_channels": 3,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    if arch == "qwen3_vl":
        cfg.update(model_type="qwen3_vl", patch_size=16, num_position_embeddings=64,
                   deepstack_visual_indexes=[0], hidden_act="gelu_pytorch_tanh")
    else:
        cfg.update(model_type="qwen2_5_vl", patch_size=14, window_size=112,
                   fullatt_block_indexes=[1], hidden_act="silu", tokens_per_second=2)
    return cfg


def model_config(arch: str = DEFAULT_ARCH) -> dict[str, Any]:
    """The ``config.json`` content for a tiny model of ``arch``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch {arch!r} is not supported; choose one of {', '.join(ARCHITECTURES)}")
    ids = {
        "image_token_id": TOKEN_ID["<|image_pad|>"],
        "video_token_id": TOKEN_ID["<|video_pad|>"],
        "vision_start_token_id": TOKEN_ID["<|vision_start|>"],
        "vision_end_token_id": TOKEN_ID["<|vision_end|>"],
        "vision_token_id": TOKEN_ID["<|vision_pad|>"],
    }
    text = _text_config(arch)
    config: dict[str, Any] = {
        "architectures": ["Qwen3VLForConditionalGeneration" if arch == "qwen3_vl"
                          else "Qwen2_5_VLForConditionalGeneration"],
        "model_type": arch,
        "vocab_size": VOCAB_SIZE,
        "eos_token_id": [TOKEN_ID["<|im_end|>"], TOKEN_ID["<|endoftext|>"]],
        "tie_word_embeddings": True,
        "vision_config": _vision_config(arch),
        **ids,
    }
    if arch == "qwen3_vl":
        config["text_config"] = text  # Qwen3 nests the text settings
    else:
        config.update({k: v for k, v in text.items() if k != "model_type"})  # Qwen2.5: top level
    return config


def _train_tokenizer() -> Any:
    """Byte-level BPE over a small fixed corpus: deterministic, and any text encodes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(_CORPUS_LINES) * 4, trainer=trainer)
    return tok


def _save_tokenizer(dest: Path) -> None:
    _set_offline()
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in ("<|im_end|>", "<|endoftext|>")],
        model_max_length=32768,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(dest))
    # mlx-vlm's processors read the template from either file; write both so it is never lost.
    (dest / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}, indent=2))
    if not (dest / "chat_template.jinja").exists():
        (dest / "chat_template.jinja").write_text(CHAT_TEMPLATE)


def _preprocessor_config(arch: str, max_pixels: int) -> dict[str, Any]:
    patch = 16 if arch == "qwen3_vl" else 14
    min_pixels = min(max_pixels, (patch * 2) ** 2 * 4)
    return {
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen3VLProcessor" if arch == "qwen3_vl" else "Qwen2_5_VLProcessor",
        "patch_size": patch,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
        "size": {"shortest_edge": min_pixels, "longest_edge": max_pixels},
        "image_mean": [0.5, 0.5, 0.5] if arch == "qwen3_vl" else [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.5, 0.5, 0.5] if arch == "qwen3_vl" else [0.26862954, 0.26130258, 0.27577711],
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "do_convert_rgb": True,
    }


def _save_weights(dest: Path, config: dict[str, Any], seed: int) -> int:
    """Instantiate the real mlx-vlm class as ``mlx_vlm.utils.load_model`` does; save its weights."""
    _set_offline()
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_vlm.utils import get_model_and_args, update_module_configs

    cfg = json.loads(json.dumps(config))  # load_model mutates its dict
    model_class, _ = get_model_and_args(config=cfg)
    cfg.setdefault("text_config", {})
    cfg.setdefault("vision_config", {})
    cfg.setdefault("audio_config", {})
    model_cfg = model_class.ModelConfig.from_dict(cfg)
    model_cfg = update_module_configs(model_cfg, model_class, cfg, ["text", "vision"])
    mx.random.seed(seed)
    model = model_class.Model(model_cfg)
    weights = dict(tree_flatten(model.parameters()))
    mx.eval(weights)
    mx.save_safetensors(str(dest / "model.safetensors"), weights, metadata={"format": "mlx"})
    return sum(int(v.size) for v in weights.values())


def build_tiny_model(dest: Path, *, arch: str = DEFAULT_ARCH, seed: int = 0,
                     max_pixels: int = 224 * 224) -> Path:
    """Build a tiny random model of ``arch`` in ``dest`` (created if missing) and return ``dest``.

    The same ``seed`` gives the same weights and tokenizer. ``max_pixels`` bounds the image
    tokens: 224*224 gives 64 for qwen3_vl.
    """
    if max_pixels < 32 * 32:
        raise ValueError(f"max_pixels={max_pixels} is too small: at least {32 * 32} (one merged patch)")
    config = model_config(arch)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    _save_weights(dest, config, seed)
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    (dest / "preprocessor_config.json").write_text(json.dumps(_preprocessor_config(arch, max_pixels), indent=2))
    generation = {"eos_token_id": config["eos_token_id"], "pad_token_id": TOKEN_ID["<|endoftext|>"]}
    (dest / "generation_config.json").write_text(json.dumps(generation, indent=2))
    _save_tokenizer(dest)
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: build a tiny model into a folder (for offline demos and benchmarks)."""
    parser = argparse.ArgumentParser(prog="python -m app.testing.tiny_model", description=__doc__.split("\n")[0])
    parser.add_argument("dest", type=Path, help="folder to write the model into")
    parser.add_argument("--arch", choices=ARCHITECTURES, default=DEFAULT_ARCH)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-pixels", type=int, default=224 * 224)
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        path = build_tiny_model(args.dest, arch=args.arch, seed=args.seed, max_pixels=args.max_pixels)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
