"""Two frames of one burst, "which is stronger?": SFT rows answered by the photographer's cull.

A cull is a comparison: within a burst the photographer kept one frame over its near-twins. A
model that sees both frames at once can be taught that question directly, but only a model that
takes several images in one prompt. :func:`takes_several_images` asks the loaded model rather than
a list of families: mlx-vlm must know a chat format for the model type that places image tokens
(``mlx_vlm.prompt_utils.MODEL_CONFIG``) and must not list it as single-image
(``SINGLE_IMAGE_ONLY_MODELS``); then a two-image row goes through the trainer's own dataset code
(``mlx_vlm.trainer.vlm.sft.dataset.VisionDataset``: ``images`` holds a list, the chat template gets
``num_images=len(images)``) and must carry twice the image tokens of a one-image row, and the model
must run a forward pass over it. That last check is not idle: in mlx-vlm 0.7.10 a Gemma 3 row
with two photos goes through the dataset but not the trainer's collate
(``trainer/vlm/sft/runtime.py``: ``_collate_feature`` stacks the row's ``(2, 3, H, W)`` pixels
into ``(1, 2, 3, H, W)`` and ``models/gemma3/gemma3.py`` transposes them as 4-D), so the probe
answers no there; Qwen VL rows (flattened patches and ``image_grid_thw``) train.

:func:`pair_rows` makes the rows: for every two frames of a burst the user ranked apart (the pairs
``training.agreement`` counts within bursts), the frames in both orders, so the answer's position
(``{"stronger": 1}`` or ``{"stronger": 2}``) cannot be learned instead of the photo. The prompt is
the triage prompt's system turn (the advisor's persona and format) with a pair question, and each
frame's measured facts when given.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from .culls import Decision, FactsOf, ImageLoader, user_level

log = logging.getLogger(__name__)

ANSWER_KEY = "stronger"
# mlx-vlm message formats that place no image token, or exactly one, whatever num_images says
_NO_MULTI_FORMATS = ("prompt_only", "text_only", "single_image_token", "prompt_with_image_token")
PROBE_EDGE = 224  # the probe photo: the smallest most processors take without upscaling


def several_images_problem(model: Any, processor: Any) -> str | None:
    """Why this model cannot be given two photos in one training row, or None when it can (module
    docstring: what is checked)."""
    import mlx.core as mx
    from mlx_vlm.prompt_utils import MODEL_CONFIG, SINGLE_IMAGE_ONLY_MODELS
    from mlx_vlm.trainer.vlm.sft.dataset import VisionDataset
    from mlx_vlm.trainer.vlm.sft.runtime import collate_vlm_batch, forward_vlm_logits
    from PIL import Image

    config = model.config
    model_type = str(getattr(config, "model_type", "")).lower()
    fmt = MODEL_CONFIG.get(model_type)
    if fmt is None:
        return f"mlx-vlm has no chat format with image tokens for model type {model_type!r}"
    if model_type in SINGLE_IMAGE_ONLY_MODELS:
        return f"mlx-vlm lists {model_type!r} as single-image (prompt_utils.SINGLE_IMAGE_ONLY_MODELS)"
    if fmt.value in _NO_MULTI_FORMATS:
        return f"mlx-vlm's {fmt.value!r} format for {model_type!r} places at most one image"
    token = getattr(config, "image_token_id", None)
    if token is None:
        token = getattr(config, "image_token_index", None)
    if token is None:
        return f"the {model_type!r} config names no image token: two photos cannot be told apart"
    photo = Image.new("RGB", (PROBE_EDGE, PROBE_EDGE), (120, 90, 60))
    dataset = VisionDataset([], config, processor, config={"train_on_completions": True})
    turns = [{"role": "user", "content": "Which is stronger?"}, {"role": "assistant", "content": "1"}]
    try:
        one = dataset.process({"messages": turns, "images": [photo]})
        two = dataset.process({"messages": turns, "images": [photo, photo]})
    except Exception as exc:  # noqa: BLE001 - any processor failure means "not here", said in the reason
        return f"the processor did not take two photos in one row ({type(exc).__name__}: {exc})"
    count_one = int((one["input_ids"] == int(token)).sum().item())
    count_two = int((two["input_ids"] == int(token)).sum().item())
    if count_one == 0 or count_two != 2 * count_one:
        return (f"a two-photo row has {count_two} image tokens where a one-photo row has {count_one}: "
                "the second photo does not reach the model")
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        batch = collate_vlm_batch([two], 1 << 20, pad_to_multiple=1)
        logits = forward_vlm_logits(model, batch["input_ids"], batch["attention_mask"], batch)
        mx.eval(logits)
    except Exception as exc:  # noqa: BLE001 - the model's own code rejected two photos
        return f"the model's forward pass failed on two photos ({type(exc).__name__}: {exc})"
    finally:
        if was_training:
            model.train()
    return None


def takes_several_images(model: Any, processor: Any) -> bool:
    """Whether pair rows can train this model (:func:`several_images_problem` says why not)."""
    problem = several_images_problem(model, processor)
    if problem is not None:
        log.info("no pair rows: %s", problem)
    return problem is None


def pair_answer(stronger: int) -> str:
    """``{"stronger": 1}`` or ``{"stronger": 2}``: which of the two photos, in the prompt's order."""
    if stronger not in (1, 2):
        raise ValueError(f"stronger must be 1 or 2, not {stronger!r}")
    return json.dumps({ANSWER_KEY: stronger})


def pair_messages(advisor: Any, facts: tuple[Sequence[str], Sequence[str]] = ((), ())) -> list[dict[str, str]]:
    """The pair question as chat turns: the triage prompt's system turn (persona and format), then
    both photos (mlx-vlm puts the image tokens in the user turn, in order) and the question."""
    from app.engine.critique.triage import triage_prompt

    system = triage_prompt(advisor).system
    parts = ["These are two frames of one burst: photo 1 first, photo 2 second."]
    for n, found in enumerate(facts, start=1):
        if found:
            parts.append(f"Measured facts about photo {n}:\n" + "\n".join(f"- {f}" for f in found))
    parts.append("Which photo is the stronger frame to keep? Answer with JSON only: "
                 f'{pair_answer(1)} or {pair_answer(2)}')
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def ranked_pairs(decisions: Sequence[Decision]) -> list[tuple[Decision, Decision]]:
    """(stronger, weaker) for every two decided frames of one burst the user ranked apart."""
    by_group: dict[str, list[Decision]] = {}
    for d in decisions:
        if d.decided and user_level(d) == user_level(d):  # NaN: decided by nothing that ranks
            by_group.setdefault(d.group, []).append(d)
    out = []
    for frames in by_group.values():
        for i, a in enumerate(frames):
            for b in frames[i + 1:]:
                if user_level(a) != user_level(b):
                    out.append((a, b) if user_level(a) > user_level(b) else (b, a))
    return out


def pair_rows(decisions: Sequence[Decision], advisor: Any, image: ImageLoader,
              facts_of: FactsOf | None = None) -> list[dict[str, Any]]:
    """SFT rows (``messages`` + two ``images``) for mlx-vlm's trainer: each ranked pair of a burst in
    both orders, answered with the position of the frame the user ranked higher."""
    rows = []
    for better, worse in ranked_pairs(decisions):
        for first, second, answer in ((better, worse, 1), (worse, better, 2)):
            facts = ((facts_of(first.path), facts_of(second.path)) if facts_of is not None else ((), ()))
            prompt = pair_messages(advisor, facts)
            rows.append({"messages": [*prompt, {"role": "assistant", "content": pair_answer(answer)}],
                         "images": [image(first.path), image(second.path)]})
    return rows
