"""Near-duplicate bursts: frames in shooting order whose perceptual hashes nearly match.

A burst is a run of consecutive frames (capture time, then file name) where each is within
``BURST_DISTANCE`` bits of the previous one's 64-bit pHash (imagehash's DCT hash: robust to small
moves, exposure and JPEG-vs-RAW-preview differences) and, when both capture times are known,
taken within ``BURST_GAP_S`` seconds. The best of a burst is the one with the highest overall
score, so a cull keeps one of each.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from PIL import Image

BURST_DISTANCE = 10  # of 64 bits; unrelated photos differ by ~32, a re-framed burst frame by a few
BURST_GAP_S = 30.0
HASH_EDGE = 256  # the hash reads a 32x32 greyscale copy; decoding bigger only costs time


def perceptual_hash(image: Image.Image) -> str:
    """The 64-bit pHash of an image as 16 hex digits."""
    import imagehash

    return str(imagehash.phash(image.convert("L")))


def hash_file(path: str | os.PathLike[str]) -> str:
    """The pHash of a photo file (a thumbnail is enough; a RAW is read through its preview)."""
    from app.engine.photos.decode import load_photo

    return perceptual_hash(load_photo(Path(path), max_edge=HASH_EDGE))


def distance(a: str, b: str) -> int:
    """Bits that differ between two hashes."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@dataclass(frozen=True)
class BurstInput:
    key: str  # the frame's path
    phash: str | None
    taken_at: datetime | None
    score: float | None


@dataclass
class Burst:
    number: int  # 1, 2, ... in shooting order
    members: list[str] = field(default_factory=list)
    best: str = ""


def _close_in_time(a: datetime | None, b: datetime | None) -> bool:
    return a is None or b is None or abs((b - a).total_seconds()) <= BURST_GAP_S


def group_bursts(frames: Sequence[BurstInput], max_distance: int = BURST_DISTANCE) -> list[Burst]:
    """Bursts of two or more frames, in shooting order; each with its best-scoring member."""
    ordered = sorted(frames, key=lambda f: (f.taken_at is None, f.taken_at or datetime.min, f.key))
    runs: list[list[BurstInput]] = []
    current: list[BurstInput] = []
    for frame in ordered:
        prev = current[-1] if current else None
        if (prev is not None and frame.phash and prev.phash and distance(prev.phash, frame.phash) <= max_distance
                and _close_in_time(prev.taken_at, frame.taken_at)):
            current.append(frame)
            continue
        if len(current) > 1:
            runs.append(current)
        current = [frame]
    if len(current) > 1:
        runs.append(current)
    bursts = []
    for number, run in enumerate(runs, start=1):
        best = max(run, key=lambda f: (f.score if f.score is not None else float("-inf"), -run.index(f)))
        bursts.append(Burst(number=number, members=[f.key for f in run], best=best.key))
    return bursts
