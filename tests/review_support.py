"""A small mixed shoot for the review tests: JPEGs, a RAW+JPEG pair, RAW files with and without an
embedded preview, a burst of near-duplicates, a blurred, a clipped and a tilted frame, a corrupt file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from app.testing.dng import add_shooting_data, write_dng

EDGE = 192  # small frames: the tiny model's cost is in the tokens, not the pixels


def _photo(seed: int) -> Image.Image:
    from skimage import data

    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
    img = Image.fromarray(sources[seed % len(sources)]).convert("RGB")
    img.thumbnail((EDGE, EDGE))
    return img


def _horizon(tilt_deg: float) -> Image.Image:
    """Sky over sea with a sharp horizon, rotated by ``tilt_deg`` (counter-clockwise)."""
    big = Image.new("RGB", (EDGE * 2, EDGE * 2), (90, 140, 210))
    ImageDraw.Draw(big).rectangle((0, EDGE, EDGE * 2, EDGE * 2), fill=(20, 60, 90))
    rotated = big.rotate(tilt_deg, resample=Image.Resampling.BICUBIC)
    return rotated.crop((EDGE // 2, EDGE // 2, EDGE // 2 + EDGE, EDGE // 2 + int(EDGE * 0.75)))


# The frames make_shoot writes (the pair counts once: 10 frames from 11 files plus a corrupt one).
BURST = ("burst_01.jpg", "burst_02.jpg", "burst_03.jpg")
PAIR_RAW, PAIR_JPEG = "IMG_0001.dng", "IMG_0001.JPG"
RAW_PLAIN = "IMG_0002.dng"  # no embedded preview: demosaiced
BLURRED, CLIPPED, TILTED, CORRUPT = "soft.jpg", "blown.jpg", "horizon.jpg", "broken.jpg"
OTHERS = ("coffee.png", "rocket.jpg")


def make_shoot(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    base = _photo(0)
    for i, name in enumerate(BURST):  # a burst: the same scene, a few px apart, slightly brighter each time
        arr = np.asarray(base.crop((i * 2, 0, base.width - 6 + i * 2, base.height)), dtype=np.int16) + i * 3
        Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(folder / name, quality=92)
    cat = np.asarray(_photo(2))
    write_dng(folder / PAIR_RAW, cat, preview=cat)
    add_shooting_data(folder / PAIR_RAW)
    Image.fromarray(cat).save(folder / PAIR_JPEG, quality=90)
    write_dng(folder / RAW_PLAIN, np.asarray(_photo(4)))
    _photo(1).filter(ImageFilter.GaussianBlur(4)).save(folder / BLURRED, quality=92)
    blown = np.asarray(_photo(3), dtype=np.int16) + 140
    Image.fromarray(blown.clip(0, 255).astype(np.uint8)).save(folder / CLIPPED, quality=92)
    _horizon(4.0).save(folder / TILTED, quality=95)
    _photo(1).save(folder / OTHERS[0])
    _photo(3).save(folder / OTHERS[1], quality=90)
    (folder / CORRUPT).write_bytes(b"\xff\xd8\xff\xe0 not a whole jpeg")
    return folder
