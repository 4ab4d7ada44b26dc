"""A stored job rebuilt into what a follow-up needs, and the conversation fitted to the context.

The follow-up must see the photo exactly as the critique did (the same prepared pixels: the prefix
cache is keyed by them), the same critique prompt (persona, measured facts, RAG references as
stored with the job), the report as the model wrote it, and the same weights (the adapter that
answered). :func:`fit_conversation` then drops the oldest exchanges until the prompt and the
answer fit in the model's context window, counting tokens exactly as the model host will.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import AdapterStoreError, adapter_ref
from app.engine.advisors import Advisor
from app.engine.conversation.prompt import ConversationPrompt, Turn, conversation_prompt, image_placement
from app.engine.critique.budget import context_window
from app.engine.critique.prompts import Prompt, ReferenceContext, critique_prompt
from app.engine.model.host import LoadedModel, render_prompt
from app.engine.model.weights_ref import AdapterRef
from app.engine.photos.prepare import PreparedPhoto
from app.engine.rag.index import NOTE_CHARS
from app.engine.store.database import JobRow
from app.engine.vocabulary import ModelUsed

MIN_ANSWER_TOKENS = 16  # below this much room an answer is not worth starting


class ConversationError(ValueError):
    """A follow-up cannot be asked (bad question, no report, no room); the message says why."""


class PhotoMissingError(ConversationError):
    """The job's photo is not where it was critiqued; ``path`` is where it was."""

    def __init__(self, job_id: str, path: str):
        self.job_id, self.path = job_id, path
        if path.startswith("upload:"):
            super().__init__(f"the photo of job {job_id[:8]} was uploaded ({path[7:]}) and not kept; locate the "
                             "file on this machine to talk about it")
        else:
            super().__init__(f"the photo of job {job_id[:8]} is no longer at {path}; locate it")


@dataclass
class JobContext:
    """Everything a follow-up on one job needs, rebuilt once and reused for the next question."""

    job: JobRow
    advisor: Advisor
    photo: Path
    prepared: PreparedPhoto
    critique: Prompt
    report_text: str
    adapter: AdapterRef | None  # None = the base model
    notice: str | None = None  # e.g. the adapter that answered is gone
    image_first: bool | None = None  # where the family's template puts the photo (found on the model thread)
    image_token_delta: int | None = None  # prepared prompt length minus the text's own tokens


def references_of(job: JobRow) -> list[ReferenceContext]:
    """The RAG references the critique's prompt carried, from the job's stored details."""
    out = []
    for ref in job.details.get("references") or []:
        if not isinstance(ref, dict) or not ref.get("name"):
            continue
        note = str(ref.get("summary") or "").strip()
        if len(note) > NOTE_CHARS:
            note = note[:NOTE_CHARS - 1].rstrip() + "…"
        scores = {k: float(v) for k, v in (ref.get("scores") or {}).items() if isinstance(v, int | float)}
        out.append(ReferenceContext(name=str(ref["name"]), scores=scores, note=note))
    return out


def rebuilt_critique_prompt(job: JobRow, advisor: Advisor, prepared: PreparedPhoto) -> Prompt:
    return critique_prompt(advisor, facts=prepared.facts, references=references_of(job))


def adapter_of(job: JobRow) -> tuple[AdapterRef | None, str | None]:
    """The weights that wrote the critique (None = base), and a notice when they are gone."""
    fine = job.model_used in (ModelUsed.FINE_TUNED.value, ModelUsed.AB_TEST_FINE_TUNED.value)
    version = job.adapter_version
    if not fine or not version:
        return None, None
    if re.fullmatch(r"v\d+", version):
        try:
            return adapter_versions.get_version(job.advisor_id, version).ref, None
        except (AdapterStoreError, KeyError, OSError):
            return None, (f"adapter {version} of {job.advisor_id!r}, which wrote this critique, is gone: the base "
                          "model answers instead")
    folder = Path(version)
    if not folder.is_dir():
        return None, f"the adapter folder {version} that wrote this critique is gone: the base model answers instead"
    return adapter_ref(folder), None


@dataclass
class FittedPrompt:
    prompt: ConversationPrompt
    dropped: int  # oldest exchanges left out
    prompt_tokens: int
    max_tokens: int
    context_tokens: int | None


def _text_tokens(loaded: LoadedModel, text: str) -> int:
    tokenizer = getattr(loaded.processor, "tokenizer", loaded.processor)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _calibrate(loaded: LoadedModel, ctx: JobContext) -> None:
    """Where the photo goes, and how many tokens it adds to a prompt, for this model (once per job)."""
    from mlx_vlm.utils import prepare_inputs, should_add_special_tokens

    def render(p: Prompt) -> str:
        return render_prompt(loaded.processor, loaded.model.config, p)

    if ctx.image_first is None:
        ctx.image_first = image_placement(render, ctx.critique)
    if ctx.image_token_delta is None:
        config = loaded.model.config
        head = render(ctx.critique)
        inputs = prepare_inputs(loaded.processor, images=[ctx.prepared.image], prompts=head,
                                image_token_index=getattr(config, "image_token_index", None),
                                add_special_tokens=should_add_special_tokens(config.model_type, loaded.processor))
        ctx.image_token_delta = int(inputs["input_ids"].shape[-1]) - _text_tokens(loaded, head)


def fit_conversation(loaded: LoadedModel, ctx: JobContext, turns: Sequence[Turn], request: str,
                     answer_cap: int) -> FittedPrompt:
    """The longest tail of ``turns`` whose prompt leaves ``answer_cap`` tokens (or at least
    :data:`MIN_ANSWER_TOKENS` with no turns left) in the model's context. Runs on the model thread."""
    _calibrate(loaded, ctx)
    context = context_window(loaded.model.config)
    assert ctx.image_token_delta is not None
    last: tuple[ConversationPrompt, int, int] | None = None
    for start in range(len(turns) + 1):
        prompt = conversation_prompt(ctx.critique, ctx.report_text, ctx.advisor, turns[start:], request,
                                     image_first=bool(ctx.image_first))
        tokens = _text_tokens(loaded, render_prompt(loaded.processor, loaded.model.config, prompt)) \
            + ctx.image_token_delta
        last = (prompt, start, tokens)
        if context is None or tokens + answer_cap <= context:
            return FittedPrompt(prompt, start, tokens, answer_cap, context)
    assert last is not None and context is not None
    prompt, start, tokens = last
    room = context - tokens
    if room < MIN_ANSWER_TOKENS:
        raise ConversationError(f"the critique and this question take {tokens} of the model's {context}-token "
                                f"context, leaving {max(room, 0)} tokens: too few to answer; ask a shorter question")
    return FittedPrompt(prompt, start, tokens, room, context)
