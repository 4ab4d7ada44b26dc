"""A tiny random-weight vision-language model of a real mlx-vlm architecture, built offline.

Tests, the README demo and the benchmark need a model that goes through exactly the code paths
of the real one (``mlx_vlm.load``, the processor, the chat template, generation, LoRA training)
without a multi-gigabyte download. This builds one in well under a second: the real mlx-vlm
model class with a small config and random weights, a tokenizer of the family's kind trained here
(byte-level BPE, or SentencePiece-style pieces with byte fallback; about one token per character: a
worst case for token budgets) with the family's special tokens, and the family's chat template (see
``tiny_families.py``). Its output is gibberish, by design.

``python -m app.testing.tiny_model DIR [--family qwen3_vl|qwen2_5_vl|gemma3|idefics3|paligemma|mistral3]``
``[--seed N]`` builds one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.testing.tiny_families import FAMILIES, QWEN_CHAT_TEMPLATE, QWEN_SPECIAL_TOKENS, VOCAB_SIZE, Family

ARCHITECTURES: tuple[str, ...] = tuple(FAMILIES)
DEFAULT_ARCH = "qwen3_vl"
SPECIAL_TOKENS = QWEN_SPECIAL_TOKENS  # the default family's, for callers that predate families
TOKEN_ID = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
CHAT_TEMPLATE = QWEN_CHAT_TEMPLATE
__all__ = ["ARCHITECTURES", "CHAT_TEMPLATE", "DEFAULT_ARCH", "TOKEN_ID", "VOCAB_SIZE", "build_tiny_model",
           "model_config", "main"]

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


def _family(arch: str) -> Family:
    if arch not in FAMILIES:
        raise ValueError(f"arch {arch!r} is not supported; choose one of {', '.join(ARCHITECTURES)}")
    return FAMILIES[arch]


def model_config(arch: str = DEFAULT_ARCH) -> dict[str, Any]:
    """The ``config.json`` content for a tiny model of ``arch``."""
    return _family(arch).config()


def _train_tokenizer(special_tokens: Sequence[str], split_digits: bool = False) -> Any:
    """Byte-level BPE over a small fixed corpus: deterministic, and any text encodes. ``split_digits``:
    every digit its own pre-token, never merged with a space or another digit (SmolLM2, Llama 3)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                         if split_digits else byte_level)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(_CORPUS_LINES) * 4, trainer=trainer)
    return tok


def _train_sentencepiece_tokenizer(family: Family) -> Any:
    """SentencePiece-style (Gemma): BPE pieces of printable characters and words marked with
    "▁" (no byte-level alphabet), digits one by one, byte fallback through the 256 ``<0xNN>`` pieces,
    the family's BOS added to every encoding and its added tokens (``special_ids``) at the top of
    the vocabulary."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = list(family.special_tokens)
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    added = sorted(family.special_ids, key=family.special_ids.__getitem__)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE - len(byte_tokens) - len(added), special_tokens=specials,
                                  initial_alphabet=[chr(c) for c in range(33, 127)] + ["▁"], show_progress=False)
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never"),
                                                 pre_tokenizers.Digits(individual_digits=True)])
    tok.train_from_iterator(list(_CORPUS_LINES) * 4, trainer=trainer)
    learned = json.loads(tok.to_str())["model"]
    ordered = sorted(learned["vocab"], key=learned["vocab"].__getitem__)
    vocab = {t: i for i, t in enumerate(specials + byte_tokens + [t for t in ordered if t not in specials])}
    merges: list[tuple[str, str]] = []
    for m in learned["merges"]:  # "a b" in older tokenizers.json, ["a", "b"] in newer
        a, b = m.split(" ") if isinstance(m, str) else m
        merges.append((str(a), str(b)))
    # The shape of Gemma's own tokenizer.json: spaces become "▁" in the normalizer, no pre-tokenizer
    # (the vocabulary has no piece across words or digits), and a decoder that turns "▁" back into a
    # space and <0xNN> pieces into bytes (llguidance reads the space and the bytes from it).
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    for token in added:
        if tok.get_vocab_size() > family.special_ids[token]:
            raise ValueError(f"{family.name}: vocabulary reaches id {family.special_ids[token]} before {token}")
        while tok.get_vocab_size() < family.special_ids[token]:  # unused ids up to the added token's
            tok.add_tokens([f"<unused{tok.get_vocab_size()}>"])
        tok.add_special_tokens([token])
    bos = family.tokenizer_kwargs["bos_token"]
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                       special_tokens=[(bos, specials.index(bos))])
    return tok


def _save_tokenizer(dest: Path, family: Family) -> None:
    _set_offline()
    from transformers import PreTrainedTokenizerFast

    trained = (_train_sentencepiece_tokenizer(family) if family.tokenizer_style == "sentencepiece"
               else _train_tokenizer(family.special_tokens, family.tokenizer_style == "byte_level_digits"))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=trained,
        model_max_length=32768,
        padding_side="left",
        clean_up_tokenization_spaces=False,
        **family.tokenizer_kwargs,
    )
    if not family.chat_template:  # the family has none (PaliGemma): the processor writes the prompt
        fast.save_pretrained(str(dest))
        return
    fast.chat_template = family.chat_template
    fast.save_pretrained(str(dest))
    # mlx-vlm's processors read the template from either file; write both so it is never lost.
    (dest / "chat_template.json").write_text(json.dumps({"chat_template": family.chat_template}, indent=2))
    if not (dest / "chat_template.jinja").exists():
        (dest / "chat_template.jinja").write_text(family.chat_template)


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
    for name, value in weights.items():
        if value.ndim >= 2 and value.size > 1 and bool(mx.all(value == value.reshape(-1)[0])):
            # A matrix the class leaves constant for the checkpoint to fill: Gemma 3's mm_input_projection_weight
            # is all ones, which sums each image feature over its channels; the vision tower's final LayerNorm
            # makes that sum zero, so every photo would reach the language model as zeros (a blind model).
            weights[name] = mx.random.normal(value.shape) * value.shape[0] ** -0.5
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
    family = _family(arch)
    config = family.config()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    _save_weights(dest, config, seed)
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    (dest / "preprocessor_config.json").write_text(json.dumps(family.preprocessor(max_pixels), indent=2))
    for name, content in family.extra_files.items():
        (dest / name).write_text(json.dumps(content, indent=2))
    pad = family.tokenizer_kwargs["pad_token"]
    generation = {"eos_token_id": config["eos_token_id"], "pad_token_id": family.token_id(pad)}
    (dest / "generation_config.json").write_text(json.dumps(generation, indent=2))
    _save_tokenizer(dest, family)
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: build a tiny model into a folder (for offline demos and benchmarks)."""
    parser = argparse.ArgumentParser(prog="python -m app.testing.tiny_model", description=__doc__.split("\n")[0])
    parser.add_argument("dest", type=Path, help="folder to write the model into")
    parser.add_argument("--family", "--arch", dest="arch", choices=ARCHITECTURES, default=DEFAULT_ARCH,
                        help="architecture family (mlx-vlm model_type)")
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
