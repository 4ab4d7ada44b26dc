"""Measured facts as short sentences for the prompt, so the model's comments agree with the photo.

The same function serves inference and training prompts (a LoRA only transfers if both see the
same facts). Facts state measurements, not verdicts: the model judges, the numbers keep it honest.
Each is one line without a final full stop (the prompt builder bullets them).
"""

from __future__ import annotations

from app.engine.technical import readings as rd
from app.engine.technical.results import TechnicalAnalysis


def grounding_facts(analysis: TechnicalAnalysis) -> list[str]:
    """Short factual sentences about ``analysis``, most decisive first."""
    a = analysis
    facts: list[str] = []

    mean = a.exposure.mean
    facts.append(f"Exposure: mean luminance {rd.pct(mean.value or 0.0)}, {mean.reading}; "
                 f"{a.exposure.ev_offset.reading}")
    facts.append(_clip_fact("Highlights", a.clipping.highlights.value or 0.0))
    facts.append(_clip_fact("Shadows", a.clipping.shadows.value or 0.0))
    facts.append(f"Tonal range: {a.dynamic_range.used.reading}; {a.exposure.contrast.reading}")

    s = a.sharpness
    facts.append(f"Sharpest region: {s.sharpest_region} ({rd.sharpness_reading(s.peak.value or 0.0)})")
    if s.spread >= rd.SELECTIVE_SPREAD:
        facts.append("Fine detail is concentrated there; much of the frame is smooth or out of focus")
    else:
        facts.append(f"Fine detail is fairly even across the frame (whole frame: {s.overall.reading})")
    if a.noise.sigma.value is not None:
        facts.append(f"Noise: {a.noise.sigma.reading} (sigma {a.noise.sigma.value:.1f} levels)")

    c = a.colour
    if c.monochrome:
        facts.append("Colour: monochrome (no colour)")
    else:
        hues = ", ".join(f"{h.name} {rd.pct(h.share)}" for h in c.dominant_hues)
        palette = f"; dominant colours: {hues}" if hues else "; no dominant colour family"
        facts.append(f"Colour: saturation {c.saturation.reading} (mean {rd.pct(c.saturation.value or 0.0)})"
                     f"{palette}")
        if c.cast.value is not None:
            facts.append(f"Colour balance of the near-neutral tones: {c.cast.reading}")

    tilt = a.horizon.tilt.value
    if tilt is None:
        facts.append("Horizon: no dominant horizontal line detected")
    elif abs(tilt) < rd.TILT_LEVEL:
        facts.append(f"Horizon: level (dominant line {tilt:+.1f}°)")
    else:
        side = "rises to the right" if tilt > 0 else "falls to the right"
        facts.append(f"Horizon tilted {abs(tilt):.1f}° ({side})")

    p = a.placement
    facts.append(f"Strongest point of contrast and detail (likely subject): {p.thirds_offset.reading}")
    facts.append(f"Visual weight: {p.balance.reading}")
    return facts


def _clip_fact(kind: str, share: float) -> str:
    if share < rd.CLIP_MINOR:
        return f"{kind}: none clipped"
    return f"{kind} clipped on {rd.pct(share)} of the frame"
