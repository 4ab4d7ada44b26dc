"""Turning a photo into what a critique needs: the model's image, the measurements, the prompt facts.

Inference and training both call :func:`prepare_photo` / :func:`prepare_image`, so a LoRA is
trained on exactly the image size and the grounding facts it will see at inference. The
measurements run on a copy of up to ``ANALYSIS_EDGE`` px (the sharpness bands are calibrated for
that); the model gets a copy of up to ``settings.max_image_edge`` px (image tokens drive speed
and memory). The facts are the measured ones followed by the shooting data from EXIF.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from app.engine.photos.decode import DecodedPhoto, ImageLoadError, PhotoSource, decode_photo
from app.engine.photos.exif import ShootingData, read_shooting_data, shooting_facts
from app.engine.settings import Settings
from app.engine.technical import TechnicalAnalysis, analyze_photo, grounding_facts
from app.engine.technical.measure import MIN_SIDE

ANALYSIS_EDGE = 1600


@dataclass
class PreparedPhoto:
    image: Image.Image  # what the model sees
    analysis: TechnicalAnalysis
    facts: list[str]  # empty when grounding is off
    source: PhotoSource | None = None  # what the pixels came from (first frame, RAW preview...); None: in memory
    shooting: ShootingData | None = None  # camera settings from EXIF, when the file has them
    notes: list[str] = field(default_factory=list)  # for the report: "only the first of 12 frames ..."


def _fit(image: Image.Image, edge: int) -> Image.Image:
    if max(image.size) <= edge:
        return image
    copy = image.copy()
    copy.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    return copy


def prepare_image(image: Image.Image | DecodedPhoto, settings: Settings, *,
                  shooting: ShootingData | None = None, name: str | Path = "photo") -> PreparedPhoto:
    """From an image already loaded (upload, clipboard, a training variant), of any size from
    ``MIN_SIDE`` px up. Raises ImageLoadError naming ``name`` for a smaller one."""
    source = image.source if isinstance(image, DecodedPhoto) else None
    pixels = image.image if isinstance(image, DecodedPhoto) else image
    if min(pixels.size) < MIN_SIDE:
        raise ImageLoadError(name, f"image is only {pixels.width}x{pixels.height} px; a photo to critique "
                                   f"needs at least {MIN_SIDE} px on each side")
    analysis = analyze_photo(_fit(pixels, ANALYSIS_EDGE))
    facts = grounding_facts(analysis) + shooting_facts(shooting) if settings.grounding else []
    return PreparedPhoto(image=_fit(pixels, settings.max_image_edge), analysis=analysis, facts=facts,
                         source=source, shooting=shooting, notes=source.notes() if source else [])


def load_for_critique(path: str | Path, settings: Settings) -> tuple[DecodedPhoto, ShootingData | None]:
    """One decode at the larger of the analysis and model sizes (a RAW preview must cover the model's
    edge), and the shooting data. Raises ImageLoadError."""
    decoded = decode_photo(path, max_edge=max(ANALYSIS_EDGE, settings.max_image_edge),
                           min_raw_preview_edge=settings.max_image_edge)
    return decoded, read_shooting_data(path)


def prepare_photo(path: str | Path, settings: Settings) -> PreparedPhoto:
    """From a photo file. Raises ImageLoadError."""
    decoded, shooting = load_for_critique(path, settings)
    return prepare_image(decoded, settings, shooting=shooting, name=path)
