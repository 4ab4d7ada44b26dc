"""How closely an advisor ranks a shoot the way its photographer did: agreement, not loss.

A loss says how well the model reproduces its targets; the photographer cares whether the
frames it puts first are the ones they kept. So an advisor's scores are judged against the
user's own ordering of the same frames:

* **pairwise agreement**: of the pairs of frames the user ordered (a higher user level wins), the
  share the advisor orders the same way (a tie in the advisor's scores counts one half). Two kinds
  of pairs, reported apart and together: *within bursts* (near-identical frames, the cull's real
  question) and *across stars* (frames of different bursts with different star levels).
* **Spearman** between the advisor's score and the user's level, over the frames.
* **pick precision at the keep rate**: the user kept k of n frames; of the advisor's top k, the
  share the user kept.

Every figure has a 95 % bootstrap interval that resamples *groups* (bursts; a frame outside a
burst is its own group), since frames of one burst are not independent. A new adapter replaces
the active one only when its pairwise agreement is higher by more than the interval of the
*paired* difference (same resamples for both), on at least ``min_pairs`` pairs
(:func:`activation_decision`). Pure numpy: the scores come from :mod:`training.cull_scoring`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BOOTSTRAP = 1000
MAX_CROSS_PAIRS = 20000  # across-star pairs grow with n^2: a seeded sample beyond this
CONFIDENCE = 0.95
MIN_PAIRS = 20  # fewer user-ordered pairs than this: no automatic activation


@dataclass(frozen=True)
class Judged:
    """One frame the user decided on, with the advisor's score for it."""

    key: str  # the frame's path
    group: str  # its burst (or the frame itself): the unit held out and resampled
    user: float  # the user's level (training.culls.user_level): higher is better
    kept: bool  # the user kept it (a pick, or a keeper's stars)
    score: float  # the advisor's score (mean expected 0-10 score)


@dataclass
class Pairs:
    """The user-ordered pairs of a set of frames: better index, worse index, kind (0 burst, 1 stars)."""

    better: np.ndarray
    worse: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return int(self.better.size)


def user_pairs(frames: Sequence[Judged], *, seed: int = 0) -> Pairs:
    """Pairs within a burst where the user's levels differ, and across bursts where the star levels
    (the integer part of the level) differ; across-burst pairs sampled down to MAX_CROSS_PAIRS."""
    better: list[int] = []
    worse: list[int] = []
    kind: list[int] = []
    cross: list[tuple[int, int]] = []
    for i, a in enumerate(frames):
        for j in range(i + 1, len(frames)):
            b = frames[j]
            if a.group == b.group:
                if a.user != b.user:
                    hi, lo = (i, j) if a.user > b.user else (j, i)
                    better.append(hi)
                    worse.append(lo)
                    kind.append(0)
            elif int(a.user) != int(b.user):
                cross.append((i, j) if a.user > b.user else (j, i))
    if len(cross) > MAX_CROSS_PAIRS:
        rng = np.random.default_rng(seed)
        cross = [cross[k] for k in sorted(rng.choice(len(cross), MAX_CROSS_PAIRS, replace=False))]
    for hi, lo in cross:
        better.append(hi)
        worse.append(lo)
        kind.append(1)
    return Pairs(np.asarray(better, dtype=np.int64), np.asarray(worse, dtype=np.int64),
                 np.asarray(kind, dtype=np.int64))


def _groups(frames: Sequence[Judged]) -> tuple[np.ndarray, int]:
    names: dict[str, int] = {}
    index = np.asarray([names.setdefault(f.group, len(names)) for f in frames], dtype=np.int64)
    return index, len(names)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.arange(values.size, dtype=np.float64)
    uniq, inverse = np.unique(values, return_inverse=True)
    if uniq.size < values.size:
        sums = np.bincount(inverse, weights=ranks)
        counts = np.bincount(inverse)
        ranks = (sums / counts)[inverse]
    return ranks


def _weighted_spearman(user: np.ndarray, score: np.ndarray, weight: np.ndarray) -> float:
    keep = weight > 0
    u = np.repeat(user[keep], weight[keep].astype(np.int64))
    s = np.repeat(score[keep], weight[keep].astype(np.int64))
    if u.size < 3 or np.ptp(u) == 0 or np.ptp(s) == 0:
        return float("nan")
    ru, rs = _ranks(u), _ranks(s)
    return float(np.corrcoef(ru, rs)[0, 1])


def _pick_precision(kept: np.ndarray, score: np.ndarray, weight: np.ndarray) -> float:
    keep = weight > 0
    k = np.repeat(kept[keep], weight[keep].astype(np.int64))
    s = np.repeat(score[keep], weight[keep].astype(np.int64))
    n_keep = int(k.sum())
    if n_keep == 0 or n_keep == k.size:
        return float("nan")
    top = np.argsort(-s, kind="mergesort")[:n_keep]
    return float(k[top].mean())


def _agreement(pairs: Pairs, score: np.ndarray, pair_weight: np.ndarray, kind: int | None) -> float:
    mask = np.ones(len(pairs), dtype=bool) if kind is None else pairs.kind == kind
    w = pair_weight[mask]
    if w.sum() == 0:
        return float("nan")
    diff = score[pairs.better[mask]] - score[pairs.worse[mask]]
    agree = np.where(diff > 0, 1.0, np.where(diff == 0, 0.5, 0.0))
    return float((agree * w).sum() / w.sum())


METRICS = ("pairwise", "pairwise_burst", "pairwise_stars", "spearman", "pick_precision")


def _metrics(frames_arrays: dict[str, np.ndarray], pairs: Pairs, score: np.ndarray,
             frame_weight: np.ndarray) -> dict[str, float]:
    pw = frame_weight[pairs.better] * frame_weight[pairs.worse] if len(pairs) else np.zeros(0)
    # within a burst both frames share one group's count: weight it once, not squared
    if len(pairs):
        pw = np.where(pairs.kind == 0, frame_weight[pairs.better], pw)
    return {
        "pairwise": _agreement(pairs, score, pw, None) if len(pairs) else float("nan"),
        "pairwise_burst": _agreement(pairs, score, pw, 0) if len(pairs) else float("nan"),
        "pairwise_stars": _agreement(pairs, score, pw, 1) if len(pairs) else float("nan"),
        "spearman": _weighted_spearman(frames_arrays["user"], score, frame_weight),
        "pick_precision": _pick_precision(frames_arrays["kept"], score, frame_weight),
    }


def _interval(samples: list[float]) -> list[float] | None:
    values = np.asarray([v for v in samples if np.isfinite(v)])
    if values.size < 10:
        return None
    tail = (1 - CONFIDENCE) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def _resamples(frames: Sequence[Judged], n: int, seed: int) -> np.ndarray:
    """Frame weights of ``n`` group bootstrap resamples (a group drawn k times weighs k)."""
    group, count = _groups(frames)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, count, size=(n, count)) if count else np.zeros((n, 0), dtype=np.int64)
    per_group = np.stack([np.bincount(d, minlength=count) for d in draws]) if n else np.zeros((0, count))
    return per_group[:, group].astype(np.float64)


def _clean(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 4)


def agreement(frames: Sequence[Judged], *, bootstrap: int = BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Every metric with its 95 % interval, and the counts behind them."""
    pairs = user_pairs(frames, seed=seed)
    arrays = {"user": np.asarray([f.user for f in frames], dtype=np.float64),
              "kept": np.asarray([f.kept for f in frames], dtype=np.float64)}
    score = np.asarray([f.score for f in frames], dtype=np.float64)
    point = _metrics(arrays, pairs, score, np.ones(len(frames)))
    samples = [_metrics(arrays, pairs, score, w) for w in _resamples(frames, bootstrap, seed)]
    out: dict[str, Any] = {
        "frames": len(frames), "groups": len({f.group for f in frames}), "pairs": len(pairs),
        "pairs_burst": int((pairs.kind == 0).sum()), "pairs_stars": int((pairs.kind == 1).sum()),
        "kept": int(arrays["kept"].sum()),
    }
    for name in METRICS:
        ci = _interval([s[name] for s in samples])
        out[name] = {"value": _clean(point[name]), "ci": [round(c, 4) for c in ci] if ci else None}
    return out


def compare(frames: Sequence[Judged], new_scores: Sequence[float], *, bootstrap: int = BOOTSTRAP,
            seed: int = 0) -> dict[str, Any]:
    """The paired difference in pairwise agreement, new minus ``frames``' scores, with its interval."""
    pairs = user_pairs(frames, seed=seed)
    arrays = {"user": np.asarray([f.user for f in frames], dtype=np.float64),
              "kept": np.asarray([f.kept for f in frames], dtype=np.float64)}
    old = np.asarray([f.score for f in frames], dtype=np.float64)
    new = np.asarray(new_scores, dtype=np.float64)
    ones = np.ones(len(frames))
    diff = _metrics(arrays, pairs, new, ones)["pairwise"] - _metrics(arrays, pairs, old, ones)["pairwise"]
    samples = [_metrics(arrays, pairs, new, w)["pairwise"] - _metrics(arrays, pairs, old, w)["pairwise"]
               for w in _resamples(frames, bootstrap, seed)]
    ci = _interval(samples)
    return {"pairwise_difference": _clean(diff), "ci": [round(c, 4) for c in ci] if ci else None,
            "pairs": len(pairs)}


def activation_decision(comparison: dict[str, Any], *, min_pairs: int = MIN_PAIRS,
                        override: bool = False) -> tuple[bool, str]:
    """Activate when the paired difference's interval lies above zero on enough pairs (or when the
    user overrides); the reason says which, in words."""
    diff, ci, pairs = comparison.get("pairwise_difference"), comparison.get("ci"), comparison.get("pairs", 0)
    if override:
        return True, "activated: the user chose to (override)"
    if pairs < min_pairs:
        return False, f"not activated: {pairs} user-ordered pairs held out, fewer than the {min_pairs} needed"
    if diff is None or ci is None:
        return False, "not activated: the agreement could not be measured on the held-out frames"
    if ci[0] <= 0:
        return False, (f"not activated: agreement changed by {diff:+.3f}, within its interval "
                       f"[{ci[0]:+.3f}, {ci[1]:+.3f}]")
    return True, f"activated: agreement better by {diff:+.3f} (interval [{ci[0]:+.3f}, {ci[1]:+.3f}])"


def held_out_groups(groups: Sequence[str], fraction: float, *, seed: int = 0) -> set[str]:
    """Whole groups (bursts, or shoots) held out: a stable hash of the name picks them, at least one
    group and at least one left for training when there are two or more."""
    names = sorted(set(groups))
    if len(names) < 2 or fraction <= 0:
        return set()

    def key(name: str) -> str:
        return hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()

    ranked = sorted(names, key=key)
    n = min(len(names) - 1, max(1, round(fraction * len(names))))
    return set(ranked[:n])
