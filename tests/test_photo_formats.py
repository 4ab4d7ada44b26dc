"""Every still format Pillow reads is decoded; animated and multi-page files give their first frame and
say so; shooting data comes from the EXIF of JPEG, HEIC and TIFF."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from app.engine.photos.decode import ImageLoadError, decode_bytes, decode_photo, open_photo_info
from app.engine.photos.exif import read_shooting_data
from app.engine.photos.formats import PHOTO_SUFFIXES, decodable_formats
from app.engine.photos.prepare import prepare_photo
from app.engine.settings import Settings


def _frames(n: int, size: tuple[int, int] = (64, 48)) -> list[Image.Image]:
    return [Image.new("RGB", size, (40 * i % 256, 200, 255 - 30 * i)) for i in range(n)]


@pytest.mark.parametrize(("suffix", "save"), [
    (".gif", {"format": "GIF"}),
    (".bmp", {"format": "BMP"}),
    (".ppm", {"format": "PPM"}),
    (".pgm", {"format": "PPM", "mode": "L"}),
    (".tga", {"format": "TGA"}),
    (".qoi", {"format": "QOI"}),
    (".jp2", {"format": "JPEG2000"}),
    (".avif", {"format": "AVIF"}),
])
def test_still_formats_decode(tmp_path: Path, suffix: str, save: dict[str, str]) -> None:
    fmt = save["format"]
    if fmt not in decodable_formats():
        pytest.skip(f"this Pillow build has no {fmt} codec")
    assert suffix in PHOTO_SUFFIXES  # a folder scan picks it up
    image = Image.new("RGB", (80, 60), (200, 120, 40))
    if "mode" in save:
        image = image.convert(save["mode"])
    path = tmp_path / f"photo{suffix}"
    image.save(path, fmt)
    decoded = decode_photo(path)
    assert decoded.image.mode == "RGB" and decoded.image.size == (80, 60)
    assert decoded.source.frames == 1 and decoded.source.notes() == []
    assert abs(int(np.asarray(decoded.image)[30, 40, 0]) - (120 if "mode" in save else 200)) < 40


@pytest.mark.parametrize(("suffix", "fmt"), [(".gif", "GIF"), (".webp", "WEBP"), (".png", "PNG")])
def test_animations_give_the_first_frame_and_say_so(tmp_path: Path, suffix: str, fmt: str) -> None:
    frames = _frames(5)
    path = tmp_path / f"anim{suffix}"
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode_photo(path)
    assert decoded.source.frames == 5 and decoded.source.first_frame_only
    first = np.asarray(frames[0], dtype=int)[10, 10]
    assert np.abs(np.asarray(decoded.image, dtype=int)[10, 10] - first).max() < 12
    assert decoded.source.notes() == [f"Only the first of the 5 frames of this {fmt if fmt != 'WEBP' else 'WebP'} "
                                      "file was critiqued"]
    assert open_photo_info(path).frames == 5
    assert decode_bytes(path.read_bytes(), path.name).source.frames == 5


def test_multipage_tiff_first_page(tmp_path: Path) -> None:
    pages = _frames(3)
    path = tmp_path / "scan.tif"
    pages[0].save(path, "TIFF", save_all=True, append_images=pages[1:])
    decoded = decode_photo(path)
    assert decoded.source.frames == 3 and "first of the 3 pages" in decoded.source.notes()[0]


def test_prepare_photo_carries_the_frame_note(tmp_path: Path) -> None:
    frames = _frames(3, (320, 240))
    path = tmp_path / "anim.gif"
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:])
    prepared = prepare_photo(path, Settings(max_image_edge=128))
    assert prepared.source is not None and prepared.source.frames == 3
    assert prepared.notes == prepared.source.notes() and "first of the 3 frames" in prepared.notes[0]
    assert max(prepared.image.size) == 128 and prepared.shooting is None


def test_cut_gif_names_the_file_and_format(tmp_path: Path) -> None:
    path = tmp_path / "cut.gif"
    frames = _frames(2)
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:])
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ImageLoadError) as err:
        decode_photo(path)
    assert str(err.value) == f"{path}: truncated or corrupt GIF data"


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "FUJIFILM"
    exif[0x0110] = "X-T5"
    sub = exif.get_ifd(0x8769)
    sub[0x829A] = IFDRational(1, 500)  # ExposureTime
    sub[0x829D] = IFDRational(56, 10)  # FNumber
    sub[0x8827] = 400  # ISO
    sub[0x920A] = IFDRational(35, 1)  # FocalLength
    sub[0xA405] = 53  # FocalLengthIn35mmFilm
    sub[0x9209] = 0x19  # Flash: fired, auto
    sub[0xA434] = "XF35mmF1.4 R"  # LensModel
    sub[0x9003] = "2023:10:01 12:00:00"
    return exif


@pytest.mark.parametrize(("suffix", "fmt"), [(".jpg", "JPEG"), (".tif", "TIFF"), (".heic", "HEIF"),
                                             (".png", "PNG"), (".webp", "WEBP")])
def test_shooting_data_from_exif(tmp_path: Path, suffix: str, fmt: str) -> None:
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    path = tmp_path / f"x{suffix}"
    Image.new("RGB", (64, 48), "grey").save(path, fmt, exif=_exif().tobytes())
    before = path.read_bytes()
    shooting = read_shooting_data(path)
    assert shooting is not None, fmt
    assert (shooting.camera, shooting.lens) == ("FUJIFILM X-T5", "XF35mmF1.4 R")
    assert shooting.summary() == "1/500 s at 35 mm, f/5.6, ISO 400, flash fired"
    assert shooting.focal_length_35mm == 53.0 and shooting.taken_at == datetime(2023, 10, 1, 12, 0)
    assert path.read_bytes() == before


def test_no_or_broken_exif_is_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain.jpg"
    Image.new("RGB", (10, 10)).save(plain)
    assert read_shooting_data(plain) is None
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    assert read_shooting_data(text) is None
    assert read_shooting_data(tmp_path / "missing.jpg") is None


def test_shooting_facts_reach_the_prompt_facts(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    Image.new("RGB", (200, 150), "grey").save(path, exif=_exif().tobytes())
    prepared = prepare_photo(path, Settings(max_image_edge=128))
    assert "Shot at 1/500 s at 35 mm, f/5.6, ISO 400, flash fired" in prepared.facts
    assert "Camera: FUJIFILM X-T5 with XF35mmF1.4 R" in prepared.facts
    assert not any("hand-held" in f for f in prepared.facts)  # 1/500 s at 53 mm-equivalent is safe
    assert prepare_photo(path, Settings(max_image_edge=128, grounding=False)).facts == []
    assert prepared.shooting is not None and prepared.shooting.to_dict()["shutter"] == "1/500 s"
