"""The token budget: the schema's worst case is exact and reachable, and plan_budget fits it to the model."""

from __future__ import annotations

import json

import pytest

from app.engine.critique.budget import (
    BudgetError,
    TokenBudget,
    plan_budget,
    read_report,
    report_schema,
    worst_case_bytes,
    worst_case_tokens,
)
from app.engine.critique.report import DIMENSIONS, parse_partial_report, report_json_schema


def longest_report(chars: int, char: str = "😀") -> str:
    """The longest text the report schema allows: every string full of 4-byte characters."""
    text = char * chars
    report = {"dimensional_analysis": {k: {"score": 10, "comment": text, "recommendation": text} for k in DIMENSIONS},
              "summary": char * (2 * chars)}
    return json.dumps(report, ensure_ascii=False, separators=(", ", ": "))


@pytest.mark.parametrize("chars", [1, 7, 40])
def test_worst_case_bytes_is_exactly_the_longest_report(chars: int) -> None:
    assert worst_case_bytes(report_json_schema(chars)) == len(longest_report(chars).encode())


def test_the_worst_case_is_reachable_under_the_real_grammar_byte_by_byte(tiny_model) -> None:
    """llguidance accepts the longest report spelled one byte per token: the bound is tight for a
    byte-level tokenizer, and nothing longer is accepted."""
    import llguidance as llg

    from app.engine.model.structured import json_schema_logits_processor

    tokenizer = tiny_model[1].tokenizer
    processor = json_schema_logits_processor(tokenizer, report_json_schema(3))
    matcher = llg.LLMatcher(processor.llg_tokenizer, processor.grammar)
    text = longest_report(3).encode()
    byte_tokens = [processor.llg_tokenizer.tokenize_bytes(bytes([b]))[0] for b in text]
    assert all(matcher.consume_token(t) for t in byte_tokens), matcher.get_error()
    assert matcher.is_accepting()
    assert len(byte_tokens) + 1 == worst_case_tokens(report_json_schema(3))  # + end of sequence
    longer = llg.LLMatcher(processor.llg_tokenizer, processor.grammar)
    over = longest_report(4).encode()
    assert not all(longer.consume_token(processor.llg_tokenizer.tokenize_bytes(bytes([b]))[0]) for b in over)


def test_control_characters_are_not_allowed_in_text(tiny_model) -> None:
    import llguidance as llg

    from app.engine.model.structured import json_schema_logits_processor

    processor = json_schema_logits_processor(tiny_model[1].tokenizer, report_json_schema(8))
    prefix = '{"dimensional_analysis": {"composition": {"score": 7, "comment": "a'
    for escape in ("\\n", "\\u0001"):
        matcher = llg.LLMatcher(processor.llg_tokenizer, processor.grammar)
        ids = processor.llg_tokenizer.tokenize_str(prefix + escape)
        assert not all(matcher.consume_token(t) for t in ids)


def test_plan_fits_the_context_by_lowering_the_string_bound() -> None:
    bounded = report_schema(400)
    _, free = plan_budget(bounded, token_bytes=1, prompt_tokens=1000, context=None, user_cap=None)
    assert free.text_chars == 400 and free.max_tokens == free.worst_case_tokens and not free.capped
    schema, fitted = plan_budget(bounded, token_bytes=1, prompt_tokens=1000, context=4096, user_cap=None)
    assert fitted.text_chars < 400 and fitted.requested_text_chars == 400
    assert fitted.prompt_tokens + fitted.worst_case_tokens <= 4096
    assert fitted.prompt_tokens + worst_case_tokens(report_json_schema(fitted.text_chars + 1)) > 4096  # the largest
    assert schema["properties"]["summary"]["maxLength"] == 2 * fitted.text_chars
    _, coarse = plan_budget(bounded, token_bytes=4, prompt_tokens=1000, context=None, user_cap=None)
    assert coarse.worst_case_tokens == -(-worst_case_bytes(report_json_schema(400)) // 4) + 1


def test_plan_honours_a_user_cap_and_refuses_what_cannot_fit() -> None:
    _, capped = plan_budget(report_schema(50), token_bytes=1, prompt_tokens=10, context=None, user_cap=30)
    assert capped.max_tokens == 30 and capped.capped
    with pytest.raises(BudgetError, match="4096-token context"):
        plan_budget(report_schema(50), token_bytes=1, prompt_tokens=4000, context=4096, user_cap=None)
    with pytest.raises(BudgetError, match="maxLength"):
        worst_case_bytes({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False})
    with pytest.raises(BudgetError, match="additionalProperties"):
        worst_case_bytes({"type": "object", "properties": {}})


def test_a_cut_generation_keeps_the_dimensions_that_completed() -> None:
    full = longest_report(5, "a")
    cut = full[: full.index('"lighting"') + 30]  # composition complete, lighting cut mid-comment
    partial = parse_partial_report(cut)
    assert partial is not None and partial.partial and set(partial.dimensions) == {"composition"}
    assert partial.overall_grade == "" and partial.summary == ""
    budget = TokenBudget(max_tokens=40, worst_case_tokens=900, text_chars=5, requested_text_chars=5,
                         prompt_tokens=10, context_tokens=None, user_cap=40)
    report, kept, problems = read_report(cut, "length", budget, 40)
    assert report is None and kept is not None and set(kept.dimensions) == {"composition"}
    assert problems == ["generation stopped at the 40-token limit set by the user (max_tokens), below the 900 "
                        "tokens a complete report can need; 1 of 8 dimensions complete (kept as a partial report)"]
    summary_cut = full[: full.index('"summary"') + 14]
    almost = parse_partial_report(summary_cut)
    assert almost is not None and len(almost.dimensions) == 8 and almost.overall_grade == "A+" and not almost.summary
    assert parse_partial_report('{"dimensional_analysis": {"composition": {"score": 1') is None
    assert parse_partial_report("no json at all") is None
    report, kept, problems = read_report(full, "stop", None, None)
    assert report is not None and kept is None and problems == []
