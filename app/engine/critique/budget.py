"""The token budget of a constrained report, derived from the schema and the loaded tokenizer.

Constrained decoding only guarantees a complete report if the generation limit is at least the
longest output the grammar allows. That length is computable: the report schema fixes the
structure (mlx-vlm compiles it with fixed separators and no free whitespace), bounds every string
in characters (``maxLength``) and, through :data:`TEXT_PATTERN`, bans control characters, so a
character costs at most 4 bytes (UTF-8) and an escape (``\\"``, ``\\\\``) 2. Every ordinary token
spells at least one byte, so the worst case in tokens is the worst case in bytes divided by the
tokenizer's shortest token (1 byte for byte-level vocabularies, where the bound is reached by a
model writing byte by byte), plus the end-of-sequence token.

The user's setting stays in characters (``max_text_chars``); the budget follows. When the worst
case does not fit in the model's context window after the prompt, the string bound is lowered
until it does (:func:`plan_budget`), so the two are always derived together. A user's explicit
token cap below the worst case is honoured, and a cut generation is reported as exactly that.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from app.engine.critique.report import (
    DIMENSIONS,
    TEXT_PATTERN,
    Report,
    ReportParseError,
    parse_partial_report,
    parse_report,
    report_json_schema,
)

# TEXT_PATTERN bans control characters (so no \n or \u00XX escapes, 6 bytes each).
_BYTES_PER_CHAR = {TEXT_PATTERN: 4}  # UTF-8 at most 4 bytes; the escapes left (\" and \\) are 2
_ANY_JSON_CHAR_BYTES = 6  # llguidance allows \u00XX for control characters


class BudgetError(ValueError):
    """No complete report can fit: the schema is unbounded, or the context is too small."""


@dataclass(frozen=True)
class BoundedSchema:
    """A family of JSON schemas indexed by their string bound, so the bound can be lowered to fit."""

    build: Callable[[int], dict[str, Any]]
    max_text_chars: int

    def schema(self, chars: int | None = None) -> dict[str, Any]:
        return self.build(self.max_text_chars if chars is None else chars)


def report_schema(max_text_chars: int) -> BoundedSchema:
    """The report schema with the user's string bound, lowerable to fit the model's context."""
    return BoundedSchema(report_json_schema, max_text_chars)


@dataclass(frozen=True)
class TokenBudget:
    """How a generation's limit was chosen, carried with its output."""

    max_tokens: int            # the limit the generation ran with
    worst_case_tokens: int     # the longest output the schema allows, in this tokenizer's tokens
    text_chars: int            # the string bound of the schema used
    requested_text_chars: int  # the user's setting (higher when the context forced it down)
    prompt_tokens: int
    context_tokens: int | None  # the model's context window, when it declares one
    user_cap: int | None        # an explicit --max-tokens / setting, if any

    @property
    def capped(self) -> bool:
        """True when the user's cap is below the worst case: the report may be cut."""
        return self.max_tokens < self.worst_case_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def worst_case_bytes(schema: dict[str, Any]) -> int:
    """The longest JSON text (in UTF-8 bytes) that matches ``schema`` as mlx-vlm compiles it.

    Covers what a report schema uses: objects with listed properties (``additionalProperties``
    false), strings with ``maxLength`` or ``enum``, bounded integers. Anything unbounded raises
    :class:`BudgetError` naming the part, because its generation could never be guaranteed to end.
    """
    return _walk(schema, "$")


def _walk(node: dict[str, Any], where: str) -> int:
    if "enum" in node:
        return max(len(json.dumps(v, ensure_ascii=False).encode()) for v in node["enum"])
    kind = node.get("type")
    if kind == "object":
        props = node.get("properties", {})
        if node.get("additionalProperties", True) is not False:
            raise BudgetError(f"{where}: an object must set additionalProperties to false to be bounded")
        members = [len(json.dumps(k, ensure_ascii=False).encode()) + 2 + _walk(v, f"{where}.{k}")
                   for k, v in props.items()]  # "key": value
        return 2 + sum(members) + 2 * max(len(members) - 1, 0)  # braces and ", " separators
    if kind == "string":
        if "maxLength" not in node:
            raise BudgetError(f"{where}: a string needs maxLength to be bounded")
        per_char = _BYTES_PER_CHAR.get(node.get("pattern", ""), _ANY_JSON_CHAR_BYTES)
        return 2 + int(node["maxLength"]) * per_char
    if kind == "integer":
        if "minimum" not in node or "maximum" not in node:
            raise BudgetError(f"{where}: an integer needs minimum and maximum to be bounded")
        return max(len(str(int(node["minimum"]))), len(str(int(node["maximum"]))))
    if kind == "boolean":
        return 5
    raise BudgetError(f"{where}: cannot bound a schema of type {kind!r}")


def min_token_bytes(llg_tokenizer: Any) -> int:
    """The fewest bytes an ordinary (non-special) token of the tokenizer spells (1 for byte-level BPE).

    ``llg_tokenizer`` is llguidance's view of the tokenizer (mlx-vlm builds and caches it), which
    knows each token's exact bytes. A vocabulary with an empty ordinary token has no bound.
    """
    sizes = [len(llg_tokenizer.decode_bytes([t])) for t in range(llg_tokenizer.vocab_size)
             if not llg_tokenizer.is_special_token(t)]
    shortest = min(sizes, default=0)
    if shortest < 1:
        raise BudgetError("the tokenizer has an ordinary token that spells no bytes: output length is unbounded")
    return shortest


def worst_case_tokens(schema: dict[str, Any], token_bytes: int = 1) -> int:
    """The most tokens a generation matching ``schema`` can take, end-of-sequence included."""
    return math.ceil(worst_case_bytes(schema) / token_bytes) + 1


def context_window(config: Any) -> int | None:
    """The model's context length from its config (text settings first), or None if not declared."""
    for part in (getattr(config, "text_config", None), config):
        if part is None:
            continue
        value = part.get("max_position_embeddings") if isinstance(part, dict) else \
            getattr(part, "max_position_embeddings", None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def plan_budget(bounded: BoundedSchema, *, token_bytes: int, prompt_tokens: int, context: int | None,
                user_cap: int | None) -> tuple[dict[str, Any], TokenBudget]:
    """The schema to constrain with and the generation limit, so the report always completes.

    The string bound is the user's ``max_text_chars`` unless the worst case would overflow the
    context after ``prompt_tokens``; then the largest bound that fits. ``user_cap`` (None/0: none)
    lowers the limit below the worst case only when the user asked for it.
    """
    chars = bounded.max_text_chars
    if chars < 1:
        raise BudgetError(f"max_text_chars must be at least 1, not {chars}")

    def cost(n: int) -> int:
        return worst_case_tokens(bounded.schema(n), token_bytes)

    worst = cost(chars)
    if context is not None and prompt_tokens + worst > context:
        room = context - prompt_tokens
        if cost(1) > room:
            raise BudgetError(
                f"the prompt takes {prompt_tokens} of the model's {context}-token context, leaving {max(room, 0)}: "
                f"too few for a report (at least {cost(1)} tokens with one-character comments)")
        lo, hi = 1, chars  # cost is increasing in n: the largest n with cost(n) <= room
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if cost(mid) <= room else (lo, mid - 1)
        chars, worst = lo, cost(lo)
    cap = user_cap if user_cap and user_cap > 0 else None
    budget = TokenBudget(max_tokens=min(worst, cap) if cap else worst, worst_case_tokens=worst, text_chars=chars,
                         requested_text_chars=bounded.max_text_chars, prompt_tokens=prompt_tokens,
                         context_tokens=context, user_cap=cap)
    return bounded.schema(chars), budget


def cut_off_problem(budget: TokenBudget | None, limit: int, complete: int, total: int) -> str:
    """The one sentence a truncated report carries: where it stopped, why, and what was kept."""
    kept = f"{complete} of {total} dimensions complete (kept as a partial report)"
    if budget is not None and budget.capped:
        return (f"generation stopped at the {limit}-token limit set by the user (max_tokens), below the "
                f"{budget.worst_case_tokens} tokens a complete report can need; {kept}")
    return f"generation stopped at the {limit}-token limit before the report closed; {kept}"


def read_report(text: str, finish_reason: str, budget: TokenBudget | None,
                limit: int | None) -> tuple[Report | None, Report | None, list[str]]:
    """Parse a generation: (the report, or None; what a cut-off one completed; the problems).

    A generation that hit its token limit keeps the dimensions that completed as a partial
    report, and the problems say exactly where and why it stopped."""
    try:
        return parse_report(text), None, []
    except ReportParseError as exc:
        problems = list(exc.problems)
    partial = None
    if finish_reason == "length":
        partial = parse_partial_report(text)
        done = len(partial.dimensions) if partial else 0
        problems = [cut_off_problem(budget, limit or 0, done, len(DIMENSIONS))]
    return None, partial, problems
