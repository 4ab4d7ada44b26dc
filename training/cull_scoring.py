"""The advisor's score for a frame, as agreement needs it: the expected triage score, in one pass.

A greedy answer ties heavily (eight integers) and a random or lightly trained model may not
produce parseable JSON at all, yet its ranking is what is measured. So each frame is scored by
teacher forcing: one forward pass over the triage prompt, the photo and a fixed answer
(``{"composition": 5, ...}``), reading at each score position the probabilities the model gives
the ten digits (in the form the answer uses there, with or without a leading space) and taking
``sum(p(d) * d)``; the frame's score is the mean of the eight. The same forward pass as the trainer
(mlx-vlm's ``VisionDataset`` and ``forward_vlm_logits``), in eval mode (no dropout). A "10" reads as
its leading "1" (the ranking, not the level, is what is compared; the triage issue's decode-time
reader resolves it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.engine.critique.report import DIMENSIONS

from .culls import scores_answer

PROBE = 5  # the fixed score in the probe answer


def _digit_ids(tokenizer: Any, spaced: bool) -> list[int] | None:
    ids = []
    for d in range(10):
        enc = tokenizer.encode((" " if spaced else "") + str(d), add_special_tokens=False)
        if len(enc) != 1:
            return None
        ids.append(int(enc[0]))
    return ids


class FrameScorer:
    """Scores rows (``messages`` = prompt turns, ``images``) with a loaded model and processor."""

    def __init__(self, model: Any, processor: Any):
        from mlx_vlm.trainer.vlm.sft.dataset import VisionDataset

        self.model, self.processor = model, processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.dataset = VisionDataset([], model.config, processor, config={"train_on_completions": True})
        self.digits = {False: _digit_ids(self.tokenizer, False), True: _digit_ids(self.tokenizer, True)}
        if self.digits[False] is None:
            raise ValueError("the tokenizer does not encode each digit as one token: cannot read expected scores")
        self.probe = scores_answer(dict.fromkeys(DIMENSIONS, PROBE))

    def _positions(self, ids: list[int], start: int) -> list[tuple[int, bool]]:
        """Token positions after ``start`` holding the probe's score digit (and whether spaced)."""
        out = []
        for i in range(start, len(ids)):
            text = str(self.tokenizer.decode([ids[i]]))
            if text.strip() == str(PROBE):
                out.append((i, text.startswith(" ")))
        return out

    def score(self, prompt: Sequence[dict[str, str]], image: Any) -> float:
        import mlx.core as mx
        import numpy as np
        from mlx_vlm.trainer.vlm.sft.runtime import collate_vlm_batch, forward_vlm_logits

        row = {"messages": [*prompt, {"role": "assistant", "content": self.probe}], "images": [image]}
        item = self.dataset.process(row)
        batch = collate_vlm_batch([item], 1 << 20, pad_to_multiple=1)
        ids_arr = batch["input_ids"]
        ids = [int(v) for v in np.asarray(ids_arr)[0]]
        completion = np.asarray(batch["completion_mask"])[0]
        start = int(np.argmax(completion > 0)) if completion.any() else 0
        positions = self._positions(ids, start)[: len(DIMENSIONS)]
        if not positions:
            raise ValueError("the probe answer's scores were not found in the tokenized row")
        logits = forward_vlm_logits(self.model, ids_arr, batch["attention_mask"], batch)
        values = []
        for pos, spaced in positions:
            digit_ids = self.digits[spaced] or self.digits[False]
            assert digit_ids is not None
            row_logits = logits[0, pos - 1]
            probs = mx.softmax(row_logits[mx.array(digit_ids)].astype(mx.float32))
            values.append(float(np.asarray((probs * mx.arange(10, dtype=mx.float32)).sum())))
        return sum(values) / len(values)

    def score_rows(self, rows: Sequence[dict[str, Any]]) -> list[float]:
        """Scores of SFT-shaped rows (their prompt turns and image), in eval mode."""
        was_training = bool(getattr(self.model, "training", False))
        self.model.eval()
        try:
            return [self.score([m for m in r["messages"] if m["role"] != "assistant"], r["images"][0]) for r in rows]
        finally:
            if was_training:
                self.model.train()
