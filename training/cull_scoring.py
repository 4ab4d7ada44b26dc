"""The advisor's score for a frame, as agreement needs it: the expected triage score, in one pass.

A greedy answer ties heavily (eight integers) and a random or lightly trained model may not
produce parseable JSON at all, yet its ranking is what is measured. So each frame is scored by
teacher forcing: one forward pass over the triage prompt, the photo and a fixed answer
(``{"composition": 5, ...}``), reading at each score position the probabilities the model gives
the ten digits (in the form the answer uses there, with or without a leading space) and taking
``sum(p(d) * d)``; the frame's score is the mean of the eight. The same forward pass as the trainer
(mlx-vlm's ``VisionDataset`` and ``forward_vlm_logits``), in eval mode (no dropout), made causal
where mlx-vlm's is not (:mod:`training.causal`: Gemma 3's would read the probe's own digits, so every
frame scored alike), and checked causal on the first frame.

A "10" starts with a "1": a second pass over the answer ``{"composition": 10, ...}`` reads, after
each "1", the odds of the "0" against the separator that would end the number there, and a "1"
counts as ``(1 - q) * 1 + q * 10`` (as the triage pass's decode-time reader does). Without it a
frame the advisor would score 10 (5 stars map to 9.5, a target of 10) would rank as a 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.engine.critique.report import DIMENSIONS

from .causal import ensure_causal, make_training_causal
from .culls import scores_answer

PROBE = 5  # the fixed score in the probe answer
TEN = 10  # the second probe: what follows a "1"


def expected_digit(probs: Sequence[float], ten: float) -> float:
    """The expected score from the ten digits' probabilities, a "1" being a 10 with probability ``ten``."""
    total = sum(probs) or 1.0
    value = sum(p * d for d, p in enumerate(probs)) + probs[1] * ten * (TEN - 1)
    return value / total


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
        make_training_causal(model)
        self.checked = False  # the forward's causality, checked on the first row scored
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.dataset = VisionDataset([], model.config, processor, config={"train_on_completions": True})
        self.digits = {False: _digit_ids(self.tokenizer, False), True: _digit_ids(self.tokenizer, True)}
        if self.digits[False] is None:
            raise ValueError("the tokenizer does not encode each digit as one token: cannot read expected scores")
        self.probe = scores_answer(dict.fromkeys(DIMENSIONS, PROBE))
        self.ten_probe = scores_answer(dict.fromkeys(DIMENSIONS, TEN))

    def _positions(self, ids: list[int], start: int, digit: str) -> list[tuple[int, bool]]:
        """Token positions after ``start`` holding a probe score's (first) digit, and whether spaced."""
        out = []
        for i in range(start, len(ids)):
            text = str(self.tokenizer.decode([ids[i]]))
            if text.strip() == digit:
                out.append((i, text.startswith(" ")))
        return out[: len(DIMENSIONS)]

    def _forward(self, prompt: Sequence[dict[str, str]], image: Any, answer: str,
                 digit: str) -> tuple[list[int], list[tuple[int, bool]], Any]:
        import numpy as np
        from mlx_vlm.trainer.vlm.sft.runtime import collate_vlm_batch, forward_vlm_logits

        row = {"messages": [*prompt, {"role": "assistant", "content": answer}], "images": [image]}
        batch = collate_vlm_batch([self.dataset.process(row)], 1 << 20, pad_to_multiple=1)
        ids = [int(v) for v in np.asarray(batch["input_ids"])[0]]
        completion = np.asarray(batch["completion_mask"])[0]
        start = int(np.argmax(completion > 0)) if completion.any() else 0
        positions = self._positions(ids, start, digit)
        if len(positions) != len(DIMENSIONS):
            raise ValueError(f"the probe answer's scores were not found in the tokenized row ({len(positions)} of "
                             f"{len(DIMENSIONS)})")
        if not self.checked:
            ensure_causal(self.model, batch)  # fixed when it sees ahead; a ValueError when it cannot be
            self.checked = True
        return ids, positions, forward_vlm_logits(self.model, batch["input_ids"], batch["attention_mask"], batch)

    def _tens(self, prompt: Sequence[dict[str, str]], image: Any) -> list[float]:
        """Per score position, the probability that a "1" there goes on to "10"."""
        import mlx.core as mx
        import numpy as np

        ids, positions, logits = self._forward(prompt, image, self.ten_probe, "1")
        out = []
        for pos, _spaced in positions:
            if pos + 2 >= len(ids) or str(self.tokenizer.decode([ids[pos + 1]])) != "0":
                out.append(0.0)  # "10" is not "1" + "0" in this vocabulary: read the "1" as 1
                continue
            probs = mx.softmax(logits[0, pos].astype(mx.float32))
            zero, end = (float(np.asarray(probs[ids[pos + k]])) for k in (1, 2))
            out.append(zero / (zero + end) if zero + end > 0 else 0.0)
        return out

    def score(self, prompt: Sequence[dict[str, str]], image: Any) -> float:
        import mlx.core as mx
        import numpy as np

        _ids, positions, logits = self._forward(prompt, image, self.probe, str(PROBE))
        tens = self._tens(prompt, image)
        values = []
        for (pos, spaced), ten in zip(positions, tens, strict=True):
            digit_ids = self.digits[spaced] or self.digits[False]
            assert digit_ids is not None
            probs = mx.softmax(logits[0, pos - 1][mx.array(digit_ids)].astype(mx.float32))
            values.append(expected_digit([float(v) for v in np.asarray(probs)], ten))
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
