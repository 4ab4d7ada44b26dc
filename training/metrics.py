"""Evaluation arithmetic: format compliance, score errors, improvement and latency overhead.

Pure functions over parsed outputs, so the numbers in ``eval.json`` can be checked by hand.

A missing prediction (an output that is not a valid report, or a report without that dimension)
counts as the scale's midpoint, 5.0: the answer of someone who knows nothing about the photo. So
an adapter gets no credit for producing nothing, and a base model that cannot write the format is
compared as what it gives the user: no information. The errors over valid reports only are
reported too (``*_valid_only``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.engine.critique.report import DIMENSIONS, Report

IMPUTED_SCORE = 5.0


@dataclass
class Sample:
    """One model output on one held-out example."""

    target: dict[str, float]  # dimension -> target score
    report: Report | None  # None when the output did not parse
    seconds: float  # the whole generation: prompt processing + decoding
    tokens: int  # generated tokens
    problems: list[str]
    text: str = ""
    generation_tps: float = 0.0  # decoding speed (tokens/s), from mlx-vlm's stats
    prompt_tokens: int = 0
    prompt_tps: float = 0.0


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def score_errors(samples: Sequence[Sample]) -> dict[str, Any]:
    """Per-dimension and overall MAE/MSE (missing predictions imputed), plus valid-only figures."""
    per_dim: dict[str, dict[str, float | None]] = {}
    all_abs, all_sq, valid_abs, valid_sq = [], [], [], []
    for dim in DIMENSIONS:
        abs_errs, sq_errs = [], []
        for s in samples:
            if dim not in s.target:
                continue
            predicted = s.report.scores.get(dim) if s.report is not None else None
            value = IMPUTED_SCORE if predicted is None else float(predicted)
            err = value - float(s.target[dim])
            abs_errs.append(abs(err))
            sq_errs.append(err * err)
            if predicted is not None:
                valid_abs.append(abs(err))
                valid_sq.append(err * err)
        per_dim[dim] = {"mae": _mean(abs_errs), "mse": _mean(sq_errs)}
        all_abs += abs_errs
        all_sq += sq_errs
    return {"per_dimension": per_dim, "mae": _mean(all_abs), "mse": _mean(all_sq),
            "mae_valid_only": _mean(valid_abs), "mse_valid_only": _mean(valid_sq)}


def summarize(samples: Sequence[Sample]) -> dict[str, Any]:
    """Compliance, errors and latency for one model over all samples."""
    n = len(samples)
    valid = sum(1 for s in samples if s.report is not None)
    tokens = sum(s.tokens for s in samples)
    seconds = sum(s.seconds for s in samples)
    decode_s = sum(s.tokens / s.generation_tps for s in samples if s.generation_tps > 0)
    decoded = sum(s.tokens for s in samples if s.generation_tps > 0)
    prefill_s = sum(s.prompt_tokens / s.prompt_tps for s in samples if s.prompt_tps > 0)
    prefilled = sum(s.prompt_tokens for s in samples if s.prompt_tps > 0)
    return {
        "samples": n,
        "valid_reports": valid,
        "format_compliance": valid / n if n else None,
        **score_errors(samples),
        "mean_latency_s": seconds / n if n else None,
        "mean_tokens": tokens / n if n else None,
        "ms_per_token": 1000.0 * decode_s / decoded if decoded else None,
        "prompt_ms_per_token": 1000.0 * prefill_s / prefilled if prefilled else None,
    }


def improvement_pct(base: float | None, tuned: float | None) -> float | None:
    """How much lower the tuned error is, in % of the base error (positive = better)."""
    if base is None or tuned is None or base <= 0:
        return None
    return 100.0 * (base - tuned) / base


def overhead_pct(base: float | None, tuned: float | None) -> float | None:
    """How much slower the tuned model is, in % (negative = faster)."""
    if base is None or tuned is None or base <= 0:
        return None
    return 100.0 * (tuned - base) / base


def compare(base: dict[str, Any], tuned: dict[str, Any]) -> dict[str, Any]:
    return {
        "mse_improvement_pct": improvement_pct(base["mse"], tuned["mse"]),
        "mae_improvement_pct": improvement_pct(base["mae"], tuned["mae"]),
        "per_dimension_mse_improvement_pct": {
            d: improvement_pct(base["per_dimension"][d]["mse"], tuned["per_dimension"][d]["mse"]) for d in DIMENSIONS},
        "format_compliance_change": (None if base["format_compliance"] is None or tuned["format_compliance"] is None
                                     else tuned["format_compliance"] - base["format_compliance"]),
        # Per token: a report's latency depends on how much the model writes, the adapter's cost
        # per token does not. Decoding and prompt processing are measured apart.
        "latency_overhead_pct": overhead_pct(base["ms_per_token"], tuned["ms_per_token"]),
        "prompt_latency_overhead_pct": overhead_pct(base["prompt_ms_per_token"], tuned["prompt_ms_per_token"]),
        "report_latency_overhead_pct": overhead_pct(base["mean_latency_s"], tuned["mean_latency_s"]),
    }
