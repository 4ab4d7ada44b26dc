"""Talking to the advisor about one critique: follow-up questions and a suggested crop.

:class:`Conversations` is what every front end calls (the window, ``ask``/``crop`` on the command
line, ``POST /jobs/{id}/messages`` and ``/crop``). Each exchange is stored with the job before the
model runs (nothing is lost when it fails or is cancelled), streamed token by token, cancellable
at any token, and reuses the critique's K/V: the conversation prompt extends the critique prompt
(see :mod:`~app.engine.conversation.prompt`), on the same prepared photo and the same weights.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine.advisors import AdvisorError, get_advisor
from app.engine.conversation.context import (
    ConversationError,
    FittedPrompt,
    JobContext,
    PhotoMissingError,
    fit_conversation,
    rebuilt_critique_prompt,
)
from app.engine.conversation.coordinates import Frame, convention_for, resized_frame
from app.engine.conversation.crop import CropError, CropSuggestion, crop_schema, suggestion_from_answer
from app.engine.conversation.crop_export import export_crop
from app.engine.conversation.job_target import JobTarget, resolve_job, same_model
from app.engine.conversation.prompt import Turn, crop_instruction
from app.engine.critique.budget import worst_case_tokens
from app.engine.critique.result import CritiqueResult, GenerationStats
from app.engine.model.cancel import CancelScope
from app.engine.model.host import (
    CancelledError,
    GenerationRequest,
    LoadedModel,
    TokenCallback,
    new_request_id,
)
from app.engine.photos.decode import ImageLoadError
from app.engine.photos.prepare import prepare_photo
from app.engine.service import MondrianService
from app.engine.store.database import JobRow, Store, TurnRow

MAX_QUESTION_CHARS = 2000
DEFAULT_ANSWER_TOKENS = 400  # "a few sentences"; the context window lowers it when it must


def check_question(question: Any) -> str:
    """The question, stripped. Raises ConversationError when it is empty, not text or too long."""
    if not isinstance(question, str):
        raise ConversationError(f"the question must be text, not {type(question).__name__}")
    text = question.strip()
    if not text:
        raise ConversationError("the question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise ConversationError(f"the question is {len(text)} characters; at most {MAX_QUESTION_CHARS}")
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise ConversationError("the question holds control characters")
    return text


@dataclass
class Answer:
    """One finished exchange: the stored turn, what the model spent, and what the user is told."""

    turn: TurnRow
    stats: GenerationStats
    dropped_turns: int = 0
    notices: list[str] = field(default_factory=list)
    crop: CropSuggestion | None = None

    @property
    def text(self) -> str:
        return self.turn.answer

    def to_dict(self) -> dict[str, Any]:
        return {"turn": self.turn.to_dict(), "answer": self.text, "stats": self.stats.to_dict(),
                "dropped_turns": self.dropped_turns, "notices": self.notices,
                "crop": self.crop.to_dict() if self.crop else None}


def cut_notice(max_tokens: int | None) -> str:
    """Said under an answer that stopped at its token limit, not at its end."""
    limit = f"the {max_tokens}-token limit" if max_tokens else "its token limit"
    return (f"The answer was cut off at {limit}: ask the advisor to go on, or allow longer answers "
            "(Settings › max tokens)")


def dropped_notice(dropped: int, context: int | None) -> str:
    return (f"{dropped} earlier exchange{'s' if dropped != 1 else ''} no longer fit in the model's "
            f"{context}-token context and {'were' if dropped != 1 else 'was'} left out of this answer's context "
            "(the oldest go first; they stay in the history)")


class Conversations:
    """Follow-ups on stored jobs of ``service`` (its store, model host and settings)."""

    def __init__(self, service: MondrianService):
        self.service = service
        self._lock = threading.Lock()
        self._contexts: dict[str, tuple[tuple[str, float], JobContext]] = {}

    @property
    def store(self) -> Store:
        store = self.service.store
        if store is None:
            raise ConversationError("job history is off, so there is no job to talk about")
        return store

    # ---- reading -----------------------------------------------------------------------------
    def turns(self, job_id: str) -> list[TurnRow]:
        return self.store.conversations.list_turns(self.store.jobs.resolve_job_id(job_id))

    def context(self, job_id: str, photo: str | Path | None = None) -> JobContext:
        """The job rebuilt for a follow-up (cached per job, photo file and its modification time):
        its photo checked by content, its adapter, and a notice when another model than the one that
        wrote the critique is loaded. Raises JobNotFoundError, PhotoMissingError (PhotoChangedError),
        ConversationError, ImageLoadError."""
        with self._lock:
            cached = self._contexts.get(self.store.jobs.resolve_job_id(job_id))
        target = resolve_job(self.store, job_id, photo, checked=cached[0] if cached else None)
        job, path = target.job, target.photo
        key = (str(path.resolve()), path.stat().st_mtime)
        if cached is not None and cached[0] == key:
            cached[1].job = job
            return cached[1]
        try:
            advisor = get_advisor(job.advisor_id)
        except AdvisorError as exc:
            raise ConversationError(f"the advisor of job {job.id[:8]} cannot be loaded: {exc}") from exc
        prepared = prepare_photo(path, self.service.settings)
        notices = [n for n in (target.notice, self._model_notice(target)) if n]
        ctx = JobContext(job=job, advisor=advisor, photo=path, prepared=prepared,
                         critique=rebuilt_critique_prompt(job, advisor, prepared),
                         report_text=job.raw_output or job.report.to_json(),  # type: ignore[union-attr]
                         adapter=target.adapter, notice="; ".join(notices) or None)
        with self._lock:
            self._contexts[job.id] = (key, ctx)
        return ctx

    def _model_notice(self, target: JobTarget) -> str | None:
        loaded = self.service.settings.model
        if same_model(target.model_ref, loaded):
            return None
        return (f"this critique was written by the model {target.model_ref}; {loaded} answers now (start "
                f"the conversation with --model {target.model_ref}, or switch the model, to keep its voice)")

    @staticmethod
    def history(turns: list[TurnRow]) -> list[Turn]:
        """The exchanges that go back into the prompt: finished ones, as the model saw them."""
        return [(str(t.details.get("request") or t.question), t.answer) for t in turns if t.done]

    # ---- asking ------------------------------------------------------------------------------
    def ask(self, job_id: str, question: str, *, on_token: TokenCallback | None = None,
            scope: CancelScope | None = None, photo: str | Path | None = None,
            max_tokens: int | None = None) -> Answer:
        """Ask about the job's critique; the answer streams through ``on_token``. Raises
        ConversationError/PhotoMissingError/JobNotFoundError on bad input, CancelledError when
        cancelled (the partial answer is stored)."""
        text = check_question(question)
        ctx = self.context(job_id, photo)
        cap = max_tokens or DEFAULT_ANSWER_TOKENS
        return self._exchange(ctx, "question", text, text, cap, on_token, scope, None)

    def suggest_crop(self, job_id: str, aspect: str | None = None, *, scope: CancelScope | None = None,
                     photo: str | Path | None = None, on_token: TokenCallback | None = None) -> Answer:
        """A crop box from the model (constrained JSON), mapped to the original's pixels and checked.
        Raises CropError when the model's box is unusable (the failed turn is stored, the rest kept)."""
        from app.engine.conversation.crop import parse_aspect

        parse_aspect(aspect)  # a bad aspect fails before anything is stored
        ctx = self.context(job_id, photo)
        frame = self.service.run_on_model(lambda loaded: self._frame(loaded, ctx)).result()
        request = crop_instruction(aspect, frame.convention.describe((frame.width, frame.height)))
        label = "Suggest a crop" + (f" ({aspect})" if aspect else "")
        return self._exchange(ctx, "crop", label, request, None, on_token, scope, (frame, aspect))

    def _frame(self, loaded: LoadedModel, ctx: JobContext) -> Frame:
        convention = convention_for(str(loaded.model.config.model_type))
        if convention.value == "grid_1000":
            return Frame.grid()
        from mlx_vlm.utils import prepare_inputs

        inputs = prepare_inputs(loaded.processor, images=[ctx.prepared.image], prompts="x",
                                image_token_index=getattr(loaded.model.config, "image_token_index", None))
        return resized_frame(loaded.processor, inputs)

    def _exchange(self, ctx: JobContext, kind: str, label: str, request: str, cap: int | None,
                  on_token: TokenCallback | None, scope: CancelScope | None,
                  crop: tuple[Frame, str | None] | None) -> Answer:
        store = self.store
        history = self.history(store.conversations.list_turns(ctx.job.id))
        turn = store.conversations.add_turn(ctx.job.id, label, kind=kind)
        pieces: list[str] = []

        def collect(request_id: str, chunk: str) -> None:
            pieces.append(chunk)
            if on_token is not None:
                on_token(request_id, chunk)

        details: dict[str, Any] = {"request": request} if request != label else {}
        scope = scope or CancelScope()
        source = ctx.prepared.source
        original = (source.width, source.height) if source else ctx.prepared.image.size
        try:
            # A crop's limit comes from its schema: leave room for its shortest complete answer.
            room = cap if cap is not None or crop is None else worst_case_tokens(crop_schema(crop[0], original).schema(1))
            fitted: FittedPrompt = scope.wait(self.service.run_on_model(
                lambda loaded: fit_conversation(loaded, ctx, history, request, room or 0)))
            gen = GenerationRequest(prompt=fitted.prompt, image=ctx.prepared.image,
                                    temperature=self.service.settings.temperature, on_token=collect,
                                    request_id=new_request_id(kind), adapter=ctx.adapter)
            if crop is None:
                gen.max_tokens = fitted.max_tokens
            else:
                gen.schema = crop_schema(crop[0], original)
            start = time.perf_counter()
            output = scope.wait(self.service.host.generate(gen))
            details.update(stats=output.stats.to_dict(), dropped_turns=fitted.dropped,
                           context_tokens=fitted.context_tokens, wall_s=time.perf_counter() - start,
                           finish_reason=output.finish_reason)
            notices = [n for n in (ctx.notice,) if n]
            if output.finish_reason == "length" and crop is None:
                notices.append(cut_notice(gen.max_tokens))
            if fitted.dropped:
                notices.append(dropped_notice(fitted.dropped, fitted.context_tokens))
            details["notices"] = notices
            suggestion = None
            if crop is not None:
                suggestion = suggestion_from_answer(output.text, crop[0], original, crop[1])
                details["crop"] = suggestion.to_dict()
            done = store.conversations.finish_turn(turn.id, answer=output.text, status="done", details=details)
            return Answer(done, output.stats, fitted.dropped, notices, suggestion)
        except CancelledError:
            store.conversations.finish_turn(turn.id, answer="".join(pieces), status="cancelled", error="cancelled", details=details)
            raise
        except BaseException as exc:
            details.setdefault("answer_so_far", "".join(pieces))
            store.conversations.finish_turn(turn.id, answer="".join(pieces) if crop is None else "", status="failed",
                              error=str(exc) or type(exc).__name__, details=details)
            raise

    # ---- the crop's file ---------------------------------------------------------------------
    def export_crop(self, job_id: str, suggestion: CropSuggestion, dest: str | Path | None = None,
                    photo: str | Path | None = None) -> Path:
        """Write the crop as a new file beside the original (or at ``dest``). Raises CropError. The
        crop turn then records the box that was exported (the model's stays as ``model_crop``), so a
        reopen shows the crop as adjusted and every export of the conversation names that box."""
        ctx = self.context(job_id, photo)
        path = export_crop(ctx.photo, suggestion.box, suggestion.original_size, Path(dest) if dest else None)
        store = self.store
        for turn in reversed(self.turns(job_id)):
            if turn.kind == "crop" and turn.done and isinstance(turn.details.get("crop"), dict):
                details = dict(turn.details)
                details.setdefault("model_crop", details["crop"])
                details["crop"] = suggestion.to_dict()
                details["exported"] = [*details.get("exported", []), {"path": str(path), **suggestion.to_dict()["box"]}]
                store.conversations.update_turn_details(turn.id, details)
                break
        return path

    def latest_crop(self, job_id: str) -> CropSuggestion | None:
        for turn in reversed(self.turns(job_id)):
            if turn.kind == "crop" and turn.done and isinstance(turn.details.get("crop"), dict):
                return CropSuggestion.from_dict(turn.details["crop"])
        return None

    def recritique(self, job: JobRow, path: Path, *, on_token: TokenCallback | None = None,
                   scope: CancelScope | None = None) -> CritiqueResult:
        """Critique an exported crop with the job's advisor and mode (a new job)."""
        return self.service.critique(path, job.advisor_id, job.requested_mode, on_token=on_token, scope=scope)


__all__ = ["Answer", "ConversationError", "Conversations", "CropError", "ImageLoadError", "PhotoMissingError",
           "check_question"]
