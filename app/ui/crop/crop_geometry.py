"""Dragging a crop box by its handles, in the photo's own pixels (no Qt: tested on its own).

The overlay turns mouse positions into photo pixels and asks :func:`drag_box` for the new box:
a corner moves two edges, an edge handle one, the inside moves the whole box. The result always
stays inside the photo and at least ``min_side`` pixels on each side; with an aspect ratio the
box keeps it while dragging (a corner anchors the opposite corner, an edge grows the other side
about the box's centre line), to within the one-pixel rounding that
:func:`~app.engine.conversation.crop.aspect_matches` allows. The box is still checked with
:func:`~app.engine.conversation.crop.check_box` before it is used.
"""

from __future__ import annotations

import math

from app.engine.conversation.coordinates import Box

HANDLES = ("nw", "n", "ne", "e", "se", "s", "sw", "w")
MOVE = "move"


def handle_points(box: Box) -> dict[str, tuple[float, float]]:
    """Where each handle sits on ``box`` (photo pixels)."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return {"nw": (x0, y0), "n": (cx, y0), "ne": (x1, y0), "e": (x1, cy),
            "se": (x1, y1), "s": (cx, y1), "sw": (x0, y1), "w": (x0, cy)}


def move_box(box: Box, dx: float, dy: float, size: tuple[int, int]) -> Box:
    """``box`` shifted by (dx, dy), stopped at the photo's edges (its size never changes)."""
    w, h = box[2] - box[0], box[3] - box[1]
    x0 = min(max(0, round(box[0] + dx)), size[0] - w)
    y0 = min(max(0, round(box[1] + dy)), size[1] - h)
    return x0, y0, x0 + w, y0 + h


def _free(box: Box, handle: str, x: float, y: float, size: tuple[int, int], min_side: int) -> Box:
    x0, y0, x1, y1 = box
    if "w" in handle:
        x0 = min(max(0, round(x)), x1 - min_side)
    if "e" in handle:
        x1 = max(min(size[0], round(x)), x0 + min_side)
    if "n" in handle:
        y0 = min(max(0, round(y)), y1 - min_side)
    if "s" in handle:
        y1 = max(min(size[1], round(y)), y0 + min_side)
    return x0, y0, x1, y1


def _ratio_corner(box: Box, handle: str, x: float, y: float, size: tuple[int, int], min_side: int,
                  ratio: tuple[int, int]) -> Box:
    a, b = ratio
    ax = box[2] if "w" in handle else box[0]  # the anchored corner
    ay = box[3] if "n" in handle else box[1]
    room_x = ax if "w" in handle else size[0] - ax
    room_y = ay if "n" in handle else size[1] - ay
    want = max(abs(x - ax), abs(y - ay) * a / b)  # follow whichever way the pointer pulls further
    low = min_side * max(1.0, a / b)
    top = min(room_x, room_y * a / b)
    w = math.floor(max(low, min(want, top)))
    h = round(w * b / a)
    if h > room_y:
        h = math.floor(room_y)
        w = min(w, round(h * a / b))
    x0, x1 = (ax - w, ax) if "w" in handle else (ax, ax + w)
    y0, y1 = (ay - h, ay) if "n" in handle else (ay, ay + h)
    return int(x0), int(y0), int(x1), int(y1)


def _ratio_edge(box: Box, handle: str, x: float, y: float, size: tuple[int, int], min_side: int,
                ratio: tuple[int, int]) -> Box:
    a, b = ratio
    if handle in ("e", "w"):  # the width follows the pointer; the height follows about the centre line
        anchor = box[0] if handle == "e" else box[2]
        room = size[0] - anchor if handle == "e" else anchor
        w = math.floor(max(min_side * max(1.0, a / b), min(abs(x - anchor), room, size[1] * a / b)))
        h = min(size[1], round(w * b / a))
        cy = (box[1] + box[3]) / 2
        y0 = min(max(0, round(cy - h / 2)), size[1] - h)
        x0 = anchor if handle == "e" else anchor - w
        return x0, y0, x0 + w, y0 + h
    anchor = box[1] if handle == "s" else box[3]
    room = size[1] - anchor if handle == "s" else anchor
    h = math.floor(max(min_side * max(1.0, b / a), min(abs(y - anchor), room, size[0] * b / a)))
    w = min(size[0], round(h * a / b))
    cx = (box[0] + box[2]) / 2
    x0 = min(max(0, round(cx - w / 2)), size[0] - w)
    y0 = anchor if handle == "s" else anchor - h
    return x0, y0, x0 + w, y0 + h


def drag_box(box: Box, handle: str, point: tuple[float, float], size: tuple[int, int], *, min_side: int,
             ratio: tuple[int, int] | None = None) -> Box:
    """The box after dragging ``handle`` (one of :data:`HANDLES`) to ``point`` (photo pixels)."""
    if handle not in HANDLES:
        raise ValueError(f"unknown crop handle {handle!r}; one of: {', '.join(HANDLES)}")
    min_side = max(1, min(min_side, *size))
    x, y = point
    if ratio is None:
        return _free(box, handle, x, y, size, min_side)
    shaped = (_ratio_corner if len(handle) == 2 else _ratio_edge)(box, handle, x, y, size, min_side, ratio)
    return move_box(shaped, 0, 0, size)  # the minimum size may have pushed it past an edge: shift it back
