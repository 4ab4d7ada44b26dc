"""A suggested crop: the constrained JSON the model answers, and the checks a box must pass.

The model answers ``{"x", "y", "width", "height", "reason"}`` under a JSON schema whose integer
bounds come from its coordinate frame (:mod:`~app.engine.conversation.coordinates`) and the
smallest usable crop, so a constrained answer cannot point outside the picture, be inverted or be
too small; the box is then mapped to the original's pixels and checked all the same (answers
written without the grammar, boxes adjusted by hand): not inverted or empty,
inside the photo, each side at least what a photo needs to be critiqued (the crop can be
critiqued again), and the aspect ratio asked for. A model's box rarely has an exact ratio, so
with an aspect it is conformed first (same centre and area, the ratio asked, kept in the frame)
and the suggestion says it was.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from app.engine.conversation.coordinates import Box, Convention, Frame, to_original
from app.engine.critique.budget import BoundedSchema
from app.engine.critique.report import TEXT_PATTERN
from app.engine.technical.measure import MIN_SIDE

ASPECTS: dict[str, tuple[int, int]] = {"3:2": (3, 2), "4:5": (4, 5), "1:1": (1, 1), "16:9": (16, 9)}
REASON_CHARS = 160  # "a one-line reason"


class CropError(ValueError):
    """A crop cannot be suggested or used; the message says what was wrong with which box."""


def parse_aspect(text: str | None) -> tuple[int, int] | None:
    """``"4:5"`` -> (4, 5); None or "" or "free" -> None. Raises CropError for anything else."""
    if text is None or text.strip().lower() in ("", "free", "none"):
        return None
    key = text.strip().replace("/", ":").replace("x", ":")
    if key not in ASPECTS:
        raise CropError(f"aspect ratio {text!r} is not one of: {', '.join(ASPECTS)}")
    return ASPECTS[key]


def min_extent(frame: Frame, original: tuple[int, int]) -> tuple[int, int]:
    """The fewest frame units that map to :data:`MIN_SIDE` photo pixels on each axis."""
    need = min(MIN_SIDE, *original)
    return (min(frame.width, math.ceil(need * frame.width / original[0])),
            min(frame.height, math.ceil(need * frame.height / original[1])))


def crop_schema(frame: Frame, original: tuple[int, int]) -> BoundedSchema:
    """The box as top-left corner and size in ``frame``'s units, bounded so that every answer the
    grammar allows is a usable crop (inside the frame, at least :data:`MIN_SIDE` photo pixels on
    each side); the reason's length is bounded too, so the token budget is derived."""
    mw, mh = min_extent(frame, original)

    def build(chars: int) -> dict[str, Any]:
        def coord(low: int, top: int) -> dict[str, Any]:
            return {"type": "integer", "minimum": low, "maximum": top}

        return {"type": "object", "additionalProperties": False,
                "required": ["x", "y", "width", "height", "reason"],
                "properties": {"x": coord(0, frame.width - mw), "y": coord(0, frame.height - mh),
                               "width": coord(mw, frame.width), "height": coord(mh, frame.height),
                               "reason": {"type": "string", "maxLength": chars, "pattern": TEXT_PATTERN}}}

    return BoundedSchema(build, REASON_CHARS)


@dataclass
class CropSuggestion:
    """A checked crop: ``box`` in the original's pixels (x1/y1 exclusive) and why."""

    box: Box
    original_size: tuple[int, int]
    reason: str
    frame: Frame
    model_box: tuple[int, int, int, int]  # as the model answered, in its frame
    aspect: str | None = None
    adjustments: list[str] = field(default_factory=list)  # what was changed to make it valid

    @property
    def size(self) -> tuple[int, int]:
        return self.box[2] - self.box[0], self.box[3] - self.box[1]

    def to_dict(self) -> dict[str, Any]:
        x0, y0, x1, y1 = self.box
        return {"box": {"x0": x0, "y0": y0, "x1": x1, "y1": y1}, "width": x1 - x0, "height": y1 - y0,
                "original_size": list(self.original_size), "reason": self.reason, "frame": self.frame.to_dict(),
                "model_box": list(self.model_box), "aspect": self.aspect, "adjustments": self.adjustments}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CropSuggestion:
        b, f = data["box"], data["frame"]
        return cls(box=(int(b["x0"]), int(b["y0"]), int(b["x1"]), int(b["y1"])),
                   original_size=(int(data["original_size"][0]), int(data["original_size"][1])),
                   reason=str(data.get("reason", "")), frame=Frame(Convention(f["convention"]), int(f["width"]),
                                                                   int(f["height"])),
                   model_box=tuple(int(v) for v in data["model_box"]),  # type: ignore[arg-type]
                   aspect=data.get("aspect"), adjustments=list(data.get("adjustments") or []))


def read_model_box(text: str, frame: Frame | None = None) -> tuple[tuple[int, int, int, int], str]:
    """The box (corners) and reason from the model's JSON answer: ``x, y, width, height`` (the
    schema's; the far corner clamped to ``frame``) or ``x0, y0, x1, y1``. Raises CropError."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CropError(f"the model's crop answer is not JSON ({exc.msg} at character {exc.pos}): {text[:120]!r}") \
            from None
    if not isinstance(data, dict):
        raise CropError(f"the model's crop answer is not a JSON object: {text[:120]!r}")
    keys = ("x", "y", "width", "height") if "width" in data or "x" in data else ("x0", "y0", "x1", "y1")
    missing = [k for k in keys if not isinstance(data.get(k), int) or isinstance(data[k], bool)]
    if missing:
        raise CropError(f"the model's crop answer lacks integer {', '.join(missing)}: {text[:120]!r}")
    a, b, c, d = (int(data[k]) for k in keys)
    if keys[2] == "width":
        c, d = a + c, b + d
        if frame is not None:
            c, d = min(c, frame.width), min(d, frame.height)
    return (a, b, c, d), str(data.get("reason") or "").strip()


def check_box(box: Box, original: tuple[int, int], ratio: tuple[int, int] | None = None) -> None:
    """Raise CropError unless ``box`` is a usable crop of a photo of size ``original``."""
    x0, y0, x1, y1 = box
    width, height = original
    if x1 <= x0 or y1 <= y0:
        raise CropError(f"the crop box {box} is empty or inverted (x1 must exceed x0 and y1 exceed y0)")
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise CropError(f"the crop box {box} reaches outside the {width}x{height} photo")
    need = min(MIN_SIDE, width, height)
    if x1 - x0 < need or y1 - y0 < need:
        raise CropError(f"the crop box {box} is {x1 - x0}x{y1 - y0} px; a crop needs at least {need} px on each "
                        "side to be critiqued")
    if ratio is not None and not aspect_matches((x1 - x0, y1 - y0), ratio):
        raise CropError(f"the crop box {box} is {x1 - x0}x{y1 - y0} px, not {ratio[0]}:{ratio[1]}")


def aspect_matches(size: tuple[int, int], ratio: tuple[int, int]) -> bool:
    """True when ``size`` has ``ratio`` to within the rounding of one pixel on its shorter side."""
    w, h = size
    return abs(w / h - ratio[0] / ratio[1]) <= (ratio[0] / ratio[1]) / min(w, h) + 1e-9


def conform_aspect(box: Box, ratio: tuple[int, int], original: tuple[int, int]) -> Box:
    """The box of ``ratio`` with ``box``'s centre and area (smaller if the photo is), inside the photo."""
    width, height = original
    a, b = ratio
    area = max(1, (box[2] - box[0]) * (box[3] - box[1]))
    w = math.sqrt(area * a / b)
    w = min(w, width, height * a / b)
    h_exact = w * b / a
    w_px, h_px = max(1, round(w)), max(1, round(h_exact))
    if w_px > width or h_px > height:  # rounding up went past an edge: floor both instead
        w_px, h_px = max(1, math.floor(w)), max(1, math.floor(h_exact))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x0 = min(max(0, round(cx - w_px / 2)), width - w_px)
    y0 = min(max(0, round(cy - h_px / 2)), height - h_px)
    return x0, y0, x0 + w_px, y0 + h_px


def suggestion_from_answer(text: str, frame: Frame, original: tuple[int, int], aspect: str | None) -> CropSuggestion:
    """Map, conform and check the model's answer. Raises CropError (the message names the box)."""
    model_box, reason = read_model_box(text, frame)
    for name, value, top in zip(("x0", "y0", "x1", "y1"), model_box,
                                (frame.width, frame.height, frame.width, frame.height), strict=True):
        if not 0 <= value <= top:
            raise CropError(f"the model's {name}={value} is outside its {frame.width}x{frame.height} frame")
    ratio = parse_aspect(aspect)
    box = to_original(model_box, frame, original)
    if box[2] <= box[0] or box[3] <= box[1]:
        raise CropError(f"the model's crop box {model_box} (in its {frame.width}x{frame.height} frame) is empty or "
                        "inverted")
    adjustments = []
    if ratio is not None and not aspect_matches((box[2] - box[0], box[3] - box[1]), ratio):
        box = conform_aspect(box, ratio, original)
        adjustments.append(f"reshaped to {aspect} around the model's centre, keeping its area")
    check_box(box, original, ratio)
    return CropSuggestion(box=box, original_size=original, reason=reason, frame=frame, model_box=model_box,
                          aspect=aspect if ratio else None, adjustments=adjustments)
