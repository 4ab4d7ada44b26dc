"""A crop suggested by the tiny real model of each coordinate convention, end to end: the constrained
JSON answer is mapped and checked, stored as a turn, exported beside the photo and critiqued again;
an aspect not offered is refused before anything is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from app.engine.conversation.coordinates import Convention
from app.engine.conversation.crop import CropError, aspect_matches
from app.engine.conversation.session import Conversations
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.testing.tiny_model import build_tiny_model

FAMILIES = {"qwen3_vl": Convention.GRID_1000, "qwen2_5_vl": Convention.RESIZED_PIXELS, "gemma3": Convention.GRID_1000}


@pytest.fixture(scope="module")
def family_models(tmp_path_factory, tiny_model_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("crop-models")
    return {"qwen3_vl": tiny_model_dir, **{f: build_tiny_model(root / f, arch=f) for f in ("qwen2_5_vl", "gemma3")}}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_crop_round_trip_on_each_convention(family, family_models, home, tmp_path):
    photo = tmp_path / "harbour.jpg"
    img = Image.new("RGB", (300, 200))
    img.putdata([((x * 3) % 256, (y * 5) % 256, (x + y) % 256) for y in range(200) for x in range(300)])
    img.save(photo, quality=92)
    before = photo.read_bytes()
    service = MondrianService(Settings(model=str(family_models[family]), max_text_chars=24, max_tokens=2000))
    try:
        job = service.critique(photo, "ansel", "baseline").job_id
        talk = Conversations(service)
        for aspect in (None, "4:5"):
            answer = talk.suggest_crop(job, aspect)  # the grammar only allows usable boxes, even at random
            crop = answer.crop
            assert crop is not None and crop.frame.convention is FAMILIES[family]
            if crop.frame.convention is Convention.GRID_1000:
                assert (crop.frame.width, crop.frame.height) == (1000, 1000)
            else:  # pixels of the image as the processor resized it: a multiple of the patch size
                assert crop.frame.width % 14 == 0 or crop.frame.width % 16 == 0
            assert crop.original_size == (300, 200)
            x0, y0, x1, y1 = crop.box
            assert 0 <= x0 < x1 <= 300 and 0 <= y0 < y1 <= 200
            if aspect:
                assert aspect_matches(crop.size, (4, 5)) and crop.aspect == aspect
            out = talk.export_crop(job, crop)
            assert out.parent == photo.parent and out != photo and Image.open(out).size == crop.size
            again = talk.recritique(service.store.jobs.get_job(job), out)
            assert again.job_id != job and again.photo == str(out)
        assert photo.read_bytes() == before
        assert [(t.kind, t.status) for t in talk.turns(job)] == [("crop", "done")] * 2
        with pytest.raises(CropError, match="not one of"):
            talk.suggest_crop(job, "5:4")
        answer = talk.ask(job, "Is the horizon straight?", max_tokens=4)  # the conversation goes on
        assert answer.turn.position == 2 and talk.turns(job)[0].question == "Suggest a crop"
    finally:
        service.close()


def test_an_adjusted_crop_is_what_reopens_and_what_the_exports_name(tiny_model_dir, home, tmp_path):
    import dataclasses

    from app.engine.critique.export import conversation_markdown

    photo = tmp_path / "harbour.jpg"
    Image.new("RGB", (300, 200), (90, 120, 150)).save(photo, quality=92)
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000))
    try:
        job = service.critique(photo, "ansel", "baseline").job_id
        talk = Conversations(service)
        suggested = talk.suggest_crop(job, None).crop
        assert suggested is not None
        x0, y0, x1, y1 = suggested.box
        box = (x0 + (x1 - x0) // 8, y0 + (y1 - y0) // 8, x1, y1)  # the user drags the corner in
        adjusted = dataclasses.replace(suggested, box=box, adjustments=[*suggested.adjustments, "adjusted by hand"])
        out = talk.export_crop(job, adjusted)
        assert Image.open(out).size == adjusted.size
        reopened = Conversations(MondrianService(service.settings, store=service.store)).latest_crop(job)
        assert reopened is not None and reopened.box == box  # not the model's box
        turn = talk.turns(job)[-1]
        assert turn.details["model_crop"]["box"]["x0"] == x0 and turn.details["exported"][-1]["path"] == str(out)
        text = "\n".join(conversation_markdown(talk.turns(job)))
        assert f"x {box[0]}–{box[2]}" in text and "adjusted by hand" in text
    finally:
        service.close()
