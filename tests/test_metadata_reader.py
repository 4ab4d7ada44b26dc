"""The one reader of the photographer's decisions (rating, label, flag, caption), per file type and tool:
embedded XMP first for JPEG/TIFF/PNG/DNG (Lightroom writes inside them), the sidecar first for
proprietary RAW; darktable's and Bridge's conventions; labels in other languages; IPTC / EXIF fallbacks.
Real files, written as the tools write them, read with exiv2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.engine.sidecars import canonical_label, read_user_metadata, sidecars_in_order
from app.testing.dng import write_dng


def _packet(attrs: str = "", body: str = "") -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:xmpDM="http://ns.adobe.com/xmp/1.0/DynamicMedia/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        f'xmlns:darktable="http://darktable.sf.net/" {attrs}>{body}</rdf:Description>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


def _caption(text: str) -> str:
    return f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{text}</rdf:li></rdf:Alt></dc:description>'


def _jpeg(path: Path, xmp: str | None = None) -> Path:
    options = {"xmp": xmp.encode()} if xmp else {}
    Image.new("RGB", (40, 30), (120, 80, 40)).save(path, "JPEG", **options)
    return path


def _embed(path: Path, xmp: str) -> Path:
    """Write an XMP packet into a file in place, as Lightroom does for DNG (test fixtures only)."""
    import exiv2

    image = exiv2.ImageFactory.open(str(path))
    image.readMetadata()
    image.setXmpPacket(xmp)
    image.writeMetadata()
    return path


def test_lightroom_jpeg_embedded_wins_over_a_sidecar_beside_it(tmp_path: Path) -> None:
    jpg = _jpeg(tmp_path / "IMG_1.jpg", _packet('xmp:Rating="5" xmp:Label="Rot"', _caption("Grandma's 90th")))
    (tmp_path / "IMG_1.xmp").write_text(_packet('xmp:Rating="1" xmp:Label="Green"'), encoding="utf-8")
    before = jpg.read_bytes()
    meta = read_user_metadata(jpg)
    assert (meta.rating, meta.label, meta.caption) == (5, "Red", "Grandma's 90th")
    assert meta.sources == {"rating": "embedded XMP", "label": "embedded XMP", "caption": "embedded XMP"}
    assert jpg.read_bytes() == before  # read-only


def test_darktable_sidecar_fills_what_the_jpeg_does_not_say(tmp_path: Path) -> None:
    jpg = _jpeg(tmp_path / "IMG_2.jpg", _packet('xmp:Rating="0"'))  # a camera JPEG: unrated
    (tmp_path / "IMG_2.jpg.xmp").write_text(
        _packet('xmp:Rating="3"', "<darktable:colorlabels><rdf:Seq><rdf:li>3</rdf:li></rdf:Seq>"
                "</darktable:colorlabels>"), encoding="utf-8")
    meta = read_user_metadata(jpg)
    assert (meta.rating, meta.label) == (3, "Blue") and meta.sources["rating"] == "sidecar IMG_2.jpg.xmp"
    assert sidecars_in_order(jpg) == [tmp_path / "IMG_2.jpg.xmp"]


def test_raw_sidecar_first_then_darktable_and_dng_embedded(tmp_path: Path) -> None:
    rgb = np.full((32, 48, 3), 128, np.uint8)
    raw = write_dng(tmp_path / "IMG_3.NEF", rgb)  # DNG bytes under a proprietary name: a "RAW" to the reader
    _embed(raw, _packet('xmp:Rating="2"'))
    (tmp_path / "IMG_3.xmp").write_text(_packet('xmp:Rating="4" xmp:Label="Violett"'), encoding="utf-8")
    (tmp_path / "IMG_3.NEF.xmp").write_text(_packet('xmp:Rating="1"', _caption("from darktable")), encoding="utf-8")
    meta = read_user_metadata(raw)
    assert (meta.rating, meta.label, meta.caption) == (4, "Purple", "from darktable")
    assert meta.sources["rating"] == "sidecar IMG_3.xmp" and meta.sources["caption"] == "sidecar IMG_3.NEF.xmp"
    dng = _embed(write_dng(tmp_path / "IMG_4.dng", rgb), _packet('xmp:Rating="5"'))
    (tmp_path / "IMG_4.xmp").write_text(_packet('xmp:Rating="1"'), encoding="utf-8")
    assert read_user_metadata(dng).rating == 5  # Lightroom writes inside a DNG


@pytest.mark.parametrize(("attrs", "flag", "rating"), [
    ('xmp:Rating="-1"', "reject", None),  # darktable, Capture One, Lightroom's export
    ('xmpDM:pick="-1" xmp:Rating="3"', "reject", 3),  # Bridge
    ('xmpDM:pick="1"', "pick", None),
    ('xmpDM:pick="0" xmp:Rating="0"', None, None),
])
def test_flags(tmp_path: Path, attrs: str, flag: str | None, rating: int | None) -> None:
    meta = read_user_metadata(_jpeg(tmp_path / "a.jpg", _packet(attrs)))
    assert (meta.flag, meta.rating) == (flag, rating)


@pytest.mark.parametrize(("text", "colour"), [
    ("Rot", "Red"), ("Rouge", "Red"), ("rojo", "Red"), ("Gelb", "Yellow"), ("Jaune", "Yellow"), ("Grün", "Green"),
    ("Vert", "Green"), ("Blau", "Blue"), ("Bleu", "Blue"), ("Lila", "Purple"), ("Violet", "Purple"),
    ("レッド", "Red"), ("To Print", "To Print"), ("  ", None),
])
def test_label_names_in_other_languages(text: str, colour: str | None) -> None:
    assert canonical_label(text) == colour


def test_iptc_caption_and_exif_rating_fallbacks(tmp_path: Path) -> None:
    import exiv2

    jpg = _jpeg(tmp_path / "old.jpg")
    image = exiv2.ImageFactory.open(str(jpg))
    image.readMetadata()
    image.iptcData()["Iptc.Application2.Caption"] = "Harbour at dawn"
    image.exifData()["Exif.Image.Rating"] = exiv2.UShortValue(4)
    image.writeMetadata()
    meta = read_user_metadata(jpg)
    assert (meta.caption, meta.rating) == ("Harbour at dawn", 4)
    assert meta.sources == {"caption": "IPTC caption", "rating": "EXIF rating"}


def test_invalid_values_are_named_not_raised(tmp_path: Path) -> None:
    jpg = _jpeg(tmp_path / "bad.jpg")
    (tmp_path / "bad.xmp").write_text(_packet('xmp:Rating="9" xmp:Label="Red"'), encoding="utf-8")
    meta = read_user_metadata(jpg)
    assert meta.rating is None and meta.label == "Red"
    assert meta.problems and meta.problems[0].startswith(f"{tmp_path / 'bad.xmp'}: xmp:Rating 9")


def test_a_plain_photo_has_nothing(tmp_path: Path) -> None:
    meta = read_user_metadata(_jpeg(tmp_path / "plain.jpg"))
    assert meta.empty and meta.problems == [] and meta.to_dict()["sources"] == {}
