"""Camera RAW through LibRaw: real DNG files (Bayer mosaics of a scikit-image photo, written by tifffile)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.engine.photos.decode import ImageLoadError, decode_bytes, decode_photo, load_photo, open_photo_info
from app.engine.photos.exif import read_shooting_data, shooting_facts
from app.engine.photos.prepare import prepare_photo
from app.engine.photos.raw import DEMOSAIC, EMBEDDED_PREVIEW
from app.engine.settings import Settings
from app.testing.dng import add_shooting_data, write_dng


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()[:, :480]  # 512x480: not square, so orientation mistakes show


@pytest.fixture(scope="module")
def dngs(tmp_path_factory: pytest.TempPathFactory, photo: np.ndarray) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("raw")
    plain = write_dng(root / "PLAIN.DNG", photo)
    with_preview = write_dng(root / "IMG_0001.dng", photo, preview=photo)
    small_preview = write_dng(root / "small.dng", photo, preview=photo[::4, ::4].copy())
    rotated = write_dng(root / "rotated.dng", photo, preview=photo, orientation=6)
    rotated_plain = write_dng(root / "rotated_plain.dng", photo, orientation=6)
    add_shooting_data(with_preview)
    return {"plain": plain, "preview": with_preview, "small": small_preview, "rotated": rotated,
            "rotated_plain": rotated_plain}


def _close(a: Image.Image, b: np.ndarray, tolerance: float) -> bool:
    """Mean absolute difference at a coarse 60x64 scale (resampling detail does not count)."""
    size = (60, 64)
    small_a = np.asarray(a.resize(size, Image.Resampling.BOX), dtype=np.float64)
    small_b = np.asarray(Image.fromarray(b).resize(size, Image.Resampling.BOX), dtype=np.float64)
    return float(np.abs(small_a - small_b).mean()) < tolerance


def test_embedded_preview_used_when_large_enough(dngs: dict[str, Path], photo: np.ndarray) -> None:
    before = dngs["preview"].read_bytes()
    decoded = decode_photo(dngs["preview"], max_edge=256)
    assert decoded.source.raw is not None and decoded.source.raw.method == EMBEDDED_PREVIEW
    assert decoded.source.format == "DNG"
    assert decoded.image.mode == "RGB" and decoded.image.size == (240, 256)
    assert _close(decoded.image, photo, 3.0)  # the preview is the photo itself
    assert "embedded 480x512 preview" in decoded.source.notes()[0]
    assert dngs["preview"].read_bytes() == before  # never modified


def test_demosaic_without_preview_or_when_preview_too_small(dngs: dict[str, Path], photo: np.ndarray) -> None:
    for key in ("plain", "small"):
        decoded = decode_photo(dngs[key], max_edge=512)
        render = decoded.source.raw
        assert render is not None and render.method == DEMOSAIC and not render.half_size
        assert (render.sensor_width, render.sensor_height) == (480, 512)
        assert decoded.image.size == (480, 512)
        # Camera white balance undoes the sensor's channel gains: colours come back near the original.
        assert _close(decoded.image, photo, 40.0)
        assert "demosaic" in decoded.source.notes()[0] and "camera white balance" in decoded.source.notes()[0]
    # The small preview (128 px) is enough when the caller only needs 100 px.
    assert decode_photo(dngs["small"], max_edge=100).source.raw.method == EMBEDDED_PREVIEW  # type: ignore[union-attr]


def test_half_size_demosaic_when_half_covers_the_request(dngs: dict[str, Path]) -> None:
    decoded = decode_photo(dngs["plain"], max_edge=200)
    assert decoded.source.raw is not None and decoded.source.raw.half_size
    assert decoded.image.size == (188, 200)


def test_min_preview_edge_from_the_model(dngs: dict[str, Path]) -> None:
    # Analysis wants 1600 px, the model 128: the 128-px preview covers the model, so it is used.
    decoded = decode_photo(dngs["small"], max_edge=1600, min_raw_preview_edge=128)
    assert decoded.source.raw is not None and decoded.source.raw.method == EMBEDDED_PREVIEW


def test_orientation_applied_to_preview_and_demosaic(dngs: dict[str, Path]) -> None:
    preview = decode_photo(dngs["rotated"], max_edge=None)
    assert preview.image.size == (512, 480)  # orientation 6: portrait sensor data shown landscape
    demosaiced = decode_photo(dngs["rotated_plain"], max_edge=None)
    assert demosaiced.source.raw.method == DEMOSAIC  # type: ignore[union-attr]
    assert demosaiced.image.size == (512, 480)
    assert open_photo_info(dngs["rotated"]).width == 512


def test_raw_bytes_upload(dngs: dict[str, Path]) -> None:
    decoded = decode_bytes(dngs["preview"].read_bytes(), "IMG_0001.DNG", max_edge=128)
    assert decoded.source.raw is not None and max(decoded.image.size) == 128


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_raw_is_one_line_naming_the_file(tmp_path: Path, dngs: dict[str, Path], damage: str) -> None:
    data = dngs["plain"].read_bytes()
    bad = tmp_path / "IMG_9999.CR2"
    bad.write_bytes({"truncated": data[: len(data) // 3], "garbage": b"\x00not a raw file\x01" * 100,
                     "empty": b""}[damage])
    with pytest.raises(ImageLoadError) as err:
        load_photo(bad)
    message = str(err.value)
    assert message.startswith(f"{bad}: ") and "\n" not in message
    assert ("RAW" in message) or damage == "empty"


def test_jpeg_with_raw_suffix_is_decoded_by_content(tmp_path: Path) -> None:
    path = tmp_path / "mislabelled.nef"
    Image.new("RGB", (64, 48), "green").save(path, "JPEG")
    decoded = decode_photo(path)
    assert decoded.source.format == "JPEG" and decoded.source.raw is None


def test_shooting_data_from_raw_and_the_facts(dngs: dict[str, Path]) -> None:
    shooting = read_shooting_data(dngs["preview"])
    assert shooting is not None
    assert shooting.camera == "Mondrian Test Camera" and shooting.lens == "70-200mm F2.8"
    assert (shooting.exposure_time_s, shooting.focal_length_mm, shooting.aperture, shooting.iso) == (
        pytest.approx(1 / 30), 200.0, 2.8, 3200)
    assert shooting.flash_fired is False
    assert shooting.taken_at == datetime(2024, 5, 6, 7, 8, 9)
    assert shooting.summary() == "1/30 s at 200 mm, f/2.8, ISO 3200, no flash"
    facts = shooting_facts(shooting)
    assert facts[0] == "Shot at 1/30 s at 200 mm, f/2.8, ISO 3200, no flash"
    assert any("slower than 1/200 s" in f for f in facts)
    info = open_photo_info(dngs["preview"])
    assert (info.format, info.camera, info.taken_at) == ("DNG", "Mondrian Test Camera", datetime(2024, 5, 6, 7, 8, 9))


def test_prepare_photo_puts_raw_source_and_shooting_facts_on_the_prepared_photo(dngs: dict[str, Path]) -> None:
    settings = Settings(max_image_edge=256)
    prepared = prepare_photo(dngs["preview"], settings)
    assert prepared.source is not None and prepared.source.raw is not None
    assert prepared.source.raw.method == EMBEDDED_PREVIEW and max(prepared.image.size) == 256
    assert prepared.shooting is not None and prepared.shooting.iso == 3200
    assert "Shot at 1/30 s at 200 mm, f/2.8, ISO 3200, no flash" in prepared.facts
    assert prepared.notes and "preview" in prepared.notes[0]
    assert prepared.facts.index("Shot at 1/30 s at 200 mm, f/2.8, ISO 3200, no flash") > 0  # after the measured
