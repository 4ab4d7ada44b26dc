"""Triage: the eight scores alone, from a smaller photo, to rank a shoot before full critiques.

How triage and full scores relate (a choice, documented in README "Review"): they are two
independent passes of the *same* advisor on the *same* 0-10 scale and the *same* eight dimensions,
and the prompt's text before the photo is identical (role, report format, persona), so the text
cache computes it once for both. The triage pass answers only ``{"composition": 7, ...}`` from a
photo at :func:`triage_edge`; the full critique writes its reasons with its scores from the photo
at the review's edge. The full report's shape is not changed to put scores first (that would make
triage its exact prefix, but a model scoring before it has written what it sees scores worse, and
every trained adapter and stored report uses today's shape). So a triage score is an estimate of
the full one, and every view that shows a score says which (:attr:`TriageScores.kind`).

Eight integers tie heavily across a thousand frames, so frames rank by the *expected* score:
at each score position the grammar allows only digits, and their probabilities (from the logits
the decode loop already has) give ``sum(p(d) * d)``. A "1" that may go on to "10" counts with the
probability of the "0" that follows when the model chose "1"; otherwise as 1 (the shortfall is at
most 9 * p("1") * p("0" | "1") of one dimension, and the same for every frame).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.engine.advisors import Advisor
from app.engine.critique.prompts import Prompt, critique_prompt
from app.engine.critique.report import DIMENSIONS, SCORE_MAX, SCORE_MIN
from app.engine.critique.result import GenerationStats

KIND = "triage"
TOKENS_PER_EDGE = 16  # image tokens along the long edge at the derived triage edge (<= 256 in all)

_TRIAGE_ASK = (
    "Score this photograph only: no comments, no grade, no summary. Answer with JSON only, in "
    'this shape: {' + ", ".join(f'"{k}": 7' for k in DIMENSIONS[:2]) + ", ...}"
)


def triage_schema() -> dict[str, Any]:
    """The eight dimension scores as integers on the full critique's scale, in its order."""
    score = {"type": "integer", "minimum": int(SCORE_MIN), "maximum": int(SCORE_MAX)}
    return {"type": "object", "properties": {k: score for k in DIMENSIONS}, "required": list(DIMENSIONS),
            "additionalProperties": False}


def triage_prompt(advisor: Advisor, *, facts: Sequence[str] = ()) -> Prompt:
    """The critique prompt with the triage ask: the same text before the photo (cached once)."""
    full = critique_prompt(advisor, facts=facts)
    head, _, _ = full.user.rpartition("Critique this photograph.")
    return Prompt(system=full.system, user=head + _TRIAGE_ASK)


def triage_edge(config: Any, setting: int = 0) -> int:
    """The triage photo's long edge: ``setting`` when set, else :data:`TOKENS_PER_EDGE` image tokens
    along the long edge by the model's own patch arithmetic (patch size x spatial merge: 32 px on
    Qwen3-VL, 28 on Qwen2-VL and Mistral 3), else the fixed input size of a model that resizes every photo
    (Gemma 3's ``image_size``)."""
    if setting > 0:
        return int(setting)
    vision = getattr(config, "vision_config", None)
    patch = int(getattr(vision, "patch_size", 0) or 0)
    # Qwen keeps the merge in the vision settings; Mistral 3 (Pixtral) at the top of config.json
    merge = int(getattr(vision, "spatial_merge_size", 0) or getattr(config, "spatial_merge_size", 0) or 0)
    if patch and merge:
        return patch * merge * TOKENS_PER_EDGE
    size = int(getattr(vision, "image_size", 0) or 0)
    return size if size > 0 else 448


_SCORE_PIECES: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # once per tokenizer


def is_score_piece(text: str) -> bool:
    """A token that can appear where a score is written: a lone whitespace character, or one or two
    digits after at most one."""
    core = text.lstrip()
    return len(text) - len(core) <= 1 and (core.isdigit() and len(core) <= 2 if core else len(text) == 1)


def score_pieces(tokenizer: Any) -> int:
    """How many tokens of ``tokenizer`` can be allowed at a score position: an upper bound on that
    step's allowed set, far below a free-text step's. Byte-level vocabularies have about 20; a
    SentencePiece vocabulary with byte fallback spells each digit twice (``7`` and ``<0x37>``) and
    the space twice (``▁`` and ``<0x20>``). Computed once per tokenizer (0.4 s for 150k tokens)."""
    if tokenizer not in _SCORE_PIECES:
        ids = [[i] for i in range(len(tokenizer))]
        backend = getattr(tokenizer, "backend_tokenizer", None)  # Rust: a third of the time on 150k tokens
        texts = backend.decode_batch(ids, skip_special_tokens=False) if backend else tokenizer.batch_decode(ids)
        _SCORE_PIECES[tokenizer] = max(16, sum(is_score_piece(str(t)) for t in texts))
    return _SCORE_PIECES[tokenizer]


@dataclass
class ScoreSteps:
    """Collects the digit distributions at the score positions of one triage generation
    (the decode loop's inspector: ``GenerationRequest.inspect``).

    llguidance holds back the space of ``": "`` (it could merge with the digit: `` 7`` is one
    token in byte-level vocabularies), so a score position allows the space alone and the
    space-digit tokens; when the model took the space alone, the next step's digits share its
    probability."""

    decode: Callable[[list[int]], str]  # token ids -> text
    max_allowed: int = 16  # the decode loop shows steps with at most this many allowed tokens (score_pieces)
    steps: list[dict[str, float]] = field(default_factory=list)  # one per score position, {digits: p}
    tens: dict[int, float] = field(default_factory=dict)  # score index -> p("0" after a chosen "1")
    _last: int = -1  # tokens-so-far count at the last score step
    _space: float = 0.0  # the probability the last score step gave the space alone

    def __call__(self, tokens: list[int], allowed: list[int], probs: list[float]) -> None:
        texts = [self.decode([t]).strip() for t in allowed]
        chosen = self.decode(tokens[-1:]) if tokens else ""
        after_last = self.steps and len(tokens) == self._last + 1
        if all(t == "" or t.isdigit() for t in texts) and any(t.isdigit() for t in texts):
            dist: dict[str, float] = {}
            for t, p in zip(texts, probs, strict=True):  # a digit may have several spellings (byte fallback)
                if t:
                    dist[t] = dist.get(t, 0.0) + p
            if after_last and chosen.strip() == "" and self._space > 0:  # the digit after a lone space
                merged = self.steps[-1]
                for t, p in dist.items():
                    merged[t] = merged.get(t, 0.0) + self._space * p
                self._space, self._last = 0.0, len(tokens)
                return
            self.steps.append(dist)
            self._space = sum(p for t, p in zip(texts, probs, strict=True) if not t)
            self._last = len(tokens)
        elif after_last and chosen.strip() == "1":
            self.tens[len(self.steps) - 1] = sum(p for t, p in zip(texts, probs, strict=True) if t == "0")

    def expected(self) -> list[float]:
        """Per score position, the expected score (over the digit mass that was resolved)."""
        out = []
        for i, dist in enumerate(self.steps):
            mass = sum(dist.values()) or 1.0
            total = 0.0
            for digits, p in dist.items():
                value = float(digits)
                if digits == "1":
                    q = self.tens.get(i, 0.0)
                    value = (1 - q) * 1.0 + q * 10.0
                total += p * value
            out.append(total / mass)
        return out


@dataclass
class TriageScores:
    """One frame's triage: the eight scores, their expected values, and what the pass cost."""

    scores: dict[str, int]
    expected: dict[str, float]
    stats: GenerationStats
    edge: int  # the photo's long edge the model saw
    kind: str = KIND

    @property
    def overall(self) -> float:
        return sum(self.scores.values()) / len(self.scores)

    @property
    def expected_overall(self) -> float:
        """The ranking key: the mean expected score (ties far less than the integer mean)."""
        values = self.expected.values() if len(self.expected) == len(DIMENSIONS) else self.scores.values()
        return sum(values) / len(DIMENSIONS)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "scores": dict(self.scores), "expected": dict(self.expected),
                "overall": self.overall, "expected_overall": self.expected_overall, "edge": self.edge,
                "stats": self.stats.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TriageScores:
        """Back from :meth:`to_dict` (a stored triage); ValueError when the scores are not whole."""
        stats = GenerationStats(**{k: v for k, v in (data.get("stats") or {}).items()
                                   if k in GenerationStats.__dataclass_fields__})
        return cls(scores=read_scores_dict(data.get("scores")), stats=stats, edge=int(data.get("edge", 0)),
                   expected={k: float(v) for k, v in (data.get("expected") or {}).items() if k in DIMENSIONS})


def read_scores(text: str) -> dict[str, int]:
    """The scores of a triage answer; ValueError naming what is wrong."""
    import json

    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"triage answer is not JSON ({exc.msg} at {exc.pos})") from exc
    return read_scores_dict(obj)


def read_scores_dict(obj: Any) -> dict[str, int]:
    """The eight scores of a decoded triage answer; ValueError naming what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("triage answer is not a JSON object")
    missing = [k for k in DIMENSIONS if k not in obj]
    if missing:
        raise ValueError(f"triage answer lacks {', '.join(missing)}")
    out = {}
    for k in DIMENSIONS:
        value = obj[k]
        if not isinstance(value, int) or isinstance(value, bool) or not SCORE_MIN <= value <= SCORE_MAX:
            raise ValueError(f"triage score '{k}' is {value!r}, not an integer from 0 to 10")
        out[k] = value
    return out


def rank(results: Sequence[TriageScores | None]) -> list[int]:
    """Indices of ``results`` best first by expected score (frames without a result last)."""
    keyed = [(-(r.expected_overall if r is not None else float("-inf")), i) for i, r in enumerate(results)]
    return [i for _, i in sorted(keyed)]
