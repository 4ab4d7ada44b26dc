"""Photo loading: every format and mode photographers have, and every way a file can be bad.

All images are built here, in tmp_path; nothing depends on sample files.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import threading
import warnings
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from app.engine.photos import pillow_open
from app.engine.photos.decode import (
    DEFAULT_MAX_EDGE,
    MAX_PIXELS,
    PHOTO_SUFFIXES,
    ImageLoadError,
    PhotoInfo,
    file_sha256,
    find_photos,
    is_photo_path,
    load_photo,
    open_photo_info,
    photo_from_bytes,
)
from app.engine.photos.thumbnails import save_thumbnail

# --------------------------------------------------------------------------- builders


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16_bytes(arr: np.ndarray) -> bytes:
    """A real 16-bit PNG (Pillow cannot write 16-bit colour PNGs itself)."""
    height, width, channels = arr.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions but holds no pixels: a bomb without allocating one."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


def halves(
    size: tuple[int, int], left: tuple[int, ...], right: tuple[int, ...], mode: str = "RGB"
) -> Image.Image:
    """Left half one colour, right half another: shows where a rotation put things."""
    im = Image.new(mode, size, left)
    im.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return im


def save(im: Image.Image, path: Path, fmt: str | None = None, **kw: object) -> Path:
    im.save(path, fmt, **kw)
    return path


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tol: int = 8) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


def heif_can_encode() -> bool:
    try:
        import pillow_heif
    except ImportError:
        return False
    return bool(pillow_heif.libheif_info().get("HEIF"))


# --------------------------------------------------------------------------- public constants


def test_public_constants() -> None:
    assert {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif", ".gif", ".bmp", ".ppm",
            ".pgm", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".pef", ".dng"} <= PHOTO_SUFFIXES
    assert ".xmp" not in PHOTO_SUFFIXES and ".eps" not in PHOTO_SUFFIXES
    assert all(s == s.lower() and s.startswith(".") for s in PHOTO_SUFFIXES)
    assert DEFAULT_MAX_EDGE == 1024
    assert 150_000_000 < MAX_PIXELS < 200_000_000


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jpg", True),
        ("A.JPG", True),
        ("b.JpEg", True),
        ("c.tiff", True),
        ("d.HEIC", True),
        ("x/y/e.webp", True),
        ("f.gif", True),
        ("g.bmp", True),
        ("IMG_1.CR3", True),
        ("k.eps", False),
        ("h.xmp", False),
        ("jpg", False),
        ("i.jpg.xmp", False),
    ],
)
def test_is_photo_path(name: str, expected: bool) -> None:
    assert is_photo_path(name) is expected
    assert is_photo_path(Path(name)) is expected


# --------------------------------------------------------------------------- good images


def test_jpeg_exif_orientation_6_swaps_dimensions_and_rotates(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = save(halves((200, 100), (255, 0, 0), (0, 0, 255)), tmp_path / "rot.jpg", exif=exif, quality=95)

    im = load_photo(path)
    assert im.mode == "RGB"
    assert im.size == (100, 200)
    # Rotating 90 degrees clockwise moves the left half (red) to the top.
    assert close_to(im.getpixel((50, 20)), (255, 0, 0), 40)
    assert close_to(im.getpixel((50, 180)), (0, 0, 255), 40)
    assert "exif" not in im.info  # orientation is baked in; a later save must not re-apply it

    info = open_photo_info(path)
    assert (info.width, info.height, info.orientation) == (100, 200, 6)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_gives_upright_size(tmp_path: Path, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(Image.new("RGB", (60, 40), "green"), tmp_path / "o.jpg", exif=exif)
    expected = (40, 60) if orientation >= 5 else (60, 40)
    assert load_photo(path).size == expected
    info = open_photo_info(path)
    assert (info.width, info.height) == expected


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = save(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), tmp_path / "cmyk.jpg")
    assert Image.open(path).mode == "CMYK"
    im = load_photo(path)
    assert im.mode == "RGB"
    assert close_to(im.getpixel((10, 10)), (255, 0, 0), 12)
    assert open_photo_info(path).mode == "CMYK"


def test_16bit_greyscale_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    arr = np.full((30, 40), 40000, np.uint16)
    arr[:, 20:] = 10000
    path = tmp_path / "grey16.png"
    Image.fromarray(arr).save(path)
    assert Image.open(path).mode.startswith("I")
    im = load_photo(path)
    assert im.mode == "RGB"
    # 40000/65535 = 61% -> 156 (Pillow's plain convert('L') would clip it to 255).
    assert close_to(im.getpixel((5, 5)), (156, 156, 156), 1)
    assert close_to(im.getpixel((30, 5)), (39, 39, 39), 1)


def test_16bit_greyscale_tiff(tmp_path: Path) -> None:
    arr = np.linspace(0, 65535, 64 * 16, dtype=np.float64).astype(np.uint16).reshape(16, 64)
    path = tmp_path / "grey16.tif"
    Image.fromarray(arr).save(path, "TIFF")
    im = load_photo(path)
    assert im.mode == "RGB" and im.size == (64, 16)
    assert im.getpixel((0, 0)) == (0, 0, 0)
    assert im.getpixel((63, 15)) == (255, 255, 255)


def test_16bit_colour_png_with_and_without_alpha(tmp_path: Path) -> None:
    rgb = np.zeros((10, 12, 3), np.uint16)
    rgb[..., 0] = 65535
    rgb[..., 1] = 32768
    path = tmp_path / "rgb16.png"
    path.write_bytes(png16_bytes(rgb))
    assert close_to(load_photo(path).getpixel((3, 3)), (255, 128, 0), 1)

    rgba = np.zeros((10, 12, 4), np.uint16)
    rgba[..., 2] = 65535  # blue, fully transparent on the left, opaque on the right
    rgba[:, 6:, 3] = 65535
    path = tmp_path / "rgba16.png"
    path.write_bytes(png16_bytes(rgba))
    im = load_photo(path)
    assert im.getpixel((1, 1)) == (255, 255, 255)
    assert im.getpixel((10, 1)) == (0, 0, 255)


def test_16bit_colour_and_float_tiff(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile", reason="tifffile writes 16-bit colour and float TIFFs")
    rgb = np.zeros((8, 16, 3), np.uint16)
    rgb[..., 0] = 65535
    rgb[..., 2] = 16384
    path = tmp_path / "rgb16.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    assert close_to(load_photo(path).getpixel((2, 2)), (255, 0, 64), 1)

    path = tmp_path / "float.tif"
    tifffile.imwrite(path, np.full((8, 16), 0.5, np.float32))
    assert Image.open(path).mode == "F"
    assert close_to(load_photo(path).getpixel((2, 2)), (128, 128, 128), 1)


def test_palette_png_with_transparency_composites_on_white(tmp_path: Path) -> None:
    im = Image.new("P", (20, 10), 0)
    im.putpalette([0, 0, 0, 200, 30, 30] + [0] * (256 * 3 - 6))
    im.paste(1, (10, 0, 20, 10))
    path = save(im, tmp_path / "pal.png", transparency=0)
    assert Image.open(path).mode == "P"
    out = load_photo(path)
    assert out.mode == "RGB"
    assert out.getpixel((2, 2)) == (255, 255, 255)  # transparent index -> white, not black
    assert out.getpixel((15, 2)) == (200, 30, 30)


def test_palette_png_without_transparency(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (20, 10), (10, 200, 10)).convert("P"), tmp_path / "p.png")
    assert close_to(load_photo(path).getpixel((3, 3)), (10, 200, 10), 10)


@pytest.mark.parametrize(("mode", "fill"), [("RGBA", (0, 0, 0, 0)), ("LA", (0, 0))])
def test_alpha_composites_on_white(tmp_path: Path, mode: str, fill: tuple[int, ...]) -> None:
    opaque = (0, 0, 0, 255) if mode == "RGBA" else (0, 255)
    half = (0, 0, 0, 128) if mode == "RGBA" else (0, 128)
    im = Image.new(mode, (30, 10), fill)
    im.paste(opaque, (10, 0, 20, 10))
    im.paste(half, (20, 0, 30, 10))
    out = load_photo(save(im, tmp_path / f"{mode}.png"))
    assert out.mode == "RGB"
    assert out.getpixel((5, 5)) == (255, 255, 255)
    assert out.getpixel((15, 5)) == (0, 0, 0)
    assert close_to(out.getpixel((25, 5)), (127, 127, 127), 2)


def test_webp_with_alpha(tmp_path: Path) -> None:
    im = Image.new("RGBA", (40, 20), (255, 0, 0, 0))
    im.paste((0, 0, 255, 255), (20, 0, 40, 20))
    path = save(im, tmp_path / "a.webp", lossless=True)
    out = load_photo(path)
    assert out.mode == "RGB"
    assert out.getpixel((5, 5)) == (255, 255, 255)
    assert out.getpixel((30, 5)) == (0, 0, 255)
    assert open_photo_info(path).format == "WEBP"


def test_greyscale_and_bilevel(tmp_path: Path) -> None:
    assert load_photo(save(Image.new("L", (8, 8), 77), tmp_path / "l.png")).getpixel((1, 1)) == (77, 77, 77)
    assert load_photo(save(Image.new("1", (8, 8), 1), tmp_path / "b.tif")).getpixel((1, 1)) == (255, 255, 255)


@pytest.mark.skipif(not heif_can_encode(), reason="installed pillow-heif has no HEIF encoder")
def test_heic_written_by_pillow_heif(tmp_path: Path) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "IMG_0001.HEIC"
    save(halves((128, 64), (255, 0, 0), (0, 0, 255)), path, "HEIF", quality=90, exif=exif.tobytes())
    im = load_photo(path)
    assert im.mode == "RGB"
    assert im.size == (64, 128)  # orientation applied exactly once
    assert close_to(im.getpixel((32, 10)), (255, 0, 0), 60)
    info = open_photo_info(path)
    assert info.format == "HEIF" and (info.width, info.height) == (64, 128)


def test_broken_icc_profile_does_not_block_the_photo(tmp_path: Path) -> None:
    path = save(
        Image.new("RGB", (16, 16), (10, 120, 240)), tmp_path / "icc.jpg", icc_profile=b"not a profile"
    )
    assert close_to(load_photo(path).getpixel((4, 4)), (10, 120, 240), 6)


def test_srgb_profile_keeps_colours(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = save(Image.new("RGB", (16, 16), (10, 120, 240)), tmp_path / "srgb.png", icc_profile=srgb)
    assert load_photo(path).getpixel((4, 4)) == (10, 120, 240)


def test_jpeg_suffix_on_png_content_still_loads(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (8, 8), "red"), tmp_path / "misnamed.jpg", "PNG")
    assert load_photo(path).getpixel((1, 1)) == (255, 0, 0)


# --------------------------------------------------------------------------- long edge


@pytest.mark.parametrize(("fmt", "suffix"), [("JPEG", ".jpg"), ("PNG", ".png"), ("TIFF", ".tif")])
def test_long_edge_limit(tmp_path: Path, fmt: str, suffix: str) -> None:
    path = save(halves((3000, 2000), (255, 0, 0), (0, 0, 255)), tmp_path / f"big{suffix}", fmt)
    assert load_photo(path).size == (1024, 683)
    assert load_photo(path, max_edge=500).size == (500, 333)
    assert load_photo(path, max_edge=None).size == (3000, 2000)
    small = load_photo(path, max_edge=100)
    assert small.size == (100, 67)
    assert close_to(small.getpixel((5, 30)), (255, 0, 0), 30)
    assert close_to(small.getpixel((95, 30)), (0, 0, 255), 30)


def test_jpeg_uses_draft_when_downscaling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import JpegImagePlugin

    calls: list[tuple[str | None, tuple[int, int] | None]] = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None):  # type: ignore[no-untyped-def]
        calls.append((mode, size))
        return original(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    path = save(Image.new("RGB", (4000, 3000), "red"), tmp_path / "big.jpg")
    assert load_photo(path, max_edge=500).size == (500, 375)
    assert calls == [(None, (500, 375))]
    calls.clear()
    load_photo(path, max_edge=None)
    assert calls == []


def test_portrait_long_edge_and_no_upscaling(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (1500, 4000), "white"), tmp_path / "tall.jpg")
    assert load_photo(path).size == (384, 1024)
    tiny = save(Image.new("RGB", (300, 200), "white"), tmp_path / "tiny.jpg")
    assert load_photo(tiny).size == (300, 200)
    assert load_photo(tiny, max_edge=5000).size == (300, 200)


def test_max_edge_must_be_positive(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (10, 10)), tmp_path / "a.png")
    with pytest.raises(ValueError, match="max_edge"):
        load_photo(path, max_edge=0)


def test_result_is_a_loaded_plain_image(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (50, 40), "red"), tmp_path / "a.png")
    im = load_photo(path)
    assert type(im) is Image.Image  # not a file-backed ImageFile
    assert im.info == {}
    im.getpixel((0, 0))  # usable after the file is closed


# --------------------------------------------------------------------------- the user's file is untouched


def test_source_bytes_and_mtime_unchanged(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(Image.new("RGB", (2000, 1000), "red"), tmp_path / "orig.jpg", exif=exif)
    os.utime(path, ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    os.chmod(path, 0o444)  # read-only: loading must never need write access
    before_bytes = path.read_bytes()
    before_mtime = path.stat().st_mtime_ns

    load_photo(path)
    load_photo(path, max_edge=None)
    open_photo_info(path)
    file_sha256(path)
    save_thumbnail(path, tmp_path / "thumb.jpg")

    assert path.read_bytes() == before_bytes
    assert path.stat().st_mtime_ns == before_mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orig.jpg", "thumb.jpg"]


# --------------------------------------------------------------------------- bad files


def _error(path: Path, **kw: object) -> ImageLoadError:
    with pytest.raises(ImageLoadError) as info:
        load_photo(path, **kw)  # type: ignore[arg-type]
    err = info.value
    assert err.path == path
    assert str(err) == f"{path}: {err.reason}"
    return err


def test_error_type_and_pickling() -> None:
    err = ImageLoadError("/x/y.jpg", "file is empty")
    assert isinstance(err, ValueError)
    assert err.path == Path("/x/y.jpg") and err.reason == "file is empty"
    assert str(err) == f"{Path('/x/y.jpg')}: file is empty"
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.path, copy.reason, str(copy)) == (err.path, err.reason, str(err))


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    assert _error(path).reason == "file is empty"


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("these are my notes, not a photo\n" * 10)
    assert _error(path).reason == "not an image (unrecognised format)"


@pytest.mark.parametrize("keep", [0.02, 0.5, 0.9])
def test_truncated_jpeg(tmp_path: Path, keep: float) -> None:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 255, (400, 600, 3), dtype=np.uint8))
    buf = io.BytesIO()
    noise.save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: max(4, int(len(data) * keep))])
    assert _error(path).reason == "truncated or corrupt JPEG data"
    assert _error(path, max_edge=None).reason == "truncated or corrupt JPEG data"


def test_truncated_png(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), "red").save(buf, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[:60])
    assert _error(path).reason == "truncated or corrupt PNG data"


def test_refused_format_is_named_with_the_reason(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (20, 20), "red"), tmp_path / "a.eps", "EPS")
    reason = _error(path).reason
    assert reason.startswith("unsupported format 'EPS': ")
    assert "Ghostscript" in reason and "JPEG" in reason  # why, and what to do instead


def test_missing_file(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.jpg").reason == "file not found"


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.jpg"
    folder.mkdir()
    assert _error(folder).reason == "is a directory, not a file"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_permission_denied_real(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (8, 8)), tmp_path / "locked.jpg")
    path.chmod(0)
    try:
        assert _error(path).reason == "permission denied"
    finally:
        path.chmod(0o644)


def test_permission_denied_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs even as root: the OS error is what matters, however it arises."""
    path = save(Image.new("RGB", (8, 8)), tmp_path / "locked.jpg")

    def denied(*_args: object, **_kw: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(pillow_open, "open", denied, raising=False)
    assert _error(path).reason == "permission denied"
    with pytest.raises(ImageLoadError, match="permission denied"):
        file_sha256(path)


def test_decompression_bomb_refused_from_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(50_000, 50_000))  # 2.5 gigapixels, ~80 bytes on disk
    reason = _error(path).reason
    assert reason.startswith("image is 50000x50000 = 2500 MP, over the ")
    assert reason.endswith(" MP limit")
    with pytest.raises(ImageLoadError, match="50000x50000"):
        open_photo_info(path)


def test_own_pixel_limit_applies_below_pillows(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(png_header_only(12_000, 10_000))
    assert _error(path, max_pixels=50_000_000).reason == "image is 12000x10000 = 120 MP, over the 50 MP limit"


def test_pillow_bomb_warning_does_not_escape(tmp_path: Path) -> None:
    """120 MP is over Pillow's warning threshold but under our limit: pytest turns warnings into
    errors, so reaching the decoder (which then finds no pixel data) proves the warning was handled."""
    assert Image.MAX_IMAGE_PIXELS is not None and 12_000 * 10_000 > Image.MAX_IMAGE_PIXELS
    path = tmp_path / "big.png"
    path.write_bytes(png_header_only(12_000, 10_000))
    filters_before = list(warnings.filters)
    assert _error(path).reason == "truncated or corrupt PNG data"
    assert open_photo_info(path).width == 12_000
    assert list(warnings.filters) == filters_before


def test_concurrent_loads_leave_warning_filters_alone(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(png_header_only(12_000, 10_000))
    good = save(Image.new("RGB", (400, 300), "red"), tmp_path / "good.jpg")
    filters_before = list(warnings.filters)
    failures: list[BaseException] = []

    def work() -> None:
        for _ in range(10):
            try:
                load_photo(big)
            except ImageLoadError:
                pass
            except BaseException as exc:  # noqa: BLE001 - collected and asserted: a leaked warning shows up here
                failures.append(exc)
            load_photo(good)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures
    assert list(warnings.filters) == filters_before


# --------------------------------------------------------------------------- bytes


def test_photo_from_bytes(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (2048, 1024), "blue").save(buf, "JPEG")
    im = photo_from_bytes(buf.getvalue(), "clip.jpg")
    assert im.mode == "RGB" and im.size == (1024, 512)
    assert photo_from_bytes(buf.getvalue(), max_edge=None).size == (2048, 1024)

    with pytest.raises(ImageLoadError) as err:
        photo_from_bytes(b"", "paste.png")
    assert str(err.value) == "paste.png: file is empty"
    with pytest.raises(ImageLoadError, match=r"^upload: not an image"):
        photo_from_bytes(b"GIF? no. <html>")
    with pytest.raises(ImageLoadError, match=r"over the 50 MP limit"):
        photo_from_bytes(png_header_only(12_000, 10_000), max_pixels=50_000_000)


# --------------------------------------------------------------------------- info, hashing, folders


def test_open_photo_info_reads_exif(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R5"
    exif.get_ifd(0x8769)[0x9003] = "2024:06:01 18:30:05"
    path = save(Image.new("RGB", (300, 200)), tmp_path / "exif.jpg", exif=exif)
    info = open_photo_info(path)
    assert isinstance(info, PhotoInfo)
    assert info.path == path
    assert (info.format, info.width, info.height, info.mode) == ("JPEG", 300, 200, "RGB")
    assert info.pixels == 60_000
    assert info.taken_at == datetime(2024, 6, 1, 18, 30, 5)
    assert info.camera == "Canon EOS R5"


def test_open_photo_info_without_exif_and_errors(tmp_path: Path) -> None:
    info = open_photo_info(save(Image.new("RGB", (30, 20)), tmp_path / "plain.png"))
    assert (info.format, info.taken_at, info.camera, info.orientation) == ("PNG", None, None, 1)
    empty = tmp_path / "empty.heic"
    empty.touch()
    with pytest.raises(ImageLoadError, match="file is empty"):
        open_photo_info(empty)


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "blob.jpg"
    data = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert file_sha256(path) == expected
    assert file_sha256(path, chunk=4096) == expected
    assert file_sha256(str(path)) == expected
    with pytest.raises(ImageLoadError, match="file not found"):
        file_sha256(tmp_path / "missing.jpg")


def test_find_photos(tmp_path: Path) -> None:
    files = [
        "b.jpg",
        "A.JPG",
        "c.png",
        "sub/d.HEIC",
        "sub/deeper/e.tif",
        "sub/f.webp",
        # skipped:
        "notes.txt",
        "b.jpg.xmp",
        "IMG_1.AAE",
        "sub/anim.gif",
        "raw/IMG_2.CR3",
        "doc.eps",
        ".hidden.jpg",
        "._b.jpg",
        ".thumbnails/t.jpg",
        "sub/.cache/g.jpg",
        "__MACOSX/h.jpg",
        "@eaDir/i.jpg",
    ]
    for name in files:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"x")
    (tmp_path / "dir.jpg").mkdir()  # a folder with a photo suffix is not a photo

    found = find_photos(tmp_path)
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == sorted(rel)
    assert set(rel) == {"b.jpg", "A.JPG", "c.png", "sub/d.HEIC", "sub/deeper/e.tif", "sub/f.webp", "sub/anim.gif",
                        "raw/IMG_2.CR3"}
    assert found == sorted(found)

    top = [p.name for p in find_photos(tmp_path, recursive=False)]
    assert set(top) == {"b.jpg", "A.JPG", "c.png"}

    with pytest.raises(ImageLoadError, match="folder not found"):
        find_photos(tmp_path / "missing")
    with pytest.raises(ImageLoadError, match="not a folder"):
        find_photos(tmp_path / "b.jpg")


def test_find_photos_does_not_follow_symlinked_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "p.jpg").write_bytes(b"x")
    try:
        (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    except OSError:
        pytest.skip("no symlinks here")
    assert [p.name for p in find_photos(tmp_path)] == ["p.jpg"]


def test_save_thumbnail(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    src = save(Image.new("RGB", (1200, 800), "red"), tmp_path / "src.png", exif=exif)
    dest = tmp_path / "cache" / "thumbs" / "src.jpg"
    assert save_thumbnail(src, dest) == dest
    with Image.open(dest) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (171, 256)  # upright, long edge 256
    assert save_thumbnail(src, dest, size=64) == dest  # overwrite in place
    with Image.open(dest) as thumb:
        assert max(thumb.size) == 64
    assert [p.name for p in dest.parent.iterdir()] == ["src.jpg"]  # no temp files left

    before = src.read_bytes()
    with pytest.raises(ImageLoadError, match="over the original"):
        save_thumbnail(src, src)
    assert src.read_bytes() == before
    with pytest.raises(ImageLoadError, match="not an image"):
        save_thumbnail(_text(tmp_path / "bad.jpg"), tmp_path / "bad_thumb.jpg")
    assert not (tmp_path / "bad_thumb.jpg").exists()


def _text(path: Path) -> Path:
    path.write_text("hello")
    return path
