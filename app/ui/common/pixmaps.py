"""Photo previews for the UI: Qt's own reader (scaled while decoding), PIL for what Qt can't read."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QImageReader, QPixmap

from app.engine.photos.decode import ImageLoadError, load_photo


def pil_to_qimage(image: Image.Image) -> QImage:
    rgb = image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    qimg = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888)
    return qimg.copy()  # own the pixels: ``data`` goes away


def preview_image(image: Image.Image, max_edge: int = 640) -> QImage:
    """A preview of pixels already decoded (the engine's prepared photo, upright): no second decode."""
    if max(image.size) > max_edge:
        image = image.copy()
        image.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
    return pil_to_qimage(image)


def load_preview(path: str | Path, max_edge: int = 640) -> QImage | None:
    """A preview no larger than ``max_edge``, upright (EXIF); None if the file can't be read."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if reader.canRead() and size.isValid():
        scale = min(1.0, max_edge / max(size.width(), size.height(), 1))
        reader.setScaledSize(QSize(max(1, int(size.width() * scale)), max(1, int(size.height() * scale))))
        image = reader.read()
        if not image.isNull():
            return image
    try:  # HEIC, 16-bit TIFF, CMYK...: the engine's loader knows them
        return pil_to_qimage(load_photo(path, max_edge=max_edge))
    except (ImageLoadError, OSError):
        return None


def load_full(path: str | Path) -> QImage | None:
    """The photo at full resolution, upright (what "100 %" shows); any thread. None if unreadable."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    if reader.canRead():
        image = reader.read()
        if not image.isNull():
            return image
    try:  # HEIC, RAW, 16-bit TIFF...: the engine's loader (a RAW file gives its rendering)
        return pil_to_qimage(load_photo(path, max_edge=None))
    except (ImageLoadError, OSError):
        return None


def fit(image: QImage | QPixmap | None, width: int, height: int) -> QPixmap:
    if image is None:
        return QPixmap()
    pixmap = QPixmap.fromImage(image) if isinstance(image, QImage) else image
    return pixmap.scaled(width, height, Qt.AspectRatioMode.KeepAspectRatio,
                         Qt.TransformationMode.SmoothTransformation)
