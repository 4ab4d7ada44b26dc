"""Where a model's crop box lives, and the one mapping from it to the original photo's pixels.

Vision-language models answer boxes in their own convention: Qwen2-VL and Qwen3-VL (and models we
ask to) on a 0-1000 grid over the image, Qwen2.5-VL in pixels of the image *as its processor
resized it* (a multiple of its patch size, not the photo's size). The photo the user has is
larger still. :func:`to_original` is the only place that converts, so every front end (the
window's overlay, the CLI, HTTP, the export) agrees on where the crop is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

GRID = 1000  # Qwen VL's relative grid


class Convention(StrEnum):
    GRID_1000 = "grid_1000"            # 0..1000 on each axis, whatever the image's size
    RESIZED_PIXELS = "resized_pixels"  # pixels of the processor's resized image

    def describe(self, frame: tuple[int, int]) -> str:
        """How the prompt tells the model the convention."""
        if self is Convention.GRID_1000:
            return f"on a 0-{GRID} grid (0,0 top-left, {GRID},{GRID} bottom-right)"
        return f"in pixels of the {frame[0]}x{frame[1]} image you see (0,0 top-left)"


# Families that answer in resized pixels; every other one is asked for (and given) the grid.
_RESIZED_PIXEL_FAMILIES = frozenset({"qwen2_5_vl"})


def convention_for(model_type: str) -> Convention:
    return Convention.RESIZED_PIXELS if model_type in _RESIZED_PIXEL_FAMILIES else Convention.GRID_1000


@dataclass(frozen=True)
class Frame:
    """The coordinate space a model answers in: its convention and its extent (width, height)."""

    convention: Convention
    width: int
    height: int

    @classmethod
    def grid(cls) -> Frame:
        return cls(Convention.GRID_1000, GRID, GRID)

    def to_dict(self) -> dict[str, Any]:
        return {"convention": self.convention.value, "width": self.width, "height": self.height}


Box = tuple[int, int, int, int]  # x0, y0, x1, y1; x1/y1 exclusive


def to_original(box: tuple[float, float, float, float], frame: Frame, original: tuple[int, int]) -> Box:
    """``box`` in ``frame`` -> pixels of the original photo of size ``original`` (width, height).

    Each axis scales by original/frame extent (the model's image and the photo are scalings of
    the same picture); the top-left rounds down and the bottom-right up, so the crop never loses
    a pixel of what the model chose; the result is clamped to the photo."""
    width, height = original
    if frame.width <= 0 or frame.height <= 0 or width <= 0 or height <= 0:
        raise ValueError(f"frame {frame.width}x{frame.height} and photo {width}x{height} must be non-empty")
    sx, sy = width / frame.width, height / frame.height
    x0, y0, x1, y1 = box

    def clamp(value: float, top: int) -> int:
        return max(0, min(top, int(value)))

    return (clamp(math.floor(x0 * sx + 1e-9), width), clamp(math.floor(y0 * sy + 1e-9), height),
            clamp(math.ceil(x1 * sx - 1e-9), width), clamp(math.ceil(y1 * sy - 1e-9), height))


def from_original(box: Box, frame: Frame, original: tuple[int, int]) -> tuple[float, float, float, float]:
    """The inverse scaling (for drawing a box adjusted on the photo back in the model's frame)."""
    width, height = original
    sx, sy = frame.width / width, frame.height / height
    return box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy


def resized_frame(processor: Any, inputs: dict[str, Any]) -> Frame:
    """The processor's resized image size from prepared inputs: Qwen's ``image_grid_thw`` counts
    patches, so the size is the grid times the patch size; otherwise the pixel tensor's own size."""
    grid = inputs.get("image_grid_thw")
    image_processor = getattr(processor, "image_processor", processor)
    if grid is not None:
        patch = int(getattr(image_processor, "patch_size", 14))
        _, rows, cols = (int(v) for v in grid.tolist()[0])
        return Frame(Convention.RESIZED_PIXELS, cols * patch, rows * patch)
    pixels = inputs["pixel_values"]
    return Frame(Convention.RESIZED_PIXELS, int(pixels.shape[-1]), int(pixels.shape[-2]))
