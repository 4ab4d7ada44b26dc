"""Real DNG files for tests and benchmarks: a Bayer mosaic of a photo, written by tifffile as Adobe DNG.

The layout is what cameras and Adobe's converter write: IFD0 is an 8-bit RGB preview (or, with no
preview, the raw image itself), the CFA raw image is in a SubIFD, with DNGVersion, the colour
matrix, the as-shot white balance and black/white levels LibRaw needs to demosaic it. Shooting
data is added with exiv2, as a camera would have written it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BLACK, WHITE = 64, 4000
# The sensor sees red and blue at half the green response; AsShotNeutral tells the raw converter.
_CHANNEL_GAIN = (0.5, 1.0, 0.5)


def bayer_mosaic(rgb: np.ndarray) -> np.ndarray:
    """An RGGB 12-bit mosaic of an 8-bit sRGB image (linearised, channel gains applied)."""
    linear = (rgb.astype(np.float64) / 255.0) ** 2.2 * np.asarray(_CHANNEL_GAIN)
    h, w = rgb.shape[:2]
    mosaic = np.zeros((h - h % 2, w - w % 2), np.float64)
    mosaic[0::2, 0::2] = linear[0:h - h % 2:2, 0:w - w % 2:2, 0]
    mosaic[0::2, 1::2] = linear[0:h - h % 2:2, 1:w - w % 2:2, 1]
    mosaic[1::2, 0::2] = linear[1:h - h % 2:2, 0:w - w % 2:2, 1]
    mosaic[1::2, 1::2] = linear[1:h - h % 2:2, 1:w - w % 2:2, 2]
    return (mosaic * (WHITE - BLACK) + BLACK).round().astype(np.uint16)


def write_dng(path: Path, rgb: np.ndarray, *, preview: np.ndarray | None = None, orientation: int = 1,
              make: str = "Mondrian", model: str = "Test Camera") -> Path:
    """Write ``rgb`` (HxWx3 uint8) as a CFA DNG at ``path``; ``preview`` (uint8 RGB) becomes IFD0."""
    import tifffile

    common: list[tuple[int, str, int, Any, bool]] = [
        (271, "s", 0, make, True),
        (272, "s", 0, model, True),
        (274, "H", 1, (orientation,), True),
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, f"{make} {model}", True),  # UniqueCameraModel
        (50721, "2i", 9, (10000, 10000, 0, 10000, 0, 10000, 0, 10000, 10000, 10000,  # ColorMatrix1: identity
                          0, 10000, 0, 10000, 0, 10000, 10000, 10000), True),
        (50778, "H", 1, (21,), True),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, (1, 2, 1, 1, 1, 2), True),  # AsShotNeutral = the channel gains
    ]
    cfa: list[tuple[int, str, int, Any, bool]] = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: RGGB
        (50714, "H", 1, (BLACK,), True),  # BlackLevel
        (50717, "H", 1, (WHITE,), True),  # WhiteLevel
    ]
    mosaic = bayer_mosaic(rgb)
    with tifffile.TiffWriter(path) as tiff:
        if preview is not None:
            tiff.write(preview, photometric="rgb", subfiletype=1, subifds=1, extratags=common, metadata=None)
            tiff.write(mosaic, photometric=32803, subfiletype=0, extratags=cfa, metadata=None)
        else:
            tiff.write(mosaic, photometric=32803, subfiletype=0, extratags=common + cfa, metadata=None)
    return path


def add_shooting_data(path: Path, *, exposure: tuple[int, int] = (1, 30), f_number: tuple[int, int] = (28, 10),
                      iso: int = 3200, focal_mm: int = 200, flash: int = 0x10, lens: str = "70-200mm F2.8",
                      taken: str = "2024:05:06 07:08:09") -> Path:
    """Write EXIF shooting data into a photo file in place (test fixtures only) with exiv2."""
    import exiv2

    image = exiv2.ImageFactory.open(str(path))
    image.readMetadata()
    exif = image.exifData()
    exif["Exif.Photo.ExposureTime"] = exiv2.URationalValue(exposure)
    exif["Exif.Photo.FNumber"] = exiv2.URationalValue(f_number)
    exif["Exif.Photo.ISOSpeedRatings"] = exiv2.UShortValue(iso)
    exif["Exif.Photo.FocalLength"] = exiv2.URationalValue((focal_mm, 1))
    exif["Exif.Photo.Flash"] = exiv2.UShortValue(flash)
    exif["Exif.Photo.LensModel"] = lens
    exif["Exif.Photo.DateTimeOriginal"] = taken
    image.writeMetadata()
    return path
