"""Measurements of the photo itself: tones, sharpness, noise and colour (NumPy + Pillow, no model).

Cost is kept well under a second for a 24 MP photo by measuring each quantity at the resolution
where its meaning lives:

* histograms, clipping, exposure and tonal range: full resolution, through Pillow's C histogram
  (no full-size NumPy array is ever made);
* noise: full resolution too (it is a per-pixel property), on a 4 x 4 grid of sampled tiles;
* sharpness and the focus map: a working copy of the luminance at most ``WORK_LONG_SIDE`` px on
  the long side, so readings mean the same for a 12 MP and a 24 MP photo of the same scene;
* colour statistics: a ``COLOUR_LONG_SIDE`` px copy (shares and means do not need more).

Luminance is ITU-R 601 luma of the 8-bit sRGB values (Pillow's ``L``); thresholds are documented
next to each function and in :mod:`.readings`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from app.engine.technical import readings as rd
from app.engine.technical.results import (
    Clipping,
    Colour,
    DynamicRange,
    Exposure,
    Histograms,
    HueShare,
    Measurement,
    Noise,
    Sharpness,
)

WORK_LONG_SIDE = 1600
COLOUR_LONG_SIDE = 320
MIN_SIDE = 32
FOCUS_GRID = 6  # the focus map is FOCUS_GRID x FOCUS_GRID cells; 6 splits evenly into thirds
SHADOW_CLIP_LEVEL = 4  # luminance <= this counts as clipped shadow
HIGHLIGHT_CLIP_LEVEL = 251  # luminance >= this counts as clipped highlight
RANGE_PERCENTILES = (0.5, 99.5)
NOISE_TILES = 4  # NOISE_TILES x NOISE_TILES sampled tiles
NOISE_TILE_SIZE = 128
CHROMA_MIN = 20  # max(R,G,B) - min(R,G,B) below this: near-neutral, hue unreliable
DOMINANT_MIN_SHARE = 5.0  # % of the frame for a hue family to count as dominant
NEUTRAL_PERCENTILE = 10.0  # the least saturated 10 % of mid-tones are the candidate neutrals
NEUTRAL_MAX_SATURATION = 0.35
NEUTRAL_MIN_COUNT = 100
HUE_FAMILIES = ("red", "orange", "yellow", "lime", "green", "teal", "cyan", "azure", "blue", "violet",
                "magenta", "pink")  # 30 degree families centred on 0, 30, 60, ... degrees


@dataclass
class Prepared:
    """Shared intermediates of one analysis (built once by :func:`prepare`)."""

    rgb: Image.Image  # full resolution, RGB
    luma: Image.Image  # full resolution, L
    hist_rgb: list[int]  # 768 counts
    hist_luma: list[int]  # 256 counts
    work: Image.Image  # L, long side <= WORK_LONG_SIDE
    small: Image.Image  # RGB, long side <= COLOUR_LONG_SIDE

    @property
    def pixels(self) -> int:
        return self.rgb.width * self.rgb.height


def as_rgb(image: Image.Image) -> Image.Image:
    """The photo as 8-bit RGB, with a clear error for what cannot be analysed."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"technical analysis needs a PIL.Image.Image, got {type(image).__name__}")
    w, h = image.size
    if w < MIN_SIDE or h < MIN_SIDE:
        raise ValueError(f"the photo is too small for technical analysis ({w}x{h} px; "
                         f"need at least {MIN_SIDE}x{MIN_SIDE})")
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # High bit depth greyscale: scale to 8 bits instead of letting Pillow clip at 255.
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8))
        return grey.convert("RGB")
    return image.convert("RGB")


def downscale(image: Image.Image, long_side: int) -> Image.Image:
    """Area-averaged copy with the long side at most ``long_side``, but the short side kept at
    ``MIN_SIDE`` or more (a long panorama stays measurable); never upscales."""
    w, h = image.size
    scale = min(1.0, max(long_side / max(w, h), MIN_SIDE / min(w, h)))
    if scale >= 1.0:
        return image
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    factor = int(1 / scale)
    if factor >= 2:
        image = image.reduce(factor)  # fast integer box average first
    if image.size != target:
        image = image.resize(target, Image.Resampling.BOX)
    return image


def prepare(image: Image.Image) -> Prepared:
    rgb = as_rgb(image)
    luma = rgb.convert("L")
    return Prepared(rgb=rgb, luma=luma, hist_rgb=rgb.histogram(), hist_luma=luma.histogram(),
                    work=downscale(luma, WORK_LONG_SIDE), small=downscale(rgb, COLOUR_LONG_SIDE))


# --- tones -----------------------------------------------------------------------------------


def measure_histograms(prep: Prepared) -> Histograms:
    h = prep.hist_rgb
    return Histograms(luminance=list(prep.hist_luma), red=list(h[0:256]), green=list(h[256:512]),
                      blue=list(h[512:768]))


def measure_clipping(prep: Prepared) -> Clipping:
    """Luminance at the ends of the scale (<= 4, >= 251), and each channel at exactly 0 / 255."""
    n = prep.pixels
    hl = np.asarray(prep.hist_luma, dtype=np.float64)
    shadows = float(hl[: SHADOW_CLIP_LEVEL + 1].sum() / n * 100)
    highlights = float(hl[HIGHLIGHT_CLIP_LEVEL:].sum() / n * 100)
    h = prep.hist_rgb
    names = ("red", "green", "blue")
    at_255 = {c: round(h[i * 256 + 255] / n * 100, 3) for i, c in enumerate(names)}
    at_0 = {c: round(h[i * 256] / n * 100, 3) for i, c in enumerate(names)}
    return Clipping(
        shadows=Measurement(round(shadows, 3), "% of frame", rd.clipping_reading(shadows)),
        highlights=Measurement(round(highlights, 3), "% of frame", rd.clipping_reading(highlights)),
        channels_at_255=at_255,
        channels_at_0=at_0,
    )


def srgb_to_linear(level: np.ndarray | float) -> np.ndarray:
    """sRGB decoding of 0-255 levels to linear light in [0, 1]."""
    v = np.asarray(level, dtype=np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _percentile_level(hist: np.ndarray, q: float) -> int:
    cdf = np.cumsum(hist)
    return int(np.searchsorted(cdf, cdf[-1] * q / 100.0))


def measure_exposure(prep: Prepared) -> Exposure:
    """Mean and RMS contrast of luminance (from the histogram), median tone in stops from mid-grey."""
    hist = np.asarray(prep.hist_luma, dtype=np.float64)
    levels = np.arange(256, dtype=np.float64)
    n = hist.sum()
    mean = float((hist * levels).sum() / n)
    std = float(math.sqrt(max(0.0, (hist * (levels - mean) ** 2).sum() / n)))
    median = _percentile_level(hist, 50)
    ev = float(math.log2(max(float(srgb_to_linear(median)), 1e-4) / 0.18))
    mean_pct = mean / 255 * 100
    rms_pct = std / 255 * 100
    return Exposure(
        mean=Measurement(round(mean_pct, 1), "% of full scale", rd.exposure_reading(mean_pct)),
        median_level=median,
        ev_offset=Measurement(round(ev, 2), "stops", rd.ev_offset_reading(ev)),
        contrast=Measurement(round(rms_pct, 1), "% of full scale", rd.contrast_reading(rms_pct)),
    )


def measure_dynamic_range(prep: Prepared) -> DynamicRange:
    """Span between the 0.5th and 99.5th luminance percentiles, as % of the scale and in stops."""
    hist = np.asarray(prep.hist_luma, dtype=np.float64)
    low = _percentile_level(hist, RANGE_PERCENTILES[0])
    high = _percentile_level(hist, RANGE_PERCENTILES[1])
    used = (high - low) / 255 * 100
    dark = float(srgb_to_linear(max(low, 1)))
    bright = float(srgb_to_linear(max(high, 1)))
    stops = max(0.0, math.log2(bright / dark))
    return DynamicRange(
        used=Measurement(round(used, 1), "% of tonal scale", rd.range_reading(used, low, high)),
        stops=Measurement(round(stops, 1), "stops", rd.stops_reading(stops)),
        low_level=low,
        high_level=high,
    )


# --- sharpness and noise -----------------------------------------------------------------------


def laplacian(a: np.ndarray) -> np.ndarray:
    """4-neighbour Laplacian of a 2-D array (valid part: two pixels smaller in each direction)."""
    return a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4.0 * a[1:-1, 1:-1]


def _grid_edges(length: int, parts: int) -> np.ndarray:
    return np.linspace(0, length, parts + 1).astype(int)[:-1]


def measure_sharpness(prep: Prepared) -> Sharpness:
    """Variance of the Laplacian (8-bit luminance units squared) overall and on a 6 x 6 grid."""
    a = np.asarray(prep.work, dtype=np.float32)
    lap = laplacian(a).astype(np.float64)
    overall = float(lap.var())
    rows, cols = _grid_edges(lap.shape[0], FOCUS_GRID), _grid_edges(lap.shape[1], FOCUS_GRID)
    sums = np.add.reduceat(np.add.reduceat(lap, rows, axis=0), cols, axis=1)
    sq = np.add.reduceat(np.add.reduceat(lap * lap, rows, axis=0), cols, axis=1)
    heights = np.diff(np.append(rows, lap.shape[0]))
    widths = np.diff(np.append(cols, lap.shape[1]))
    counts = np.outer(heights, widths).astype(np.float64)
    grid = np.maximum(sq / counts - (sums / counts) ** 2, 0.0)
    r, c = np.unravel_index(int(np.argmax(grid)), grid.shape)
    peak = float(grid[r, c])
    spread = peak / max(float(np.median(grid)), 1e-6)
    region = rd.region_name((c + 0.5) / FOCUS_GRID, (r + 0.5) / FOCUS_GRID)
    unit = "Laplacian variance"
    return Sharpness(
        overall=Measurement(round(overall, 1), unit, rd.sharpness_reading(overall)),
        peak=Measurement(round(peak, 1), unit, rd.focus_reading(peak, spread, region)),
        focus_map=[[round(float(v), 1) for v in row] for row in grid],
        sharpest_cell=(int(r), int(c)),
        sharpest_region=region,
        spread=round(spread, 2),
        working_size=prep.work.size,
    )


def _tile_noise(t: np.ndarray) -> float | None:
    """Noise sigma of one tile: the robust (median absolute) version of Immerkaer's (1996) estimator.

    The 3x3 kernel cancels smooth shading, so what is left is noise plus edges; the kernel's gain on
    white noise is 6 (sqrt of the sum of its squared coefficients), and the median ignores the
    minority of pixels on edges. Clipped pixels carry no noise and are skipped.
    """
    r = (t[:-2, :-2] + t[:-2, 2:] + t[2:, :-2] + t[2:, 2:]
         - 2.0 * (t[:-2, 1:-1] + t[2:, 1:-1] + t[1:-1, :-2] + t[1:-1, 2:]) + 4.0 * t[1:-1, 1:-1])
    centre = t[1:-1, 1:-1]
    ok = (centre > SHADOW_CLIP_LEVEL) & (centre < HIGHLIGHT_CLIP_LEVEL)
    if ok.sum() < 0.5 * ok.size:
        return None
    return float(np.median(np.abs(r[ok])) / 0.6745 / 6.0)


def measure_noise(prep: Prepared) -> Noise:
    """Noise sigma at native resolution: 25th percentile of the tile estimates (flat tiles show noise,
    textured tiles overstate it)."""
    w, h = prep.luma.size
    size = max(16, min(NOISE_TILE_SIZE, w // NOISE_TILES, h // NOISE_TILES))
    xs = np.linspace(0, w - size, NOISE_TILES).astype(int)
    ys = np.linspace(0, h - size, NOISE_TILES).astype(int)
    sigmas = []
    for y in ys:
        for x in xs:
            tile = np.asarray(prep.luma.crop((int(x), int(y), int(x) + size, int(y) + size)), dtype=np.float32)
            s = _tile_noise(tile)
            if s is not None:
                sigmas.append(s)
    if not sigmas:
        return Noise(sigma=Measurement(None, "levels (8-bit)", "not measurable: the frame is mostly clipped"))
    sigma = float(np.percentile(sigmas, 25))
    return Noise(sigma=Measurement(round(sigma, 2), "levels (8-bit)", rd.noise_reading(sigma)))


# --- colour ------------------------------------------------------------------------------------


def measure_colour(prep: Prepared) -> Colour:
    """Saturation, colourfulness, dominant hue families and the colour balance of the neutral tones."""
    rgb = np.asarray(prep.small, dtype=np.int16)
    hsv = np.asarray(prep.small.convert("HSV"), dtype=np.float64)
    n = rgb.shape[0] * rgb.shape[1]
    value = hsv[..., 2]
    lit = value >= 0.1 * 255  # hue and saturation of near-black pixels are noise
    saturation = float(hsv[..., 1][lit].mean() / 255 * 100) if lit.any() else 0.0

    f = rgb.astype(np.float64)
    rg = f[..., 0] - f[..., 1]
    yb = 0.5 * (f[..., 0] + f[..., 1]) - f[..., 2]
    colourfulness = float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))

    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    chromatic = chroma >= CHROMA_MIN
    hue_deg = hsv[..., 0][chromatic] * (360.0 / 256.0)
    family = (((hue_deg + 15.0) // 30.0) % 12).astype(int)
    counts = np.bincount(family, minlength=12)
    hues: list[HueShare] = []
    for idx in np.argsort(-counts, kind="stable")[:3]:
        share = counts[idx] / n * 100
        if share < DOMINANT_MIN_SHARE:
            break
        angles = np.deg2rad(hue_deg[family == idx])
        mean_hue = math.degrees(math.atan2(np.sin(angles).mean(), np.cos(angles).mean())) % 360
        hues.append(HueShare(name=HUE_FAMILIES[idx], hue=round(mean_hue, 1), share=round(float(share), 1)))
    neutral = float((~chromatic).sum() / n * 100)

    monochrome = saturation < rd.MONOCHROME_SATURATION or neutral > 99.0
    balance = (0.0, 0.0) if monochrome else _neutral_balance(f, hsv)
    if balance is None:
        cast = Measurement(None, "%", "not measurable: no near-neutral tones to judge by")
        warmth = tint = 0.0
    else:
        warmth, tint = balance
        strength = math.hypot(warmth, tint)
        cast = Measurement(round(strength, 1), "%", rd.cast_reading(strength, warmth, tint, monochrome))
    return Colour(
        saturation=Measurement(round(saturation, 1), "%", rd.saturation_reading(saturation)),
        colourfulness=Measurement(round(colourfulness, 1), "M (Hasler-Suesstrunk)",
                                  rd.colourfulness_reading(colourfulness)),
        dominant_hues=hues,
        neutral_share=round(neutral, 1),
        cast=cast,
        warmth=round(warmth, 1),
        tint=round(tint, 1),
        monochrome=monochrome,
    )


def _neutral_balance(f: np.ndarray, hsv: np.ndarray) -> tuple[float, float] | None:
    """Warmth and tint (%) of the photo's near-neutral tones: the least saturated tenth of the mid-tone
    pixels (HSV value 25-95 %), provided they are nearly grey (saturation <= 35 %).

    A neutral surface takes the colour of the light, so a shift there is the colour balance; a scene
    full of one colour (a ginger cat, a red cup) does not read as a cast because its saturated pixels
    are not used. ``None`` when the photo has no near-neutral tones to judge by.
    """
    value = hsv[..., 2]
    sat = hsv[..., 1]
    mid = (value >= 0.25 * 255) & (value <= 0.95 * 255)
    if mid.sum() < NEUTRAL_MIN_COUNT:
        return None
    cutoff = min(float(np.percentile(sat[mid], NEUTRAL_PERCENTILE)), NEUTRAL_MAX_SATURATION * 255)
    chosen = mid & (sat <= cutoff)
    if chosen.sum() < NEUTRAL_MIN_COUNT:
        return None
    pixels = f[chosen]
    light = (pixels / np.maximum(pixels.sum(axis=1, keepdims=True), 1e-6)).mean(axis=0) * 3
    r, g, b = light
    return float((r - b) / 2 * 100), float((g - (r + b) / 2) * 100)
