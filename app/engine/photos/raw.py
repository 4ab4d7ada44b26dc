"""Camera RAW files through LibRaw (rawpy): the embedded preview when it is big enough, else a demosaic.

Most cameras embed a full-quality JPEG preview (often the whole sensor size, at least ~1600 px).
When its long edge reaches what the caller needs (the model's image edge), that preview is used:
decoding it takes milliseconds where a demosaic takes seconds. Otherwise LibRaw demosaics the
sensor data with the camera's white balance, at half size when half still covers the request.
:class:`RawRender` says which was done, so measurements can say what they were made on.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from PIL import Image

from app.engine.photos.errors import ImageLoadError
from app.engine.photos.pillow_open import check_pixels
from app.engine.photos.pixels import fit
from app.engine.photos.still import load_still

# LibRaw's ``sizes.flip`` -> the transpose that makes a preview upright (demosaics come out upright).
_FLIP = {3: Image.Transpose.ROTATE_180, 5: Image.Transpose.ROTATE_90, 6: Image.Transpose.ROTATE_270}

EMBEDDED_PREVIEW: Final = "embedded_preview"
DEMOSAIC: Final = "demosaic"


@dataclass(frozen=True)
class RawRender:
    """How a RAW file became pixels."""

    method: Literal["embedded_preview", "demosaic"]
    width: int  # what was rendered, upright, before any resize
    height: int
    sensor_width: int  # the RAW image, upright
    sensor_height: int
    half_size: bool = False  # demosaic at half resolution (each 2x2 Bayer block -> one pixel)

    def describe(self) -> str:
        """One phrase for a report footer: what the pixels are."""
        if self.method == EMBEDDED_PREVIEW:
            return f"the camera's embedded {self.width}x{self.height} preview of the RAW file"
        half = ", half size" if self.half_size else ""
        return f"a LibRaw demosaic of the RAW data ({self.width}x{self.height}, camera white balance{half})"

    def to_dict(self) -> dict[str, object]:
        return {"method": self.method, "width": self.width, "height": self.height,
                "sensor_width": self.sensor_width, "sensor_height": self.sensor_height, "half_size": self.half_size}


def _open(source: Path | bytes, path: Path) -> Any:
    import rawpy

    if isinstance(source, bytes) and not source or isinstance(source, Path) and _empty(source):
        raise ImageLoadError(path, "file is empty")
    try:
        return rawpy.imread(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    except FileNotFoundError as exc:
        raise ImageLoadError(path, "file not found") from exc
    except PermissionError as exc:
        raise ImageLoadError(path, "permission denied") from exc
    except rawpy.LibRawFileUnsupportedError as exc:
        raise ImageLoadError(path, "not a RAW file LibRaw can read (unsupported camera or corrupt file)") from exc
    except (rawpy.LibRawError, OSError) as exc:
        raise ImageLoadError(path, f"truncated or corrupt RAW data ({_why(exc)})") from exc


def _empty(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size == 0
    except OSError:
        return False


def _why(exc: BaseException) -> str:
    text = str(exc.args[0] if exc.args else exc)
    return text[2:-1] if text.startswith(("b'", 'b"')) else text  # rawpy's messages are bytes reprs


def _upright(sizes: Any) -> tuple[int, int]:
    return (sizes.height, sizes.width) if sizes.flip in (5, 6) else (sizes.width, sizes.height)


def raw_size(source: Path | bytes, path: Path) -> tuple[int, int]:
    """The RAW image's upright size from its header (nothing decoded). Raises ImageLoadError."""
    with _open(source, path) as raw:
        return _upright(raw.sizes)


def _preview(raw: Any, path: Path, max_edge: int | None, max_pixels: int) -> tuple[Image.Image, tuple[int, int]] | None:
    """The embedded preview, upright and fitted to ``max_edge``, with its full upright size; None when
    there is none we can decode."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    except rawpy.LibRawError:
        return None  # a damaged preview: the sensor data may still be fine
    if thumb.format == rawpy.ThumbFormat.JPEG:
        try:
            still = load_still(io.BytesIO(thumb.data), path, max_edge, max_pixels)
        except ImageLoadError:
            return None
        image, full = still.image, (still.width, still.height)
        if still.orientation != 1:  # the preview carries its own orientation: already applied
            return image, full
    else:  # BITMAP: an RGB array
        data = np.asarray(thumb.data)
        if data.ndim != 3 or data.shape[2] != 3 or data.dtype != np.uint8:
            return None
        image, full = fit(Image.fromarray(data, "RGB"), max_edge), (data.shape[1], data.shape[0])
    method = _FLIP.get(raw.sizes.flip)
    if method is None:
        return image, full
    return image.transpose(method), (full[1], full[0]) if raw.sizes.flip in (5, 6) else full


def load_raw(
    source: Path | bytes, path: Path, *, max_edge: int | None, min_preview_edge: int | None, max_pixels: int
) -> tuple[Image.Image, RawRender]:
    """Decode a RAW file to upright 8-bit sRGB, long edge at most ``max_edge``.

    The embedded preview is used when its long edge is at least ``min_preview_edge`` (default:
    ``max_edge``; with neither, the sensor's long edge). Raises ImageLoadError naming ``path``.
    """
    import rawpy

    with _open(source, path) as raw:
        sensor = _upright(raw.sizes)
        check_pixels(path, sensor, max_pixels)
        needed = min(min_preview_edge or max_edge or max(sensor), max(sensor))
        preview = _preview(raw, path, max_edge, max_pixels)
        if preview is not None and max(preview[1]) >= needed:
            return preview[0], RawRender(EMBEDDED_PREVIEW, *preview[1], *sensor)
        half = max_edge is not None and max(sensor) // 2 >= max_edge
        try:
            rgb = raw.postprocess(use_camera_wb=True, output_bps=8, half_size=half)
        except MemoryError as exc:
            raise ImageLoadError(path, f"not enough memory to demosaic {sensor[0]}x{sensor[1]} pixels") from exc
        except rawpy.LibRawError as exc:
            raise ImageLoadError(path, f"truncated or corrupt RAW data ({_why(exc)})") from exc
    image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    full = image.size
    return fit(image, max_edge), RawRender(DEMOSAIC, *full, *sensor, half_size=half)
