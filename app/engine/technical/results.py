"""The result types of the technical analysis.

Every headline number is a :class:`Measurement` (value, unit, plain-language reading) so the GUI
can show them as a table and the report/facts code can quote them; the extra fields are the raw
material (histograms, focus map, hue shares) that a reading summarises. All values are plain
Python types, so :meth:`TechnicalAnalysis.to_dict` is JSON-able as is.

Conventions: image coordinates are of the *displayed* photo (EXIF orientation applied), x to the
right, y down, normalised positions are fractions of width/height in [0, 1]. Horizon tilt is in
degrees, positive = the line is rotated counter-clockwise from level (it rises to the right),
the same sense as ``PIL.Image.rotate``; rotating the photo by ``-tilt`` levels it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Measurement:
    """One measured quantity. ``value`` is ``None`` when it could not be measured (see ``reading``)."""

    value: float | None
    unit: str
    reading: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "reading": self.reading}


@dataclass(frozen=True)
class Histograms:
    """256-bin counts over the full-resolution photo (luminance is ITU-R 601 luma, as Pillow's ``L``)."""

    luminance: list[int]
    red: list[int]
    green: list[int]
    blue: list[int]


@dataclass(frozen=True)
class Clipping:
    """Share of the frame at the ends of the tonal scale, and per-channel clipping."""

    shadows: Measurement  # % of pixels with luminance <= SHADOW_CLIP_LEVEL
    highlights: Measurement  # % of pixels with luminance >= HIGHLIGHT_CLIP_LEVEL
    channels_at_255: dict[str, float]  # % of pixels with that channel at 255
    channels_at_0: dict[str, float]


@dataclass(frozen=True)
class Exposure:
    mean: Measurement  # mean luminance, % of full scale
    median_level: int  # 0-255
    ev_offset: Measurement  # stops of the median tone from mid-grey (18 % linear)
    contrast: Measurement  # RMS contrast: standard deviation of luminance, % of full scale


@dataclass(frozen=True)
class DynamicRange:
    used: Measurement  # % of the 0-255 scale between the 0.5th and 99.5th luminance percentiles
    stops: Measurement  # the same span in stops of linear light (sRGB decoded)
    low_level: int
    high_level: int


@dataclass(frozen=True)
class Sharpness:
    """Variance of the Laplacian of luminance on the working copy, overall and on a grid."""

    overall: Measurement
    peak: Measurement  # the sharpest grid cell
    focus_map: list[list[float]]  # rows x cols, same unit as ``overall``
    sharpest_cell: tuple[int, int]  # (row, col) in ``focus_map``
    sharpest_region: str  # the ninth of the frame holding the sharpest cell, e.g. "upper left third"
    spread: float  # peak / median cell: ~1 even focus, large = selective focus
    working_size: tuple[int, int]  # (width, height) the sharpness was measured at


@dataclass(frozen=True)
class Noise:
    sigma: Measurement  # estimated noise standard deviation, 8-bit luminance levels, native resolution


@dataclass(frozen=True)
class HueShare:
    name: str  # colour family, e.g. "orange"
    hue: float  # circular mean hue of the family's pixels, degrees 0-360
    share: float  # % of the frame


@dataclass(frozen=True)
class Colour:
    saturation: Measurement  # mean HSV saturation, %
    colourfulness: Measurement  # Hasler & Suesstrunk (2003) M
    dominant_hues: list[HueShare]
    neutral_share: float  # % of the frame that is near-neutral (no reliable hue)
    cast: Measurement  # how far the near-neutral tones lean off grey, %; None when there are none
    warmth: float  # + warm (red/yellow) / - cool (blue), %
    tint: float  # + green / - magenta, %
    monochrome: bool


@dataclass(frozen=True)
class Horizon:
    tilt: Measurement  # degrees, + counter-clockwise (rises to the right); value None when no dominant line
    line_position: float | None  # normalised y of the line at the frame's centre
    coverage: float | None  # the line's length as a fraction of the frame width


@dataclass(frozen=True)
class Placement:
    """Where the main subject (peak of a sharpness + colour-contrast saliency map) sits."""

    subject: tuple[float, float]  # normalised (x, y)
    region: str  # ninth of the frame, e.g. "centre"
    kind: str  # "thirds_point", "thirds_line", "centre", "off" or "none" (uniform frame)
    nearest_thirds_point: tuple[float, float]
    nearest_thirds_name: str  # e.g. "upper left"
    thirds_offset: Measurement  # distance to the nearest thirds intersection, % of frame size (None: uniform)
    balance: Measurement  # visual weight on the left half, %
    weight_centre: tuple[float, float]  # normalised centroid of the visual-weight map


@dataclass(frozen=True)
class TechnicalAnalysis:
    """Everything measured on one photo (see the module docstring for conventions)."""

    width: int
    height: int
    histograms: Histograms
    clipping: Clipping
    exposure: Exposure
    dynamic_range: DynamicRange
    sharpness: Sharpness
    noise: Noise
    colour: Colour
    horizon: Horizon
    placement: Placement
    version: int = 1

    def measurements(self) -> dict[str, tuple[str, Measurement]]:
        """Headline measurements for display: key -> (label, measurement), in reading order."""
        out: dict[str, tuple[str, Measurement]] = {}
        for key, (label, path) in MEASUREMENTS.items():
            value: Any = self
            for name in path:
                value = getattr(value, name)
            out[key] = (label, value)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists)."""
        return _jsonable(asdict(self))


# key -> (label, where the Measurement sits in the analysis), in reading order
MEASUREMENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "exposure": ("Exposure (mean luminance)", ("exposure", "mean")),
    "ev_offset": ("Median tone vs mid-grey", ("exposure", "ev_offset")),
    "contrast": ("Contrast (RMS)", ("exposure", "contrast")),
    "highlight_clipping": ("Highlight clipping", ("clipping", "highlights")),
    "shadow_clipping": ("Shadow clipping", ("clipping", "shadows")),
    "dynamic_range": ("Tonal range used", ("dynamic_range", "used")),
    "dynamic_range_stops": ("Tonal range", ("dynamic_range", "stops")),
    "sharpness": ("Sharpness (whole frame)", ("sharpness", "overall")),
    "peak_sharpness": ("Sharpness (sharpest region)", ("sharpness", "peak")),
    "noise": ("Noise", ("noise", "sigma")),
    "saturation": ("Saturation", ("colour", "saturation")),
    "colourfulness": ("Colourfulness", ("colour", "colourfulness")),
    "colour_cast": ("Colour balance", ("colour", "cast")),
    "horizon_tilt": ("Horizon tilt", ("horizon", "tilt")),
    "thirds_offset": ("Subject vs thirds", ("placement", "thirds_offset")),
    "balance": ("Visual weight left", ("placement", "balance")),
}


def measurements_of(data: dict[str, Any] | None) -> list[tuple[str, Measurement]]:
    """The headline measurements of a stored analysis (``TechnicalAnalysis.to_dict``, as a job
    keeps it), as (label, measurement) in reading order; the ones it lacks are left out."""
    out: list[tuple[str, Measurement]] = []
    for label, path in MEASUREMENTS.values():
        value: Any = data
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        if isinstance(value, dict) and "reading" in value:
            out.append((label, Measurement(value.get("value"), str(value.get("unit") or ""), str(value["reading"]))))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
