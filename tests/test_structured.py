"""Constrained JSON decoding on CPU yields reports that parse; free decoding does not."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest

from app.engine.critique.report import DIMENSIONS, GRADES, ReportParseError, parse_report, report_json_schema
from app.engine.model.structured import apply_token_bitmask, json_schema_logits_processor, metal_available

MAX_CHARS = 24


def _prompt(model, processor) -> str:
    import mlx_vlm

    return mlx_vlm.apply_chat_template(processor, model.config, "Critique this photo as JSON.", num_images=1)


def test_bitmask_unpacking_matches_the_bit_layout() -> None:
    import mlx.core as mx

    rng = np.random.default_rng(0)
    vocab = 70  # not a multiple of 32, and the mask has a spare word
    allowed = rng.random((2, 96)) < 0.5
    words = np.zeros((2, 3), dtype=np.uint32)
    for b, t in zip(*np.nonzero(allowed), strict=True):
        words[b, t // 32] |= np.uint32(1) << np.uint32(t % 32)
    logits = mx.array(rng.standard_normal((2, vocab)).astype(np.float32))
    out = np.array(apply_token_bitmask(logits, mx.array(words.view(np.int32))))
    expected = np.where(allowed[:, :vocab], np.array(logits), -np.inf)
    np.testing.assert_array_equal(out, expected)
    one = np.array(apply_token_bitmask(logits[0], mx.array(words[0].view(np.int32))))
    np.testing.assert_array_equal(one, expected[0])


def test_tokens_past_the_mask_are_disallowed() -> None:
    import mlx.core as mx

    out = apply_token_bitmask(mx.zeros((40,)), mx.array([-1], dtype=mx.int32))
    assert np.isfinite(np.array(out[:32])).all() and np.isneginf(np.array(out[32:])).all()


@pytest.mark.skipif(sys.platform == "darwin", reason="Linux/CPU MLX has no Metal")
def test_cpu_processor_is_mlx_vlms_with_cpu_masking(tiny_model) -> None:
    from mlx_vlm.structured import LLGuidanceLogitsProcessor

    assert not metal_available()
    proc = json_schema_logits_processor(tiny_model[1].tokenizer, {"type": "object"})
    assert isinstance(proc, LLGuidanceLogitsProcessor)
    assert type(proc.clone()) is type(proc)


def test_schema_must_be_a_dict(tiny_model) -> None:
    with pytest.raises(TypeError, match="schema must be a dict"):
        json_schema_logits_processor(tiny_model[1].tokenizer, "not a schema")  # type: ignore[arg-type]


def test_constrained_generation_gives_a_full_valid_report(tiny_model, tiny_image) -> None:
    import mlx_vlm

    model, processor = tiny_model
    processor_fn = json_schema_logits_processor(processor.tokenizer, report_json_schema(max_text_chars=MAX_CHARS))
    start = time.perf_counter()
    results = list(mlx_vlm.stream_generate(model, processor, _prompt(model, processor), image=[tiny_image],
                                           max_tokens=2000, temperature=0.0, logits_processors=[processor_fn]))
    elapsed = time.perf_counter() - start
    text = "".join(r.text for r in results)
    assert results[-1].finish_reason == "stop", f"ran out of tokens after {results[-1].generation_tokens}"
    report = parse_report(text)
    assert set(report.dimensions) == set(DIMENSIONS)
    assert report.overall_grade in GRADES
    data = json.loads(text)  # exactly the JSON, nothing around it
    for entry in data["dimensional_analysis"].values():
        assert isinstance(entry["score"], int) and 0 <= entry["score"] <= 10
        assert 1 <= len(entry["comment"]) <= MAX_CHARS and 1 <= len(entry["recommendation"]) <= MAX_CHARS
    assert 1 <= len(data["summary"]) <= 2 * MAX_CHARS
    assert results[-1].generation_tokens < 1000
    assert elapsed < 60  # generous: about 0.3 s for ~300 tokens on 2 CPU cores


def test_unconstrained_random_output_does_not_parse(tiny_model, tiny_image) -> None:
    import mlx_vlm

    model, processor = tiny_model
    result = mlx_vlm.generate(model, processor, _prompt(model, processor), image=[tiny_image],
                              max_tokens=40, temperature=0.0)
    with pytest.raises(ReportParseError) as info:
        parse_report(result.text)
    assert info.value.raw_text == result.text
