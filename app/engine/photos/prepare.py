"""Turning a photo into what a critique needs: the model's image, the measurements, the prompt facts.

Inference and training both call :func:`prepare_photo`, so a LoRA is trained on exactly the image
size and the grounding facts it will see at inference. The measurements run on a copy of up to
``ANALYSIS_EDGE`` px (the sharpness bands are calibrated for that); the model gets a copy of up to
``settings.max_image_edge`` px (image tokens drive speed and memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from app.engine.photos.decode import load_photo
from app.engine.settings import Settings
from app.engine.technical import TechnicalAnalysis, analyze_photo, grounding_facts

ANALYSIS_EDGE = 1600


@dataclass
class PreparedPhoto:
    image: Image.Image  # what the model sees
    analysis: TechnicalAnalysis
    facts: list[str]  # empty when grounding is off


def _fit(image: Image.Image, edge: int) -> Image.Image:
    if max(image.size) <= edge:
        return image
    copy = image.copy()
    copy.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    return copy


def prepare_image(image: Image.Image, settings: Settings) -> PreparedPhoto:
    """From an already loaded RGB image (upload, clipboard), of any size."""
    analysis = analyze_photo(_fit(image, ANALYSIS_EDGE))
    facts = grounding_facts(analysis) if settings.grounding else []
    return PreparedPhoto(image=_fit(image, settings.max_image_edge), analysis=analysis, facts=facts)


def prepare_photo(path: str | Path, settings: Settings) -> PreparedPhoto:
    """From a photo file: one decode at the larger of the two sizes. Raises ImageLoadError."""
    image = load_photo(path, max_edge=max(ANALYSIS_EDGE, settings.max_image_edge))
    return prepare_image(image, settings)
