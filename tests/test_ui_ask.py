"""The question thread and the crop overlay under the report, on the tiny real model: questions
stream into the thread and are stored, Cancel keeps the partial answer, the thread comes back when
the job is reopened and goes into the Markdown/PDF export; a moved photo is located (its content
checked); a suggested crop is drawn, dragged (keeping its aspect), exported beside the original
and critiqued again; unusable boxes and questions are refused with the reason."""

from __future__ import annotations

import dataclasses
import random
import shutil
import threading

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog
from ui_support import LONG, drop_files, sample_photo

from app.engine.conversation.crop import aspect_matches, check_box
from app.engine.conversation.session import MAX_QUESTION_CHARS
from app.engine.technical.measure import MIN_SIDE
from app.ui.common.bridge import TaskContext
from app.ui.critique import exporting
from app.ui.crop.crop_geometry import HANDLES, drag_box, move_box


def _critique(qtbot, window, photo):
    with qtbot.waitSignal(window.critique.critiqueFinished, timeout=LONG) as done:
        assert drop_files(window.critique.dropzone, [photo])
    result = done.args[0]
    assert result.report is not None and result.job_id
    return result


def _wait(qtbot, request) -> None:
    assert request is not None
    if not request.done:
        with qtbot.waitSignal(request.finished, timeout=LONG):
            pass


def _ask(qtbot, ask, question: str):
    ask.box.setPlainText(question)
    assert ask.ask_button.isEnabled()
    qtbot.mouseClick(ask.ask_button, Qt.MouseButton.LeftButton)
    request = ask.request
    _wait(qtbot, request)
    return ask.turn_views[-1]


def test_a_thread_streams_cancels_reopens_and_is_exported(qtbot, window, tmp_path, monkeypatch):
    result = _critique(qtbot, window, sample_photo(tmp_path))
    ask = window.critique.ask
    assert ask.isVisible() and ask.turn_views == []
    for refused, why in (("   ", "empty"), ("why " * MAX_QUESTION_CHARS, "at most")):  # refused in the box
        ask.box.setPlainText(refused)
        assert not ask.ask_button.isEnabled()
        assert ask.ask() is None and why in ask.counter.text()
    assert window.store.conversations.list_turns(result.job_id) == []

    ask.box.setPlainText("Why only this score for composition?")
    streamed: list[str] = []
    request = ask.ask()
    request.token.connect(streamed.append)
    assert ask.cancel_button.isEnabled() and not ask.ask_button.isEnabled()
    _wait(qtbot, request)
    first = window.store.conversations.list_turns(result.job_id)[0]
    assert first.status == "done" and first.answer and "".join(streamed) == first.answer
    assert ask.turn_views[0].answer.text() == first.answer.strip()
    # no note unless the answer was cut at its limit (random weights often run on), then exactly that one
    assert ask.turn_views[0].note.text() == "\n".join(first.details.get("notices") or [])

    gate = threading.Event()  # the model thread waits after its first token until Cancel was pressed
    real_on_token = TaskContext.on_token

    def paced(ctx, request_id, text):
        real_on_token(ctx, request_id, text)
        gate.wait(LONG / 1000)

    monkeypatch.setattr(TaskContext, "on_token", paced)
    ask.box.setPlainText("Tell me everything about the light.")
    request = ask.ask()
    request.token.connect(lambda _text: (qtbot.mouseClick(ask.cancel_button, Qt.MouseButton.LeftButton), gate.set()))
    _wait(qtbot, request)
    view = ask.turn_views[1]
    assert "Cancelled" in view.note.text() and view.text()
    monkeypatch.setattr(TaskContext, "on_token", real_on_token)
    _wait(qtbot, ask.syncing)  # then the thread shows the turn as stored: the partial answer, marked cancelled
    stored = window.store.conversations.list_turns(result.job_id)[1]
    assert stored.status == "cancelled" and stored.answer and view.answer.text() == stored.answer.strip()
    assert "Cancelled" in view.note.text() and not ask.cancel_button.isEnabled() and ask.crop_button.isEnabled()

    third = _ask(qtbot, ask, "Would it work in black and white?")
    turns = window.store.conversations.list_turns(result.job_id)
    assert [t.status for t in turns] == ["done", "cancelled", "done"] and third.answer.text() == turns[2].answer.strip()

    window.critique.display.show_item(dataclasses.replace(result, job_id=None))
    assert not ask.isVisible()  # no stored job: nothing to talk about
    window.reopen_job(window.store.jobs.get_job(result.job_id))
    assert ask.isVisible() and [v.question.text() for v in ask.turn_views] == [t.question for t in turns]
    assert [v.status for v in ask.turn_views] == ["done", "cancelled", "done"]
    assert "Cancelled" in ask.turn_views[1].note.text()

    md = window.critique.display.export_to(tmp_path / "talk.md")
    text = md.read_text(encoding="utf-8")
    assert "## Conversation" in text and all(f"**You:** {t.question}" in text for t in turns)
    assert "_(cancelled)_" in text
    pdf = window.critique.display.export_to(tmp_path / "talk.pdf")
    html = exporting.report_html(result, None, turns=turns)
    assert "<h2>Conversation</h2>" in html and "Would it work in black and white?" in html
    bare = exporting.export(result, tmp_path / "bare.pdf", window.critique.preview)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > bare.stat().st_size


def test_old_turns_left_out_of_the_context_are_announced(qtbot, window, tmp_path, monkeypatch):
    result = _critique(qtbot, window, sample_photo(tmp_path))
    ask = window.critique.ask
    _ask(qtbot, ask, "One?")
    _ask(qtbot, ask, "Two?")
    first = window.store.conversations.list_turns(result.job_id)[0]
    import app.engine.conversation.context as context

    budget = first.details["stats"]["prompt_tokens"] + 40  # the critique and a question fit, not the turns
    monkeypatch.setattr(context, "context_window", lambda _config: budget)
    view = _ask(qtbot, ask, "Three?")
    assert view.status == "done" and "left out of this answer's context" in view.note.text()
    window.reopen_job(window.store.jobs.get_job(result.job_id))  # the notice is stored with the turn
    assert "left out of this answer's context" in ask.turn_views[2].note.text()


def test_a_question_cancelled_while_it_waits_for_the_model_goes_back_in_the_box(qtbot, window, tmp_path):
    result = _critique(qtbot, window, sample_photo(tmp_path))
    ask = window.critique.ask
    gate = threading.Event()
    busy = window.bridge.run("hold", lambda _ctx: gate.wait(LONG / 1000))  # the worker is busy with other work
    ask.box.setPlainText("And the shadows?")
    request = ask.ask()
    assert ask.turn_views[-1].question.text() == "And the shadows?"
    qtbot.mouseClick(ask.cancel_button, Qt.MouseButton.LeftButton)  # before the model ever saw it
    _wait(qtbot, request)
    gate.set()
    _wait(qtbot, busy)
    qtbot.waitUntil(lambda: ask.syncing is None, timeout=LONG)
    assert ask.turn_views == [] and ask.box.toPlainText() == "And the shadows?" and not ask.notice.text()
    assert window.store.conversations.list_turns(result.job_id) == []


def test_a_moved_photo_is_said_and_located(qtbot, window, tmp_path, monkeypatch):
    photo = sample_photo(tmp_path, "harbour.jpg")
    result = _critique(qtbot, window, photo)
    moved = tmp_path / "moved" / photo.name
    moved.parent.mkdir()
    shutil.move(photo, moved)
    ask = window.critique.ask
    ask.box.setPlainText("What about the sky?")
    _wait(qtbot, ask.ask())  # asked before the reopen: the engine finds it gone, nothing is stored
    assert ask.turn_views == [] and ask.box.toPlainText() == "What about the sky?"
    assert "no longer at" in ask.notice.text() and window.store.conversations.list_turns(result.job_id) == []
    window.reopen_job(window.store.jobs.get_job(result.job_id))
    assert "no longer at" in ask.notice.text() and ask.notice.button("Locate photo…") is not None

    other = tmp_path / "other.png"
    from PIL import Image

    Image.new("RGB", (90, 60), (200, 10, 10)).save(other)
    picks = iter([str(other), str(moved)])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_a, **_k: (next(picks), ""))
    for expected in ("is not the photo of job", "Found it"):
        ask.notice.button("Locate photo…").click()
        qtbot.waitUntil(lambda e=expected: e in ask.notice.text(), timeout=LONG)
    assert ask.photo() == moved
    view = _ask(qtbot, ask, "What about the sky?")
    assert view.status == "done"


def _drag(qtbot, overlay, start, end) -> None:
    qtbot.mousePress(overlay, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(overlay, end)
    qtbot.mouseRelease(overlay, Qt.MouseButton.LeftButton, pos=end)


def test_a_crop_is_drawn_adjusted_exported_and_critiqued(qtbot, window, tmp_path, monkeypatch):
    photo = sample_photo(tmp_path, "cup.jpg")
    before = photo.read_bytes()
    result = _critique(qtbot, window, photo)
    ask = window.critique.ask
    ask.aspect.setCurrentText("4:5")
    qtbot.mouseClick(ask.crop_button, Qt.MouseButton.LeftButton)
    _wait(qtbot, ask.request)
    card = ask.crop_card
    crop = card.suggestion
    assert card.isVisible() and crop is not None and crop.aspect == "4:5"
    assert card.overlay.box == crop.box and aspect_matches(crop.size, (4, 5))
    assert "Crop x" in ask.turn_views[-1].answer.text()

    overlay = card.overlay
    overlay.resize(400, 300)
    corner = overlay.to_widget(crop.box[2], crop.box[3])
    target = overlay.to_widget(crop.box[0] + (crop.box[2] - crop.box[0]) * 0.8, crop.box[3] + 500)
    _drag(qtbot, overlay, corner.toPoint(), target.toPoint())  # pulled far past the bottom edge
    box = overlay.box
    assert box != crop.box and aspect_matches((box[2] - box[0], box[3] - box[1]), (4, 5))
    check_box(box, crop.original_size, (4, 5))  # still usable: inside, big enough, the aspect kept
    assert "(adjusted)" in card.info.text() and card.export_button.isEnabled()
    inside = overlay.box_rect().center().toPoint()
    _drag(qtbot, overlay, inside, inside + QPoint(-1000, -1000))  # moved: stops at the top-left corner
    assert overlay.box[:2] == (0, 0)
    overlay.set_box((0, 0, 10, 12))  # too small to critique: said, not exportable
    assert "cannot be used" in card.info.text() and not card.export_button.isEnabled()
    card.reset()
    assert overlay.box == crop.box

    with qtbot.waitSignal(window.critique.critiqueFinished, timeout=LONG) as again:
        qtbot.mouseClick(card.critique_button, Qt.MouseButton.LeftButton)  # export, then critique the file
    out = card.exported
    assert out is not None and out.parent == photo.parent and out.name == "cup-crop.jpg" and str(out) in card.saved.text()
    from PIL import Image

    assert Image.open(out).size == crop.size and photo.read_bytes() == before
    assert again.args[0].photo == str(out) and again.args[0].job_id != result.job_id

    window.reopen_job(window.store.jobs.get_job(result.job_id))  # the crop comes back with the thread
    assert card.suggestion is not None and card.suggestion.box == crop.box
    qtbot.mouseClick(card.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: card.exported is not None, timeout=LONG)
    assert card.exported.name == "cup-crop-2.jpg"  # never over the first crop

    import app.engine.conversation.session as session

    real = session.suggestion_from_answer
    monkeypatch.setattr(session, "suggestion_from_answer",  # a model's box far outside its frame
                        lambda _text, frame, original, aspect: real(
                            '{"x": 5000, "y": 0, "width": 10, "height": 10, "reason": "wide"}', frame, original, aspect))
    qtbot.mouseClick(ask.crop_button, Qt.MouseButton.LeftButton)
    _wait(qtbot, ask.request)
    view = ask.turn_views[-1]
    assert view.status == "failed" and "outside its" in view.note.text()
    assert card.suggestion is not None and card.suggestion.box == crop.box  # the last good crop stays


@pytest.mark.parametrize("ratio", [None, (3, 2), (4, 5), (1, 1), (16, 9)])
def test_dragging_keeps_the_box_inside_big_enough_and_in_ratio(ratio):
    rng = random.Random(hash(ratio) & 0xFFFF)
    for _ in range(400):
        size = (rng.randint(64, 3000), rng.randint(64, 3000))
        min_side = min(MIN_SIDE, *size)
        w = rng.randint(min_side * 2, size[0]) if size[0] >= min_side * 2 else size[0]
        h = rng.randint(min_side * 2, size[1]) if size[1] >= min_side * 2 else size[1]
        if ratio is not None:  # start from a box of the ratio, as the engine's suggestion is
            w = min(w, round(h * ratio[0] / ratio[1]))
            h = round(w * ratio[1] / ratio[0])
            if min(w, h) < min_side or h > size[1]:
                continue
        x0, y0 = rng.randint(0, size[0] - w), rng.randint(0, size[1] - h)
        box = (x0, y0, x0 + w, y0 + h)
        point = (rng.uniform(-500, size[0] + 500), rng.uniform(-500, size[1] + 500))
        for handle in HANDLES:
            out = drag_box(box, handle, point, size, min_side=min_side, ratio=ratio)
            check_box(out, size, ratio)
        moved = move_box(box, point[0] - x0, point[1] - y0, size)
        assert (moved[2] - moved[0], moved[3] - moved[1]) == (w, h)
        check_box(moved, size, ratio)
