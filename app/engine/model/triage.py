"""The triage pass on the model: frames scored together in one batch at the triage edge.

One constrained generation per frame (critique/triage.py's schema and prompt), decoded with
forced tokens skipped like every constrained request, batched through the host's batch path,
the digit distributions at the score positions collected by the decode loop's inspector.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from app.engine.advisors import Advisor
from app.engine.critique.report import DIMENSIONS
from app.engine.critique.triage import (
    ScoreSteps,
    TriageScores,
    read_scores,
    score_pieces,
    triage_edge,
    triage_prompt,
    triage_schema,
)
from app.engine.model.cancel import CancelScope
from app.engine.model.host import GenerationOutput, GenerationRequest, ModelHost, new_request_id
from app.engine.model.weights_ref import AdapterRef

TRIAGE_MAX_TOKENS = 400  # far above the answer's worst case (eight keys, eight 2-digit scores)


def scaled(image: Image.Image, edge: int) -> Image.Image:
    """``image`` with its long edge at most ``edge`` (a copy; the caller's image is untouched)."""
    if max(image.size) <= edge:
        return image
    out = image.copy()
    out.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    return out


def triage_frames(host: ModelHost, images: Sequence[Image.Image], advisor: Advisor, *,
                  facts: Sequence[Sequence[str]] | None = None, edge_setting: int = 0, adapter: AdapterRef | None = None,
                  scope: CancelScope | None = None) -> list[TriageScores | BaseException]:
    """Score ``images`` (one batch, greedy) with ``advisor`` on ``adapter``'s weights; per frame
    its scores or the exception that frame raised. Raises CancelledError when ``scope`` is."""
    scope = scope or CancelScope()
    loaded = scope.wait(host.load())
    edge = triage_edge(loaded.model.config, edge_setting)
    tokenizer = getattr(loaded.processor, "tokenizer", loaded.processor)
    pieces = score_pieces(tokenizer)
    collectors = [ScoreSteps(lambda ids: str(tokenizer.decode(ids)), pieces) for _ in images]
    requests = [GenerationRequest(prompt=triage_prompt(advisor, facts=facts[i] if facts else ()),
                                  image=scaled(image, edge), max_tokens=TRIAGE_MAX_TOKENS, temperature=0.0,
                                  schema=triage_schema(), request_id=new_request_id("triage"), adapter=adapter,
                                  inspect=collectors[i])
                for i, image in enumerate(images)]
    handles = host.generate_batch(requests)
    outputs: list[GenerationOutput | BaseException] = []
    try:
        for handle in handles:
            try:
                outputs.append(scope.wait(handle))
            except Exception as exc:  # noqa: BLE001 - one frame's failure is that frame's result
                outputs.append(exc)
    except BaseException:
        for handle in handles:
            handle.cancel()
        raise
    results: list[TriageScores | BaseException] = []
    for output, steps in zip(outputs, collectors, strict=True):
        if isinstance(output, BaseException):
            results.append(output)
            continue
        try:
            scores = read_scores(output.text)
        except ValueError as exc:
            results.append(exc)
            continue
        expected = steps.expected()
        by_dim = dict(zip(DIMENSIONS, expected, strict=False)) if len(expected) == len(DIMENSIONS) else {}
        results.append(TriageScores(scores=scores, expected=by_dim, stats=output.stats, edge=edge))
    return results
