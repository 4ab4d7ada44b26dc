"""Plain-language readings of the measurements, and the thresholds behind them.

Kept apart from the arithmetic so the wording and the bands are in one place: the GUI table, the
prompt facts and the technical-only report all read through these functions, so they agree.
Bands are deliberately coarse; they describe, they do not judge intent (a low-key portrait is
"dark" by design).
"""

from __future__ import annotations

# Clipping: share of the frame (%).
CLIP_MINOR = 0.1
CLIP_NOTICEABLE = 1.0
CLIP_HEAVY = 5.0

# Exposure: mean luminance, % of full scale.
EXPOSURE_BANDS = ((20.0, "very dark (low-key)"), (35.0, "dark"), (45.0, "slightly dark"),
                  (60.0, "balanced"), (70.0, "bright"), (80.0, "very bright"))
EXPOSURE_TOP = "very bright (high-key)"

# Contrast: RMS (std of luminance), % of full scale.
CONTRAST_BANDS = ((10.0, "very flat"), (17.0, "low contrast"), (28.0, "moderate contrast"),
                  (36.0, "high contrast"))
CONTRAST_TOP = "very high contrast"

# Tonal range used between the 0.5th and 99.5th percentiles, % of the 0-255 scale.
RANGE_BANDS = ((50.0, "narrow: the tones are compressed (flat or hazy)"),
               (75.0, "moderate"), (90.0, "wide"))
RANGE_TOP = "full: deep shadows to bright highlights"

# Sharpness: variance of the Laplacian of 8-bit luminance at the working size (<= 1600 px long side).
# For scale: a crisp 512 px photo measures ~1500-10000 in its sharpest cell, the same after a
# 1 px Gaussian blur ~100-250, after a 2 px blur ~10-35.
SHARP_SOFT = 50.0
SHARP_SLIGHTLY_SOFT = 250.0
SHARP_SHARP = 1000.0
# Focus spread (peak cell / median cell) above which focus reads as selective.
SELECTIVE_SPREAD = 4.0

# Noise: sigma in 8-bit levels at native resolution.
NOISE_BANDS = ((1.5, "very clean"), (3.0, "low noise"), (6.0, "visible noise"))
NOISE_TOP = "heavy noise"

# Saturation: mean HSV saturation, %.
MONOCHROME_SATURATION = 3.0
SATURATION_BANDS = ((MONOCHROME_SATURATION, "none (monochrome)"), (15.0, "muted"), (35.0, "moderate"),
                    (55.0, "rich"))
SATURATION_TOP = "very strong"

# Colourfulness bands from Hasler & Suesstrunk (2003).
COLOURFULNESS_BANDS = ((6.0, "not colourful"), (15.0, "slightly colourful"), (33.0, "moderately colourful"),
                       (45.0, "averagely colourful"), (59.0, "quite colourful"), (82.0, "highly colourful"))
COLOURFULNESS_TOP = "extremely colourful"

# Colour balance: strength of the shift of the near-neutral tones, %.
CAST_NEUTRAL = 4.0
CAST_STRONG = 10.0

# Horizon tilt, degrees.
TILT_LEVEL = 0.5
TILT_SLIGHT = 1.5
TILT_DELIBERATE = 8.0

# Placement: distances in fractions of the frame.
THIRDS_POINT_NEAR = 0.08
THIRDS_LINE_NEAR = 0.04
CENTRE_NEAR = 0.08

# Balance: visual weight on the left half, %.
BALANCE_EVEN = 8.0
BALANCE_STRONG = 20.0


def _band(value: float, bands: tuple[tuple[float, str], ...], top: str) -> str:
    for limit, text in bands:
        if value < limit:
            return text
    return top


def pct(value: float) -> str:
    """A percentage the way readings print it: '3.1 %', '0.02 %', '45 %'."""
    if value == 0:
        return "0 %"
    if abs(value) < 0.1:
        return f"{value:.2f} %"
    if abs(value) < 10:
        return f"{value:.1f} %"
    return f"{value:.0f} %"


def clipping_reading(share: float) -> str:
    """``share`` of the frame clipped, in %."""
    if share < CLIP_MINOR:
        return "none"
    if share < CLIP_NOTICEABLE:
        return "minor"
    if share < CLIP_HEAVY:
        return "noticeable"
    return "heavy: detail is lost there"


def exposure_reading(mean_pct: float) -> str:
    return _band(mean_pct, EXPOSURE_BANDS, EXPOSURE_TOP)


def ev_offset_reading(stops: float) -> str:
    if abs(stops) < 0.25:
        return "median tone at mid-grey"
    side = "below" if stops < 0 else "above"
    return f"median tone {abs(stops):.1f} stops {side} mid-grey"


def contrast_reading(rms_pct: float) -> str:
    return _band(rms_pct, CONTRAST_BANDS, CONTRAST_TOP)


def range_reading(used_pct: float, low: int, high: int) -> str:
    return f"{_band(used_pct, RANGE_BANDS, RANGE_TOP)} (levels {low}-{high})"


def stops_reading(stops: float) -> str:
    return f"about {stops:.1f} stops between the darkest and brightest tones"


def sharpness_reading(value: float) -> str:
    if value < SHARP_SOFT:
        return "soft: little fine detail"
    if value < SHARP_SLIGHTLY_SOFT:
        return "slightly soft"
    if value < SHARP_SHARP:
        return "sharp"
    return "very sharp, crisp fine detail"


def focus_reading(peak: float, spread: float, region: str) -> str:
    """Reading of the sharpest cell. A large spread means fine detail is concentrated there: the rest
    is smooth or out of focus (the Laplacian cannot tell a clear sky from a blurred background)."""
    base = sharpness_reading(peak)
    if spread >= SELECTIVE_SPREAD:
        return f"{base} in the {region}; much of the frame is smooth or out of focus"
    return f"{base} in the {region}; detail fairly even across the frame"


def noise_reading(sigma: float) -> str:
    return _band(sigma, NOISE_BANDS, NOISE_TOP)


def saturation_reading(mean_pct: float) -> str:
    return _band(mean_pct, SATURATION_BANDS, SATURATION_TOP)


def colourfulness_reading(m: float) -> str:
    return _band(m, COLOURFULNESS_BANDS, COLOURFULNESS_TOP)


def cast_direction(warmth: float, tint: float) -> str:
    """The dominant axis of a colour shift: 'warm', 'cool', 'green' or 'magenta'."""
    if abs(warmth) >= abs(tint):
        return "warm" if warmth > 0 else "cool"
    return "green" if tint > 0 else "magenta"


def cast_reading(strength: float, warmth: float, tint: float, monochrome: bool = False) -> str:
    """How the near-neutral tones lean: 'neutral', 'slightly warm', 'strongly green', ..."""
    if monochrome or strength < CAST_NEUTRAL:
        return "neutral"
    direction = cast_direction(warmth, tint)
    if strength < CAST_STRONG:
        return f"slightly {direction}"
    return f"strongly {direction}"


def tilt_reading(tilt: float | None) -> str:
    if tilt is None:
        return "no dominant horizontal line to measure"
    size = abs(tilt)
    if size < TILT_LEVEL:
        return "level"
    side = "rises to the right (counter-clockwise)" if tilt > 0 else "falls to the right (clockwise)"
    fix = f"rotate {size:.1f}° {'clockwise' if tilt > 0 else 'counter-clockwise'} to level it"
    if size < TILT_SLIGHT:
        return f"slightly tilted: {side}; {fix}"
    if size < TILT_DELIBERATE:
        return f"tilted: {side}; {fix}"
    return f"strongly tilted ({side}), possibly deliberate"


def thirds_reading(kind: str, where: str) -> str:
    """``kind`` from :func:`placement_kind`; ``where`` names the point, line or region."""
    if kind == "thirds_point":
        return f"on the {where} thirds intersection"
    if kind == "thirds_line":
        return f"on the {where} thirds line"
    if kind == "centre":
        return "centred"
    if kind == "none":
        return "no distinct point: the frame is uniform"
    return f"in the {where}, off the thirds lines"


def balance_reading(left_pct: float) -> str:
    off = left_pct - 50.0
    split = f"{left_pct:.0f} % left / {100 - left_pct:.0f} % right"
    if abs(off) < BALANCE_EVEN:
        return f"evenly balanced ({split})"
    side = "left" if off > 0 else "right"
    if abs(off) < BALANCE_STRONG:
        return f"leans {side} ({split})"
    return f"heavily on the {side} ({split})"


_NINTHS = (("upper left third", "top centre", "upper right third"),
           ("left middle", "centre", "right middle"),
           ("lower left third", "bottom centre", "lower right third"))


def region_name(x: float, y: float) -> str:
    """Name of the ninth of the frame holding the normalised point (x, y), e.g. 'upper left third'."""
    col = min(2, max(0, int(x * 3)))
    row = min(2, max(0, int(y * 3)))
    return _NINTHS[row][col]
