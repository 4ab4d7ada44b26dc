"""Any decoded Pillow mode -> 8-bit sRGB, without the clipping and black backgrounds of a plain ``convert``.

CMYK and embedded ICC profiles go through LittleCMS to sRGB, 16-bit and float images are scaled
(Pillow's own ``convert`` would clip them), palette and alpha images are composited on white.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from app.engine.photos.errors import ImageLoadError

log = logging.getLogger(__name__)

_WHITE = (255, 255, 255)


def _scale_to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and float greyscale to 8-bit L. Pillow's convert('L') clips instead of scaling."""
    arr = np.asarray(im)
    if im.mode == "F":
        arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(arr.max(initial=0.0))
        # Float TIFFs are usually 0..1; anything brighter is scaled by its own peak.
        scale = 255.0 if peak <= 1.0 else 255.0 / peak
        out = np.clip(arr * scale + 0.5, 0, 255)
    else:  # I;16 variants and I (Pillow opens 16-bit greyscale as one of these): 0..65535
        out = np.clip(arr.astype(np.float64) / 257.0 + 0.5, 0, 255)
    return Image.fromarray(out.astype(np.uint8))  # 2-D uint8 -> mode L


def _flatten_alpha(im: Image.Image) -> Image.Image:
    """Composite on white: transparent areas read as paper, not as black."""
    rgba = im.convert("RGBA")
    background = Image.new("RGB", rgba.size, _WHITE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Colour-manage RGB/CMYK with the embedded profile; fall back to Pillow's plain convert."""
    if icc:
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            description = ImageCms.getProfileDescription(source) or ""
            if not (im.mode == "RGB" and "srgb" in description.lower()):
                converted = ImageCms.profileToProfile(
                    im,
                    source,
                    ImageCms.createProfile("sRGB"),
                    renderingIntent=ImageCms.Intent.PERCEPTUAL,
                    outputMode="RGB",
                )
                if converted is not None:
                    return converted
        except Exception:  # a broken or mismatched profile must not make a photo unreadable
            log.debug("ICC profile not applied", exc_info=True)
    return im if im.mode == "RGB" else im.convert("RGB")


def to_rgb(im: Image.Image, path: Path) -> Image.Image:
    """Any decoded mode -> 8-bit RGB."""
    icc = im.info.get("icc_profile")
    mode = im.mode
    if mode == "P":
        has_alpha = "transparency" in im.info or im.palette is not None and im.palette.mode == "RGBA"
        return _flatten_alpha(im) if has_alpha else im.convert("RGB")
    if mode in ("PA", "RGBA", "RGBa", "LA", "La"):
        return _to_srgb(_flatten_alpha(im), icc if mode in ("RGBA", "RGBa") else None)
    if mode == "1":
        return im.convert("L").convert("RGB")
    if mode in ("I", "F") or mode.startswith("I;16"):
        return _scale_to_8bit(im).convert("RGB")
    if mode == "L":
        return im.convert("RGB")
    if mode in ("RGB", "CMYK"):
        return _to_srgb(im, icc)
    if mode == "LAB":
        try:
            from PIL import ImageCms

            lab = ImageCms.createProfile("LAB")
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(im, lab, srgb, outputMode="RGB")
            if converted is not None:
                return converted
        except Exception as exc:
            raise ImageLoadError(path, "cannot convert LAB colour to RGB") from exc
    try:
        return im.convert("RGB")  # YCbCr, HSV, RGBX
    except (ValueError, OSError) as exc:
        raise ImageLoadError(path, f"unsupported colour mode '{mode}'") from exc


def target_size(size: tuple[int, int], max_edge: int | None) -> tuple[int, int]:
    """``size`` scaled so the long edge is at most ``max_edge`` (never up)."""
    width, height = size
    if max_edge is None or max(width, height) <= max_edge:
        return size
    scale = max_edge / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def fit(image: Image.Image, max_edge: int | None) -> Image.Image:
    """A Lanczos-resized copy with the long edge at most ``max_edge``, or ``image`` itself if it fits."""
    target = target_size(image.size, max_edge)
    if target == image.size:
        return image
    return image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
