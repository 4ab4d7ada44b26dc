"""A critique report made from the measurements alone, for when no vision-language model is installed.

Only what the measurements can speak to is scored; the rest is marked as needing a vision model
(``score=None``), never invented. Scores are whole numbers 1-10 from these rules:

focus_sharpness
    ``1.5 + 2.5 * log10(peak / 5)`` where ``peak`` is the Laplacian variance of the sharpest focus-map
    cell (so selective focus is not punished: 50 -> 4, 250 -> 5.7, 1000 -> 7.3, 3000 -> 8.4);
    minus 0.5 when noise sigma >= 3 levels, 1.5 when >= 6, 3 when >= 12.
lighting
    One rule gives the score, the comment's words and the advice (:func:`lighting_findings`): 10,
    minus each problem the comment names, each at least 1 point: clipped highlights (from 0.1 %,
    0.8 per %, at most 4), clipped shadows (from 0.1 %, 0.4 per %, at most 3), the exposure band of
    the mean luminance (slightly dark/bright 1, dark/very bright 2, very dark/high-key 3; balanced
    is 45-60 %), a narrow tonal range (under 50 % used: 1 plus 0.1 per % short, at most 3). The
    advice answers the costliest problem; "keep it" only when there is none.
color_harmony
    From the dominant hue families (>= 5 % of the frame): one family or all within 60 degrees
    (analogous) 8, two about 180 degrees apart (complementary) 8, three about 120 degrees apart
    (triadic) 7, otherwise (mixed) 6; minus 2 when the near-neutral tones are strongly green or
    magenta (0.5 when slightly), minus 0.5 when strongly warm or cool (warmth is often intended);
    minus 1 when mean saturation exceeds 65 % (oversaturated), minus 1 when any channel is clipped
    at 255 on >= 2 % of the frame. A monochrome photo gets no score: colour harmony does not apply.
visual_balance
    9 minus 0.2 per % the visual weight on the left half lies beyond 45-55 %, at least 3.
composition (partly: subject placement and horizon only)
    6; plus 1.5 with the saliency peak on a thirds intersection, plus 1 on a thirds line, plus 0.5
    centred; plus 0.5 for a level horizon, minus 0.5 for a tilt of 0.5-1.5 degrees, minus 1.5 for
    1.5-8 degrees (larger tilts read as deliberate and are not scored).
subject_isolation, depth_perspective, emotional_impact
    Not measurable: ``score=None`` with a comment saying a vision model is needed.

The overall grade is :func:`~app.engine.critique.report.grade_for_score` of the mean of the scored
dimensions; ``Report.notes`` carries ``"technical-only"``.
"""

from __future__ import annotations

import math

from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS, DimensionScore, Report, grade_for_score
from app.engine.technical import readings as rd
from app.engine.technical.results import TechnicalAnalysis

TECHNICAL_ONLY_NOTE = "technical-only"

NOT_MEASURABLE = {
    "subject_isolation": "how well the subject separates from its background",
    "depth_perspective": "depth, layering and perspective",
    "emotional_impact": "mood, story and emotional impact",
}


def _clamp_score(value: float) -> float:
    return float(min(10, max(1, math.floor(value + 0.5))))


def _focus(a: TechnicalAnalysis) -> DimensionScore:
    s, noise = a.sharpness, a.noise.sigma
    peak = s.peak.value or 0.0
    score = 1.5 + 2.5 * math.log10(max(peak, 0.5) / 5)
    sigma = noise.value or 0.0
    score -= 3.0 if sigma >= 12 else 1.5 if sigma >= 6 else 0.5 if sigma >= 3 else 0.0
    selective = s.spread >= rd.SELECTIVE_SPREAD
    spread = ("much of the frame is smooth or out of focus" if selective
              else "detail is fairly even across the frame")
    comment = (f"Sharpest in the {s.sharpest_region}: {rd.sharpness_reading(peak)} (Laplacian variance "
               f"{peak:.0f}; whole frame {s.overall.value:.0f}, {spread}). Noise: {noise.reading}.")
    if peak < rd.SHARP_SLIGHTLY_SOFT:
        rec = ("Even the sharpest region is soft: check the focus point, use a faster shutter speed "
               "or a support, and avoid stopping down past the lens's sharpest aperture.")
    elif sigma >= 3:
        rec = "Lower the ISO (more light or a longer exposure on a support) or apply noise reduction."
    elif selective:
        rec = f"Make sure the sharpest region, the {s.sharpest_region}, is where the subject is."
    elif peak < rd.SHARP_SHARP:
        rec = ("Sharp, though not crisp: for finer detail use a faster shutter speed or a support, and the "
               "lens's sharpest aperture.")
    else:
        rec = "Sharpness is good; keep the technique."
    return DimensionScore(_clamp_score(score), comment, rec)


# Exposure bands (readings.EXPOSURE_BANDS) and what each costs: the score, the comment's words and
# the advice all come from the band the mean luminance falls in.
EXPOSURE_COST = {"very dark (low-key)": 3.0, "dark": 2.0, "slightly dark": 1.0, "balanced": 0.0,
                 "bright": 1.0, "very bright": 2.0, "very bright (high-key)": 3.0}


def lighting_findings(a: TechnicalAnalysis) -> dict[str, float]:
    """What the comment reports as a lighting problem, each with its cost (at least 1 point, so a
    problem named in the comment always shows in the whole-number score and leads the advice)."""
    hl = a.clipping.highlights.value or 0.0
    sh = a.clipping.shadows.value or 0.0
    mean = a.exposure.mean.value or 0.0
    used = a.dynamic_range.used.value or 0.0
    band = rd.exposure_reading(mean)
    found = {
        "highlights": max(1.0, min(4.0, 0.8 * hl)) if hl >= rd.CLIP_MINOR else 0.0,
        "shadows": max(1.0, min(3.0, 0.4 * sh)) if sh >= rd.CLIP_MINOR else 0.0,
        "dark" if mean < 50 else "bright": EXPOSURE_COST.get(band, 0.0),
        "flat": 1.0 + min(2.0, 0.1 * (rd.RANGE_BANDS[0][0] - used)) if used < rd.RANGE_BANDS[0][0] else 0.0,
    }
    return {k: v for k, v in found.items() if v > 0}


def _lighting(a: TechnicalAnalysis) -> DimensionScore:
    hl = a.clipping.highlights.value or 0.0
    sh = a.clipping.shadows.value or 0.0
    mean = a.exposure.mean.value or 0.0
    found = lighting_findings(a)
    score = 10 - sum(found.values())
    comment = (f"Exposure {a.exposure.mean.reading} (mean luminance {rd.pct(mean)}, {a.exposure.ev_offset.reading}); "
               f"{_clipped('highlights', hl)}, {_clipped('shadows', sh)}; tonal range "
               f"{a.dynamic_range.used.reading}, {a.exposure.contrast.reading}.")
    stops = abs(a.exposure.ev_offset.value or 0.0)
    recs = {
        "highlights": "Protect the highlights: expose less (or bracket), or recover them in editing.",
        "shadows": "Lift the shadows or add fill light so the dark areas keep detail.",
        "dark": f"Brighten the exposure (the median tone is about {stops:.1f} stops below mid-grey) "
                "unless the low key is intended.",
        "bright": "Darken the exposure unless the high key is intended.",
        "flat": "Add contrast: set the black and white points so the tones use the full range.",
    }
    rec = recs[max(found, key=lambda k: found[k])] if found else "Exposure is well controlled; keep it."
    return DimensionScore(_clamp_score(score), comment, rec)


def _clipped(kind: str, share: float) -> str:
    if share < rd.CLIP_MINOR:
        return f"no {kind} clipped"
    return f"{kind} clipped on {rd.pct(share)} of the frame ({rd.clipping_reading(share)})"


def palette_scheme(hues: list[float]) -> str:
    """'analogous', 'complementary', 'triadic' or 'mixed' for hue angles (degrees) of dominant families."""

    def gap(x: float, y: float) -> float:
        d = abs(x - y) % 360
        return min(d, 360 - d)

    if len(hues) <= 1 or all(gap(x, y) <= 60 for x in hues for y in hues):
        return "analogous"
    if len(hues) == 2 and gap(*hues) >= 150:
        return "complementary"
    if len(hues) == 3 and all(90 <= gap(x, y) <= 150 for i, x in enumerate(hues) for y in hues[i + 1:]):
        return "triadic"
    # two close hues and one opposite them also reads as (split-)complementary
    if len(hues) == 3 and any(gap(x, y) <= 60 and all(gap(x, z) >= 120 and gap(y, z) >= 120
                                                       for z in hues if z not in (x, y))
                              for i, x in enumerate(hues) for y in hues[i + 1:]):
        return "complementary"
    return "mixed"


def _colour(a: TechnicalAnalysis) -> DimensionScore:
    c = a.colour
    if c.monochrome:
        return DimensionScore(None, f"Monochrome photo (mean saturation {rd.pct(c.saturation.value or 0.0)}): "
                                    "colour harmony does not apply.", "")
    scheme = palette_scheme([h.hue for h in c.dominant_hues])
    score = {"analogous": 8.0, "complementary": 8.0, "triadic": 7.0, "mixed": 6.0}[scheme]
    cast = c.cast.value
    tinted = cast is not None and rd.cast_direction(c.warmth, c.tint) in ("green", "magenta")
    cast_penalty = 0.0
    if cast is not None and cast >= rd.CAST_STRONG:
        cast_penalty = 2.0 if tinted else 0.5
    elif cast is not None and cast >= rd.CAST_NEUTRAL and tinted:
        cast_penalty = 0.5
    score -= cast_penalty
    oversaturated = (c.saturation.value or 0.0) > 65
    score -= 1.0 if oversaturated else 0.0
    channel_clip = max(a.clipping.channels_at_255.values())
    score -= 1.0 if channel_clip >= 2.0 else 0.0
    hues = ", ".join(f"{h.name} {rd.pct(h.share)}" for h in c.dominant_hues) or "no dominant colour family"
    balance = "not measurable" if cast is None else c.cast.reading
    comment = (f"{scheme.capitalize()} palette ({hues}); saturation {c.saturation.reading} "
               f"(mean {rd.pct(c.saturation.value or 0.0)}); near-neutral tones: {balance}.")
    if cast_penalty:
        direction = rd.cast_direction(c.warmth, c.tint)
        rec = (f"Check the white balance: the neutral tones lean {c.cast.reading}." if tinted else
               f"The neutral tones lean {direction}: neutralise the white balance unless that mood is intended.")
    elif oversaturated:
        rec = "Ease off the saturation so colours keep their gradations."
    elif channel_clip >= 2.0:
        rec = "A colour channel is clipped: reduce saturation or exposure in the brightest colours."
    elif scheme == "mixed":
        rec = "Simplify the palette: fewer competing hues, or let one colour family lead."
    else:
        rec = "The palette is coherent; keep it."
    return DimensionScore(_clamp_score(score), comment, rec)


def _balance(a: TechnicalAnalysis) -> DimensionScore:
    p = a.placement
    left = p.balance.value if p.balance.value is not None else 50.0
    off = abs(left - 50.0)
    score = max(3.0, 9 - 0.2 * max(0.0, off - 5))
    cx, cy = p.weight_centre
    comment = (f"Visual weight (contrast and detail) {p.balance.reading}; its centre sits in the "
               f"{rd.region_name(cx, cy)}.")
    if off < rd.BALANCE_EVEN:
        rec = "Balance is even; an off-centre subject can add tension if you want it."
    else:
        heavy = "left" if left > 50 else "right"
        light = "right" if heavy == "left" else "left"
        rec = f"Counterweight the heavy {heavy} side with an element on the {light}, or recompose."
    return DimensionScore(_clamp_score(score), comment, rec)


def _composition(a: TechnicalAnalysis) -> DimensionScore:
    p = a.placement
    reading = p.thirds_offset.reading
    score = 6.0 + {"thirds_point": 1.5, "thirds_line": 1.0, "centre": 0.5}.get(p.kind, 0.0)
    tilt = a.horizon.tilt.value
    if tilt is not None:
        size = abs(tilt)
        if size < rd.TILT_LEVEL:
            score += 0.5
        elif size < rd.TILT_SLIGHT:
            score -= 0.5
        elif size < rd.TILT_DELIBERATE:
            score -= 1.5
    horizon = "no dominant horizon line" if tilt is None else f"horizon {a.horizon.tilt.reading}"
    comment = (f"Partly measured (placement and horizon only): the strongest point of contrast and detail, "
               f"likely the subject, is {reading}; {horizon}. Framing, lines and storytelling need a vision model.")
    if tilt is not None and rd.TILT_LEVEL <= abs(tilt) < rd.TILT_DELIBERATE:
        rec = f"Rotate {abs(tilt):.1f}° {'clockwise' if tilt > 0 else 'counter-clockwise'} to level the horizon."
    elif p.kind == "off":
        rec = f"Try placing the subject on a thirds line, e.g. towards the {p.nearest_thirds_name} intersection."
    else:
        rec = "Placement works; check the edges of the frame for distractions."
    return DimensionScore(_clamp_score(score), comment, rec)


def technical_report(analysis: TechnicalAnalysis) -> Report:
    """A measurement-only :class:`Report` (see the module docstring for the rules)."""
    dims = {
        "composition": _composition(analysis),
        "lighting": _lighting(analysis),
        "focus_sharpness": _focus(analysis),
        "color_harmony": _colour(analysis),
        "visual_balance": _balance(analysis),
    }
    for key, what in NOT_MEASURABLE.items():
        dims[key] = DimensionScore(None, f"Needs a vision model: {what} cannot be measured from pixels alone.", "")
    dims = {k: dims[k] for k in DIMENSIONS}
    scored = {k: d.score for k, d in dims.items() if d.score is not None}
    mean = sum(scored.values()) / len(scored)
    names = ", ".join(DIMENSION_LABELS[k] for k in DIMENSIONS if k not in scored)
    summary = (f"Measurement-only report (no vision model): {len(scored)} of {len(DIMENSIONS)} dimensions "
               f"scored from measured exposure, sharpness, colour and geometry, mean {mean:.1f}/10; "
               f"{names} need a vision model. Sharpest region: {analysis.sharpness.sharpest_region}; "
               f"{_clipped('highlights', analysis.clipping.highlights.value or 0.0)}.")
    return Report(dimensions=dims, overall_grade=grade_for_score(mean), summary=summary,
                  notes=[TECHNICAL_ONLY_NOTE])
