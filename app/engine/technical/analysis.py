"""The entry point: :func:`analyze_photo` runs every measurement on one photo."""

from __future__ import annotations

from PIL import Image

from app.engine.technical.geometry import measure_horizon, measure_placement
from app.engine.technical.measure import (
    measure_clipping,
    measure_colour,
    measure_dynamic_range,
    measure_exposure,
    measure_histograms,
    measure_noise,
    measure_sharpness,
    prepare,
)
from app.engine.technical.results import TechnicalAnalysis


def analyze_photo(image: Image.Image) -> TechnicalAnalysis:
    """Measure a photo as displayed (pass it already EXIF-oriented, e.g. from ``load_photo``).

    Deterministic, model-free and read-only: the image is never modified. Raises ``TypeError``
    for a non-image and ``ValueError`` for a photo too small to measure.
    """
    prep = prepare(image)
    return TechnicalAnalysis(
        width=prep.rgb.width,
        height=prep.rgb.height,
        histograms=measure_histograms(prep),
        clipping=measure_clipping(prep),
        exposure=measure_exposure(prep),
        dynamic_range=measure_dynamic_range(prep),
        sharpness=measure_sharpness(prep),
        noise=measure_noise(prep),
        colour=measure_colour(prep),
        horizon=measure_horizon(prep),
        placement=measure_placement(prep),
    )
