"""Augmentation: seeded determinism, switches, and transformations within their bounds."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from training.augment import AugmentOptions, _inscribed_size, augment, copy_rng

SHA = "ab" * 32


@pytest.fixture
def photo() -> Image.Image:
    rng = np.random.default_rng(0)
    arr = rng.integers(30, 220, (90, 120, 3), dtype=np.uint8)
    arr[:, :60] //= 2  # a darker left half, so a flip is visible
    return Image.fromarray(arr)


def _pixels(image: Image.Image) -> bytes:
    return image.tobytes() + bytes(str(image.size), "ascii")


def test_same_seed_same_copy_different_seed_or_copy_differs(photo: Image.Image) -> None:
    opts = AugmentOptions()
    a, how_a = augment(photo, copy_rng(7, SHA, 0), opts)
    b, how_b = augment(photo, copy_rng(7, SHA, 0), opts)
    assert _pixels(a) == _pixels(b) and how_a == how_b
    assert _pixels(augment(photo, copy_rng(8, SHA, 0), opts)[0]) != _pixels(a)
    assert _pixels(augment(photo, copy_rng(7, SHA, 1), opts)[0]) != _pixels(a)
    assert _pixels(augment(photo, copy_rng(7, "cd" * 32, 0), opts)[0]) != _pixels(a)


def test_switches_do_not_shift_the_other_draws(photo: Image.Image) -> None:
    """Turning one transformation off leaves the others' random choices as they were."""
    for seed in range(12):
        _, full = augment(photo, copy_rng(seed, SHA, 0), AugmentOptions())
        _, no_rotate = augment(photo, copy_rng(seed, SHA, 0), AugmentOptions(rotate=False))
        assert [p for p in full.split(", ") if not p.startswith("rotate")] == \
            [p for p in no_rotate.split(", ") if p != "none"]


def test_everything_off_is_identity(photo: Image.Image) -> None:
    out, how = augment(photo, copy_rng(1, SHA, 0),
                       AugmentOptions(crop=False, flip=False, exposure=False, rotate=False))
    assert how == "none" and _pixels(out) == _pixels(photo) and out is not photo


def test_each_switch_alone(photo: Image.Image) -> None:
    src = np.asarray(photo).astype(int)
    seeds = range(40)
    flips = [augment(photo, copy_rng(s, SHA, 0), AugmentOptions(crop=False, exposure=False, rotate=False))
             for s in seeds]
    flipped = [o for o, how in flips if how == "flip"]
    assert flipped and len(flipped) < len(flips)  # about half
    assert np.array_equal(np.asarray(flipped[0]), src[:, ::-1])
    for s in seeds:
        out, how = augment(photo, copy_rng(s, SHA, 0), AugmentOptions(flip=False, exposure=False, rotate=False))
        w, h = out.size
        assert 0.9 * 120 - 1 <= w <= 120 and 0.9 * 90 - 1 <= h <= 90
        assert abs(w / h - 120 / 90) < 0.05  # the crop keeps the aspect ratio
    for s in seeds:
        out, how = augment(photo, copy_rng(s, SHA, 0), AugmentOptions(flip=False, crop=False, rotate=False))
        assert out.size == photo.size
        if how != "none":
            ev = float(how.split()[1])
            assert abs(ev) <= 0.2
            mean_change = np.asarray(out).astype(int).mean() - src.mean()
            assert np.sign(mean_change) == np.sign(ev)


def test_rotation_stays_in_bounds_without_black_corners(photo: Image.Image) -> None:
    bright = Image.new("RGB", (120, 90), (200, 200, 200))
    for s in range(20):
        out, how = augment(bright, copy_rng(s, SHA, 0), AugmentOptions(flip=False, crop=False, exposure=False))
        if how == "none":
            continue
        degrees = float(how.split()[1])
        assert abs(degrees) <= 5.0
        arr = np.asarray(out)
        assert arr.min() >= 150, f"fill corners visible after {how}"
    assert _inscribed_size(120, 90, 0) == (120, 90)
    w, h = _inscribed_size(120, 90, 5)
    assert 100 < w < 120 and 70 < h < 90
