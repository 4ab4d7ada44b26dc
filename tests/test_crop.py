"""The suggested crop: the one coordinate mapping (property tests), the box checks, and a round trip
on the tiny model of each coordinate convention (Qwen3-VL's 0-1000 grid, Qwen2.5-VL's resized
pixels, Gemma 3 asked for the grid): constrained JSON -> checked box -> a new file beside the
original (never over it) -> a critique of the crop."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from app.engine.conversation.coordinates import Convention, Frame, convention_for, from_original, to_original
from app.engine.conversation.crop import (
    ASPECTS,
    CropError,
    aspect_matches,
    check_box,
    conform_aspect,
    crop_schema,
    parse_aspect,
    suggestion_from_answer,
)
from app.engine.conversation.crop_export import export_crop
from app.engine.technical.measure import MIN_SIDE

sizes = st.tuples(st.integers(32, 9000), st.integers(32, 9000))
frames = st.one_of(st.just(Frame.grid()),
                   st.builds(lambda w, h: Frame(Convention.RESIZED_PIXELS, w, h), st.integers(28, 2000),
                             st.integers(28, 2000)))


@st.composite
def boxes_in(draw, frame_strategy=frames):
    frame = draw(frame_strategy)
    x0 = draw(st.integers(0, frame.width - 1))
    y0 = draw(st.integers(0, frame.height - 1))
    x1 = draw(st.integers(x0 + 1, frame.width))
    y1 = draw(st.integers(y0 + 1, frame.height))
    return frame, (x0, y0, x1, y1)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(boxes_in(), sizes)
def test_mapping_stays_in_the_photo_and_covers_what_the_model_chose(frame_box, original):
    frame, box = frame_box
    mapped = to_original(box, frame, original)
    w, h = original
    assert 0 <= mapped[0] <= mapped[2] <= w and 0 <= mapped[1] <= mapped[3] <= h
    # the mapped box covers the model's box scaled exactly (top-left rounds down, bottom-right up)
    assert from_original((0, 0, w, h), frame, original) == pytest.approx((0, 0, frame.width, frame.height))
    sx, sy = w / frame.width, h / frame.height
    assert mapped[0] <= box[0] * sx + 1e-6 and mapped[2] >= box[2] * sx - 1e-6
    assert mapped[1] <= box[1] * sy + 1e-6 and mapped[3] >= box[3] * sy - 1e-6
    assert mapped[2] - box[2] * sx < 1 + 1e-6 and box[0] * sx - mapped[0] < 1 + 1e-6


@settings(max_examples=200, deadline=None, derandomize=True)
@given(frames, sizes)
def test_the_whole_frame_maps_to_the_whole_photo(frame, original):
    assert to_original((0, 0, frame.width, frame.height), frame, original) == (0, 0, *original)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(boxes_in(), sizes)
def test_mapping_back_and_forth_moves_a_box_by_under_one_model_unit(frame_box, original):
    frame, box = frame_box
    back = from_original(to_original(box, frame, original), frame, original)
    unit = max(frame.width / original[0], frame.height / original[1], 1.0)
    assert all(abs(a - b) <= unit + 1e-6 for a, b in zip(back, box, strict=True))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(ASPECTS)), sizes, st.data())
def test_a_conformed_box_has_the_ratio_and_stays_inside(aspect, original, data):
    w, h = original
    x0 = data.draw(st.integers(0, w - 2))
    y0 = data.draw(st.integers(0, h - 2))
    box = (x0, y0, data.draw(st.integers(x0 + 1, w)), data.draw(st.integers(y0 + 1, h)))
    ratio = ASPECTS[aspect]
    out = conform_aspect(box, ratio, original)
    assert 0 <= out[0] < out[2] <= w and 0 <= out[1] < out[3] <= h
    if min(out[2] - out[0], out[3] - out[1]) >= 8:  # ratios are only meaningful above a few pixels
        assert aspect_matches((out[2] - out[0], out[3] - out[1]), ratio)


def test_the_conventions_of_the_families():
    assert convention_for("qwen2_5_vl") is Convention.RESIZED_PIXELS
    assert convention_for("qwen3_vl") is Convention.GRID_1000 and convention_for("qwen2_vl") is Convention.GRID_1000
    assert convention_for("gemma3") is Convention.GRID_1000


def test_bad_boxes_and_aspects_are_named():
    with pytest.raises(CropError, match="empty or inverted"):
        check_box((50, 10, 40, 60), (100, 100))
    with pytest.raises(CropError, match="outside the 100x100 photo"):
        check_box((0, 0, 120, 60), (100, 100))
    with pytest.raises(CropError, match=f"at least {MIN_SIDE} px"):
        check_box((0, 0, 20, 60), (100, 100))
    with pytest.raises(CropError, match="not 4:5"):
        check_box((0, 0, 100, 40), (100, 100), (4, 5))
    with pytest.raises(CropError, match="not one of: 3:2, 4:5, 1:1, 16:9"):
        parse_aspect("7:3")
    grid = Frame.grid()
    with pytest.raises(CropError, match="not JSON"):
        suggestion_from_answer('{"x0": 1, "y0"', grid, (400, 300), None)
    with pytest.raises(CropError, match="lacks integer x1"):
        suggestion_from_answer('{"x0": 1, "y0": 2, "y1": 5, "reason": ""}', grid, (400, 300), None)
    with pytest.raises(CropError, match="outside its 1000x1000 frame"):
        suggestion_from_answer('{"x0": 1, "y0": 2, "x1": 1200, "y1": 500, "reason": ""}', grid, (400, 300), None)
    with pytest.raises(CropError, match="empty or inverted"):
        suggestion_from_answer('{"x0": 700, "y0": 2, "x1": 100, "y1": 500, "reason": ""}', grid, (400, 300), None)
    schema = crop_schema(grid, (400, 300)).schema()
    assert schema["properties"]["width"]["minimum"] == math.ceil(MIN_SIDE * 1000 / 400)
    assert schema["properties"]["x"]["maximum"] == 1000 - math.ceil(MIN_SIDE * 1000 / 400)
    clamped = suggestion_from_answer('{"x": 900, "y": 0, "width": 400, "height": 1000, "reason": ""}', grid,
                                     (400, 300), None)
    assert clamped.box == (360, 0, 400, 300)
    ok = suggestion_from_answer('{"x0": 100, "y0": 0, "x1": 900, "y1": 1000, "reason": "tighter"}', grid,
                                (400, 300), "1:1")
    assert ok.box[2] - ok.box[0] == ok.box[3] - ok.box[1] and ok.adjustments and ok.reason == "tighter"


def test_export_writes_a_new_file_beside_the_original_and_never_over_one(tmp_path: Path):
    original = tmp_path / "IMG_0001.jpg"
    Image.new("RGB", (300, 200), (10, 120, 200)).save(original, quality=95)
    before = original.read_bytes()
    first = export_crop(original, (30, 20, 150, 170), (300, 200))
    second = export_crop(original, (0, 0, 60, 60), (150, 100))  # a box drawn on a half-size decode scales up
    assert (first.name, second.name) == ("IMG_0001-crop.jpg", "IMG_0001-crop-2.jpg")
    assert Image.open(first).size == (120, 150) and Image.open(second).size == (120, 120)
    assert original.read_bytes() == before  # the photo is never modified
    with pytest.raises(CropError, match="already exists"):
        export_crop(original, (30, 20, 150, 170), (300, 200), first)
    assert not list(tmp_path.glob(".*.tmp"))
