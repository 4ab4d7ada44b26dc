"""Follow-up questions on a critique, on the tiny real model: a three-turn conversation stored,
reopened by a new service and exported; the K/V of the critique reused (prompt tokens recomputed
per follow-up ~ the question's own); cancel at a token; bad input kept out, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from app.engine.conversation.context import ConversationError, PhotoMissingError
from app.engine.conversation.prompt import follow_up_instruction
from app.engine.conversation.session import MAX_QUESTION_CHARS, Conversations, cut_notice
from app.engine.model.cancel import CancelScope
from app.engine.model.host import CancelledError
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.rows import JobNotFoundError

TEMPLATE_SLACK = 40  # the chat template's tokens around a turn (role names, separators)


def _service(model_dir: Path) -> MondrianService:
    return MondrianService(Settings(model=str(model_dir), max_text_chars=24, max_tokens=2000))


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "street.jpg"
    img = Image.new("RGB", (120, 80))
    img.putdata([((x * 2) % 256, (y * 3) % 256, (x * y) % 256) for y in range(80) for x in range(120)])
    img.save(path, "JPEG", quality=92)
    return path


@pytest.fixture
def critiqued(home: Path, tiny_model_dir: Path, photo: Path):
    service = _service(tiny_model_dir)
    result = service.critique(photo, "ansel", "baseline")
    assert result.ok and result.job_id
    yield service, result
    service.close()


def test_three_turns_stream_reuse_the_critique_cache_and_are_stored(critiqued, tiny_model_dir, photo):
    service, result = critiqued
    talk = Conversations(service)
    questions = ["Why only this score for composition?", "What would you crop?", "Would it work in black and white?"]
    streamed: list[str] = []
    answers = []
    for i, question in enumerate(questions):
        chunks: list[str] = []
        answer = talk.ask(result.job_id, question, max_tokens=12, on_token=lambda _r, t, c=chunks: c.append(t))
        assert "".join(chunks) == answer.text  # the answer streamed token by token is the answer stored
        streamed.append(answer.text)
        answers.append(answer)
        stats = answer.stats
        recomputed = stats.prompt_tokens - stats.cached_prompt_tokens
        own = len(question) + (len(follow_up_instruction(talk.context(result.job_id).advisor)) if i == 0 else 0)
        # the tiny tokenizer spells one token per character: the question (and the previous answer) is all
        # that is prefilled; the photo, the facts, the critique prompt and the report come from the cache
        assert stats.cached_prompt_tokens > result.stats.prompt_tokens
        assert recomputed <= own + (len(answers[i - 1].text) if i else 0) + TEMPLATE_SLACK, (i, recomputed, own)
    turns = talk.turns(result.job_id)
    assert [t.question for t in turns] == questions
    assert [t.status for t in turns] == ["done"] * 3
    assert [t.answer for t in turns] == streamed
    assert answers[2].dropped_turns == 0
    # random weights rarely stop on their own: an answer cut at its limit says so, and only then
    assert all(a.notices == ([cut_notice(a.stats.generation_tokens)] if a.notices else []) for a in answers)

    reopened = _service(tiny_model_dir)  # a new process: the history comes back from the database
    try:
        again = Conversations(reopened)
        assert [t.answer for t in again.turns(result.job_id[:8])] == streamed
        from app.engine.critique.export import to_markdown
        from app.engine.critique.result import CritiqueResult

        job = reopened.store.jobs.get_job(result.job_id)
        text = to_markdown(CritiqueResult.from_job(job), again.turns(job.id))
        assert "## Conversation" in text
        for question in questions:
            assert question in text
        assert reopened.store.jobs.delete_job(job.id)
        assert reopened.store.conversations.list_turns(job.id) == []  # deleted with the job
    finally:
        reopened.close()


def test_a_cancelled_answer_keeps_what_streamed_and_the_conversation_goes_on(critiqued):
    service, result = critiqued
    talk = Conversations(service)
    scope = CancelScope()
    seen: list[str] = []

    def stop_at_first(_rid: str, text: str) -> None:  # the model thread checks the scope after each token
        seen.append(text)
        scope.cancel()

    with pytest.raises(CancelledError):
        talk.ask(result.job_id, "Tell me everything about the light.", max_tokens=200,
                 on_token=stop_at_first, scope=scope)
    turn = talk.turns(result.job_id)[-1]
    assert turn.status == "cancelled" and turn.answer == "".join(seen) != ""
    answer = talk.ask(result.job_id, "And the colour?", max_tokens=5)
    assert answer.turn.position == 1 and answer.turn.status == "done"
    assert talk.history(talk.turns(result.job_id)) == [("And the colour?", answer.text)]  # cancelled turns stay out


def test_bad_input_is_refused_with_the_reason_and_nothing_is_stored(critiqued, photo, tmp_path):
    service, result = critiqued
    talk = Conversations(service)
    with pytest.raises(ConversationError, match="empty"):
        talk.ask(result.job_id, "   ")
    with pytest.raises(ConversationError, match=f"at most {MAX_QUESTION_CHARS}"):
        talk.ask(result.job_id, "why " * MAX_QUESTION_CHARS)
    with pytest.raises(JobNotFoundError, match="no job 'nope'"):
        talk.ask("nope", "why?")
    assert talk.turns(result.job_id) == []
    moved = tmp_path / "moved" / photo.name
    moved.parent.mkdir()
    photo.rename(moved)
    with pytest.raises(PhotoMissingError, match=r"no longer at .*street\.jpg; locate it$"):
        talk.ask(result.job_id, "why?")
    other = tmp_path / "other.jpg"
    Image.new("RGB", (90, 60), (200, 10, 10)).save(other)
    with pytest.raises(ConversationError, match="is not the photo of job"):
        talk.ask(result.job_id, "why?", photo=other)
    answer = talk.ask(result.job_id, "why?", photo=moved, max_tokens=4)  # located: the conversation goes on
    assert answer.turn.status == "done"


def test_old_turns_are_dropped_to_fit_the_context_and_the_user_is_told(critiqued, monkeypatch):
    service, result = critiqued
    talk = Conversations(service)
    first = talk.ask(result.job_id, "One?", max_tokens=8)
    talk.ask(result.job_id, "Two?", max_tokens=8)
    # a model whose context holds the critique and one more exchange: the oldest goes
    import app.engine.conversation.context as context

    budget = first.stats.prompt_tokens + 8 + 30
    monkeypatch.setattr(context, "context_window", lambda _config: budget)
    third = talk.ask(result.job_id, "Three?", max_tokens=8)
    assert third.dropped_turns >= 1
    assert any("left out of this answer's context" in n for n in third.notices)
    assert third.stats.prompt_tokens + 8 <= budget
    assert [t.question for t in talk.turns(result.job_id)] == ["One?", "Two?", "Three?"]  # all kept in the history


def test_an_answer_cut_at_its_token_limit_says_so(critiqued):
    service, result = critiqued
    answer = Conversations(service).ask(result.job_id, "Tell me everything about the light.", max_tokens=4)
    assert answer.turn.details["finish_reason"] == "length"  # greedy on the tiny model: it never stops by itself
    assert any("cut off at the 4-token limit" in n for n in answer.notices)
    assert any("cut off" in n for n in answer.turn.details["notices"])  # stored: a reopened turn says it too
