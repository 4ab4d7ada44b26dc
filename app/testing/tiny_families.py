"""What differs between the tiny models' architecture families: configs, special tokens, templates.

Each family is the smallest faithful copy of a real mlx-vlm family: the real ``model_type`` (so
mlx-vlm picks the real model class, processor and prompt format), the family's special and image
tokens, its kind of tokenizer, and a chat template written the way the family's own is (Qwen's
``<|im_start|>`` turns with ``<|vision_start|><|image_pad|><|vision_end|>``; Gemma's
``<start_of_turn>`` turns, the system text folded into the first user turn and ``<start_of_image>``
expanded by the processor; SmolVLM's ``User:<image>...<end_of_utterance>`` with the photo split into
tiles plus a global view; PaliGemma with none: the processor writes ``<image>``s, ``<bos>`` and the
last message).

Tried and left out: ``llava`` (mlx-vlm 0.7.10's LlavaProcessor passes ``padding`` on to
transformers 5's image processor, which rejects it: no llava model generates here). Not tried:
``llava_next`` (read, not run: its merge splices one feature block per ``<image>`` position while
the processor expands ``<image>`` to many tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

VOCAB_SIZE = 512

# Qwen's special tokens, in Qwen's order. Training puts them at ids 0..n-1.
QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)
GEMMA_SPECIAL_TOKENS: tuple[str, ...] = (
    "<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>",
    "<start_of_image>", "<end_of_image>", "<image_soft_token>",
)

# Qwen-style template: string or list content, image/video placeholders, prefix-stable (the
# trainer renders the conversation without its last turn plus a generation prompt and expects
# a prefix of the full rendering).
QWEN_CHAT_TEMPLATE = (
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

# Gemma 3's template, reduced to text and images: <bos>, the system turn folded into the first
# user turn, "model" for the assistant role, <start_of_image> where an image goes.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}"
    "{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] | trim }}"
    "{%- else -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{ '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)


@dataclass(frozen=True)
class Family:
    """One architecture family's files, minus the weights (built from ``config`` by mlx-vlm)."""

    name: str
    special_tokens: tuple[str, ...]
    chat_template: str
    tokenizer_kwargs: dict[str, Any]
    config: Callable[[], dict[str, Any]]
    preprocessor: Callable[[int], dict[str, Any]]
    extra_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    # "byte_level": GPT-2/Qwen-style byte-level BPE; "byte_level_digits": the same with every digit
    # its own token (SmolLM2, Llama 3); "sentencepiece": Gemma-style pieces of "▁"-marked words with
    # byte fallback (<0x00>..<0xFF>) and the BOS added to every encoding. Special tokens at ids
    # 0..n-1, except those in ``special_ids`` (added after the vocabulary, as PaliGemma's <image>).
    tokenizer_style: str = "byte_level"
    special_ids: dict[str, int] = field(default_factory=dict)

    def token_id(self, token: str) -> int:
        if token in self.special_ids:
            return self.special_ids[token]
        return self.special_tokens.index(token)


def _qwen_text(arch: str) -> dict[str, Any]:
    """Text settings: hidden 64, 2 layers, 4 heads (2 kv), head_dim 16, MLP 128."""
    cfg: dict[str, Any] = {
        "model_type": arch if arch == "qwen3_vl" else "qwen2_5_vl", "hidden_size": 64, "num_hidden_layers": 2,
        "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-6,
        "vocab_size": VOCAB_SIZE, "max_position_embeddings": 4096, "rope_theta": 1000000.0, "hidden_act": "silu",
    }
    if arch == "qwen3_vl":
        cfg.update(head_dim=16, tie_word_embeddings=True, attention_bias=False,
                   rope_scaling={"rope_type": "default", "mrope_section": [4, 2, 2], "mrope_interleaved": True})
    else:
        cfg.update(tie_word_embeddings=True, rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]})
    return cfg


def _qwen_vision(arch: str) -> dict[str, Any]:
    """Vision settings: 2 layers, width 32; patch 16 (Qwen3) or 14 (Qwen2.5), merge 2."""
    cfg: dict[str, Any] = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "out_hidden_size": 64,
                           "num_heads": 2, "in_channels": 3, "spatial_merge_size": 2, "temporal_patch_size": 2}
    if arch == "qwen3_vl":
        cfg.update(model_type="qwen3_vl", patch_size=16, num_position_embeddings=64,
                   deepstack_visual_indexes=[0], hidden_act="gelu_pytorch_tanh")
    else:
        cfg.update(model_type="qwen2_5_vl", patch_size=14, window_size=112,
                   fullatt_block_indexes=[1], hidden_act="silu", tokens_per_second=2)
    return cfg


def _qwen_config(arch: str) -> dict[str, Any]:
    tid = QWEN_SPECIAL_TOKENS.index
    config: dict[str, Any] = {
        "architectures": ["Qwen3VLForConditionalGeneration" if arch == "qwen3_vl"
                          else "Qwen2_5_VLForConditionalGeneration"],
        "model_type": arch, "vocab_size": VOCAB_SIZE,
        "eos_token_id": [tid("<|im_end|>"), tid("<|endoftext|>")], "tie_word_embeddings": True,
        "vision_config": _qwen_vision(arch),
        "image_token_id": tid("<|image_pad|>"), "video_token_id": tid("<|video_pad|>"),
        "vision_start_token_id": tid("<|vision_start|>"), "vision_end_token_id": tid("<|vision_end|>"),
        "vision_token_id": tid("<|vision_pad|>"),
    }
    text = _qwen_text(arch)
    if arch == "qwen3_vl":
        config["text_config"] = text  # Qwen3 nests the text settings
    else:
        config.update({k: v for k, v in text.items() if k != "model_type"})  # Qwen2.5: top level
    return config


def _qwen_preprocessor(arch: str, max_pixels: int) -> dict[str, Any]:
    patch = 16 if arch == "qwen3_vl" else 14
    min_pixels = min(max_pixels, (patch * 2) ** 2 * 4)
    return {
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen3VLProcessor" if arch == "qwen3_vl" else "Qwen2_5_VLProcessor",
        "patch_size": patch, "temporal_patch_size": 2, "merge_size": 2,
        "min_pixels": min_pixels, "max_pixels": max_pixels,
        "size": {"shortest_edge": min_pixels, "longest_edge": max_pixels},
        "image_mean": [0.5, 0.5, 0.5] if arch == "qwen3_vl" else [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.5, 0.5, 0.5] if arch == "qwen3_vl" else [0.26862954, 0.26130258, 0.27577711],
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "do_convert_rgb": True,
    }


GEMMA_IMAGE_SIZE = 224
GEMMA_IMAGE_TOKENS = 64  # 16x16 SigLIP patches of 14 px, average-pooled 2x2 -> 8x8


def _gemma_config() -> dict[str, Any]:
    tid = GEMMA_SPECIAL_TOKENS.index
    text = {
        "model_type": "gemma3_text", "hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "query_pre_attn_scalar": 16,
        "rms_norm_eps": 1e-6, "vocab_size": VOCAB_SIZE, "sliding_window": 512, "sliding_window_pattern": 2,
        "mm_tokens_per_image": GEMMA_IMAGE_TOKENS, "max_position_embeddings": 8192,
        "rope_local_base_freq": 10000.0, "rope_global_base_freq": 1000000.0,
    }
    vision = {
        "model_type": "siglip_vision_model", "num_hidden_layers": 2, "hidden_size": 32, "intermediate_size": 64,
        "num_attention_heads": 2, "patch_size": 14, "image_size": GEMMA_IMAGE_SIZE, "num_channels": 3,
        "layer_norm_eps": 1e-6,
    }
    return {
        "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "vocab_size": VOCAB_SIZE,
        "text_config": text, "vision_config": vision, "mm_tokens_per_image": GEMMA_IMAGE_TOKENS,
        "image_token_index": tid("<image_soft_token>"), "boi_token_index": tid("<start_of_image>"),
        "eoi_token_index": tid("<end_of_image>"), "pad_token_id": tid("<pad>"),
        "eos_token_id": [tid("<eos>"), tid("<end_of_turn>")],
    }


def _gemma_preprocessor(_max_pixels: int) -> dict[str, Any]:
    return {
        "image_processor_type": "Gemma3ImageProcessor", "processor_class": "Gemma3Processor",
        "size": {"height": GEMMA_IMAGE_SIZE, "width": GEMMA_IMAGE_SIZE}, "resample": 2,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_resize": True, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "do_convert_rgb": True, "do_pan_and_scan": False,
    }


def _qwen_family(arch: str) -> Family:
    return Family(
        name=arch, special_tokens=QWEN_SPECIAL_TOKENS, chat_template=QWEN_CHAT_TEMPLATE,
        tokenizer_kwargs={"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                          "additional_special_tokens": [t for t in QWEN_SPECIAL_TOKENS
                                                        if t not in ("<|im_end|>", "<|endoftext|>")]},
        config=lambda: _qwen_config(arch), preprocessor=lambda px: _qwen_preprocessor(arch, px))


# SmolVLM (Idefics3): SmolLM2's specials, the photo split into tiles (<row_i_col_j>) plus a global view.
SMOLVLM_ROWS = 4  # tile tags up to <row_4_col_4>
SMOLVLM_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<fake_token_around_image>", "<image>", "<global-img>",
    "<end_of_utterance>",
    *(f"<row_{r}_col_{c}>" for r in range(1, SMOLVLM_ROWS + 1) for c in range(1, SMOLVLM_ROWS + 1)),
)
# SmolVLM's template ("User:<image>...<end_of_utterance>\nAssistant:"), also taking string content.
SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>"
    "{%- for message in messages -%}"
    "{{ message['role'] | capitalize }}"
    "{%- if message['content'] is string -%}"
    "{{ ': ' + message['content'] }}"
    "{%- else -%}"
    "{%- if message['content'][0]['type'] == 'image' -%}{{ ':' }}{%- else -%}{{ ': ' }}{%- endif -%}"
    "{%- for line in message['content'] -%}"
    "{%- if line['type'] == 'text' -%}{{ line['text'] }}"
    "{%- elif line['type'] == 'image' -%}{{ '<image>' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "<end_of_utterance>{{ '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'Assistant:' }}{%- endif -%}"
)
SMOLVLM_TILE = 64  # the vision tower's input: 8x8 patches of 8 px
SMOLVLM_IMAGE_TOKENS = 16  # per tile, after the 2x2 pixel shuffle


def _smolvlm_config() -> dict[str, Any]:
    tid = SMOLVLM_SPECIAL_TOKENS.index
    text = {
        "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128,
        "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "vocab_size": VOCAB_SIZE,
        "max_position_embeddings": 8192, "rope_theta": 100000.0, "tie_word_embeddings": True,
    }
    vision = {
        "model_type": "idefics3_vision", "num_hidden_layers": 2, "hidden_size": 32, "intermediate_size": 64,
        "num_attention_heads": 2, "patch_size": 8, "image_size": SMOLVLM_TILE, "num_channels": 3,
        "layer_norm_eps": 1e-6,
    }
    return {
        "architectures": ["Idefics3ForConditionalGeneration"], "model_type": "idefics3", "vocab_size": VOCAB_SIZE,
        "text_config": text, "vision_config": vision, "scale_factor": 2, "image_token_id": tid("<image>"),
        "pad_token_id": tid("<|im_end|>"), "eos_token_id": [tid("<end_of_utterance>"), tid("<|im_end|>")],
        "tie_word_embeddings": True,
    }


def _smolvlm_preprocessor(_max_pixels: int) -> dict[str, Any]:
    return {
        "image_processor_type": "Idefics3ImageProcessor", "processor_class": "Idefics3Processor",
        "do_convert_rgb": True, "do_image_splitting": True, "do_normalize": True, "do_pad": True, "do_rescale": True,
        "do_resize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 1,
        "rescale_factor": 1 / 255, "max_image_size": {"longest_edge": SMOLVLM_TILE},
        "size": {"longest_edge": 2 * SMOLVLM_TILE},
    }


# PaliGemma: Gemma's SentencePiece tokenizer (no dummy prefix, digits split, byte fallback) with
# "<image>" added after its vocabulary, a SigLIP tower, and no chat template: the processor writes
# "<image>" x N + "<bos>" + prompt + "\\n" and attends to that prefix both ways.
PALIGEMMA_SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>",
                                             "<end_of_turn>")
PALIGEMMA_ADDED_IDS = {"<image>": VOCAB_SIZE - 1}
PALIGEMMA_IMAGE_SIZE = 112
PALIGEMMA_IMAGE_TOKENS = 64  # 8x8 SigLIP patches of 14 px


def _paligemma_config() -> dict[str, Any]:
    tid = PALIGEMMA_SPECIAL_TOKENS.index
    text = {
        "model_type": "gemma", "hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128,
        "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16, "vocab_size": VOCAB_SIZE,
        "num_image_tokens": PALIGEMMA_IMAGE_TOKENS, "hidden_activation": "gelu_pytorch_tanh",
    }
    vision = {
        "model_type": "siglip_vision_model", "num_hidden_layers": 2, "hidden_size": 32, "intermediate_size": 64,
        "num_attention_heads": 2, "patch_size": 14, "image_size": PALIGEMMA_IMAGE_SIZE, "projection_dim": 64,
        "num_image_tokens": PALIGEMMA_IMAGE_TOKENS, "projector_hidden_act": "gelu_fast", "vision_use_head": False,
    }
    return {
        "architectures": ["PaliGemmaForConditionalGeneration"], "model_type": "paligemma", "vocab_size": VOCAB_SIZE,
        "text_config": text, "vision_config": vision, "hidden_size": 64, "projection_dim": 64,
        "image_token_index": PALIGEMMA_ADDED_IDS["<image>"], "bos_token_id": tid("<bos>"),
        "eos_token_id": [tid("<eos>")], "pad_token_id": tid("<pad>"),
    }


def _paligemma_preprocessor(_max_pixels: int) -> dict[str, Any]:
    return {
        "image_processor_type": "SiglipImageProcessor", "processor_class": "PaliGemmaProcessor",
        "size": {"height": PALIGEMMA_IMAGE_SIZE, "width": PALIGEMMA_IMAGE_SIZE}, "resample": 3,
        "do_resize": True, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "do_convert_rgb": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
        "image_seq_length": PALIGEMMA_IMAGE_TOKENS,
    }


# Mistral Small 3.1 (mistral3): Tekken's specials in their order (a byte-level BPE with every
# digit its own token), a Pixtral tower that keeps the photo's aspect ([IMG_BREAK] after each row
# of patches, [IMG_END] after the last), and spatial_merge_size at the top of config.json.
MISTRAL3_SPECIAL_TOKENS: tuple[str, ...] = (
    "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]", "[IMG_END]", "[PREFIX]", "[MIDDLE]",
    "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CONTENT]",
)
# Mistral Small 3.1's template, reduced to text and images: the system prompt in its own block,
# user turns in [INST]...[/INST] (images as [IMG]), the answer followed by </s>.
MISTRAL3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}{%- set system_message = messages[0]['content'] -%}"
    "{%- else -%}{%- set system_message = messages[0]['content'][0]['text'] -%}{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{{ '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}"
    "{%- else -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{%- if message['content'] is string -%}{{ '[INST]' + message['content'] + '[/INST]' }}"
    "{%- else -%}{{ '[INST]' }}"
    "{%- for block in message['content'] -%}"
    "{%- if block['type'] == 'text' -%}{{ block['text'] }}"
    "{%- elif block['type'] in ['image', 'image_url'] -%}{{ '[IMG]' }}"
    "{%- endif -%}"
    "{%- endfor -%}{{ '[/INST]' }}"
    "{%- endif -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{%- if message['content'] is string -%}{{ message['content'] + eos_token }}"
    "{%- else -%}{{ message['content'][0]['text'] + eos_token }}{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
)
MISTRAL3_LONGEST_EDGE = 224  # Pixtral's size.longest_edge: 8 x 8 merged patches of 28 px at most


def _mistral3_config() -> dict[str, Any]:
    tid = MISTRAL3_SPECIAL_TOKENS.index
    text = {
        "model_type": "mistral", "hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-5,
        "vocab_size": VOCAB_SIZE, "max_position_embeddings": 8192, "rope_theta": 1000000000.0,
        "sliding_window": None, "tie_word_embeddings": False,
    }
    vision = {
        "model_type": "pixtral", "num_hidden_layers": 2, "hidden_size": 32, "head_dim": 16, "intermediate_size": 64,
        "num_attention_heads": 2, "image_size": MISTRAL3_LONGEST_EDGE, "patch_size": 14, "num_channels": 3,
        "rope_theta": 10000.0, "hidden_act": "silu",
    }
    return {
        "architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3", "vocab_size": VOCAB_SIZE,
        "text_config": text, "vision_config": vision, "image_token_index": tid("[IMG]"), "spatial_merge_size": 2,
        "multimodal_projector_bias": False, "projector_hidden_act": "gelu", "vision_feature_layer": -1,
        "eos_token_id": [tid("</s>")], "pad_token_id": tid("<pad>"),
    }


def _mistral3_preprocessor(_max_pixels: int) -> dict[str, Any]:
    return {
        "image_processor_type": "PixtralImageProcessor", "processor_class": "PixtralProcessor",
        "patch_size": {"height": 14, "width": 14}, "size": {"longest_edge": MISTRAL3_LONGEST_EDGE},
        "do_resize": True, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "do_convert_rgb": True,
        "resample": 3, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    }


FAMILIES: dict[str, Family] = {
    "qwen3_vl": _qwen_family("qwen3_vl"),
    "qwen2_5_vl": _qwen_family("qwen2_5_vl"),
    "gemma3": Family(
        name="gemma3", special_tokens=GEMMA_SPECIAL_TOKENS, chat_template=GEMMA_CHAT_TEMPLATE,
        tokenizer_kwargs={
            "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
            "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>", "<start_of_image>",
                                          "<end_of_image>", "<image_soft_token>"],
            # Gemma3Processor reads these as tokenizer attributes.
            "extra_special_tokens": {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                                     "image_token": "<image_soft_token>"},
        },
        config=_gemma_config, preprocessor=_gemma_preprocessor,
        extra_files={"processor_config.json": {"processor_class": "Gemma3Processor",
                                               "image_seq_length": GEMMA_IMAGE_TOKENS}},
    ),
    "idefics3": Family(
        name="idefics3", special_tokens=SMOLVLM_SPECIAL_TOKENS, chat_template=SMOLVLM_CHAT_TEMPLATE,
        tokenizer_kwargs={"bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>", "pad_token": "<|im_end|>",
                          "unk_token": "<|endoftext|>",
                          "additional_special_tokens": [t for t in SMOLVLM_SPECIAL_TOKENS if t not in (
                              "<|im_start|>", "<end_of_utterance>", "<|im_end|>", "<|endoftext|>")]},
        config=_smolvlm_config, preprocessor=_smolvlm_preprocessor, tokenizer_style="byte_level_digits",
        extra_files={"processor_config.json": {"processor_class": "Idefics3Processor",
                                               "image_seq_len": SMOLVLM_IMAGE_TOKENS}},
    ),
    "paligemma": Family(
        name="paligemma", special_tokens=PALIGEMMA_SPECIAL_TOKENS, chat_template="",
        tokenizer_kwargs={"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
                          "additional_special_tokens": ["<image>", "<start_of_turn>", "<end_of_turn>"]},
        config=_paligemma_config, preprocessor=_paligemma_preprocessor, tokenizer_style="sentencepiece",
        special_ids=dict(PALIGEMMA_ADDED_IDS),
        extra_files={"processor_config.json": {"processor_class": "PaliGemmaProcessor",
                                               "image_seq_length": PALIGEMMA_IMAGE_TOKENS, "image_token": "<image>"}},
    ),
    "mistral3": Family(
        name="mistral3", special_tokens=MISTRAL3_SPECIAL_TOKENS, chat_template=MISTRAL3_CHAT_TEMPLATE,
        tokenizer_kwargs={"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                          "additional_special_tokens": [t for t in MISTRAL3_SPECIAL_TOKENS
                                                        if t not in ("<s>", "</s>", "<unk>", "<pad>")]},
        config=_mistral3_config, preprocessor=_mistral3_preprocessor, tokenizer_style="byte_level_digits",
        extra_files={"processor_config.json": {"processor_class": "PixtralProcessor", "image_token": "[IMG]",
                                               "image_break_token": "[IMG_BREAK]", "image_end_token": "[IMG_END]",
                                               "patch_size": 14, "spatial_merge_size": 2}},
    ),
}
