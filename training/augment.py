"""Seeded photo augmentation for training copies: crop, flip, exposure, rotation.

Small portfolios overfit; slightly different copies of each photo teach the adapter what a photo
*is* rather than its exact pixels. Each transformation stays within what leaves the critique
unchanged (a 90-100 % crop keeps the composition, +-0.2 EV keeps the exposure verdict, +-5 degrees
keeps the horizon reading honest) and each can be switched off.

Determinism: the random numbers for a copy come from ``(seed, photo content hash, copy index)``
only, and every number is drawn whether or not its transformation is enabled, so the same seed
gives the same dataset, independent of folder order and of the other switches.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class AugmentOptions:
    crop: bool = True
    flip: bool = True
    exposure: bool = True
    rotate: bool = True
    crop_min: float = 0.90  # fraction of each side kept
    max_ev: float = 0.2
    max_degrees: float = 5.0

    @property
    def any(self) -> bool:
        return self.crop or self.flip or self.exposure or self.rotate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def copy_rng(seed: int, photo_sha256: str, copy_index: int) -> np.random.Generator:
    """The generator for one augmented copy of one photo."""
    digest = hashlib.sha256(f"{seed}:{photo_sha256}:{copy_index}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def _inscribed_size(width: int, height: int, degrees: float) -> tuple[int, int]:
    """Largest axis-aligned rectangle inside a w x h image rotated by ``degrees`` (no black corners)."""
    angle = math.radians(abs(degrees))
    if angle == 0:
        return width, height
    long_side, short_side = max(width, height), min(width, height)
    sin_a, cos_a = math.sin(angle), math.cos(angle)
    if short_side <= 2 * sin_a * cos_a * long_side or abs(sin_a - cos_a) < 1e-10:
        half = 0.5 * short_side
        w, h = (half / sin_a, half / cos_a) if width >= height else (half / cos_a, half / sin_a)
    else:
        cos_2a = cos_a * cos_a - sin_a * sin_a
        w, h = (width * cos_a - height * sin_a) / cos_2a, (height * cos_a - width * sin_a) / cos_2a
    return max(1, int(w)), max(1, int(h))


def _exposure_lut(ev: float) -> list[int]:
    """8-bit sRGB -> linear light x 2^ev -> sRGB, as a lookup table (exposure acts on light, not on sRGB codes)."""
    c = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4) * (2.0 ** ev)
    linear = np.clip(linear, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return [int(v) for v in np.clip(np.round(srgb * 255.0), 0, 255)]


def augment(image: Image.Image, rng: np.random.Generator, options: AugmentOptions) -> tuple[Image.Image, str]:
    """One augmented copy of an RGB ``image`` and a description of what was done."""
    # Draw everything first, in a fixed order, so switches never shift the other draws.
    degrees = float(rng.uniform(-options.max_degrees, options.max_degrees))
    keep = float(rng.uniform(options.crop_min, 1.0))
    crop_x, crop_y = float(rng.random()), float(rng.random())
    flip = bool(rng.random() < 0.5)
    ev = float(rng.uniform(-options.max_ev, options.max_ev))

    out = image.convert("RGB")
    done: list[str] = []
    if options.rotate and abs(degrees) >= 0.05:
        w, h = out.size
        rotated = out.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False)
        iw, ih = _inscribed_size(w, h, degrees)
        left, top = (w - iw) // 2, (h - ih) // 2
        out = rotated.crop((left, top, left + iw, top + ih))
        done.append(f"rotate {degrees:+.1f} deg")
    if options.crop and keep < 0.999:
        w, h = out.size
        cw, ch = max(1, round(w * keep)), max(1, round(h * keep))
        left, top = int(crop_x * (w - cw + 1)), int(crop_y * (h - ch + 1))
        out = out.crop((left, top, left + cw, top + ch))
        done.append(f"crop {keep:.0%}")
    if options.flip and flip:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        done.append("flip")
    if options.exposure and abs(ev) >= 0.005:
        out = out.point(_exposure_lut(ev) * 3)
        done.append(f"exposure {ev:+.2f} EV")
    if out is image:
        out = image.copy()
    return out, ", ".join(done) or "none"
