"""Star ratings from XMP: sidecars (Lightroom and darktable naming) and embedded packets."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from training.xmp import XmpError, embedded_xmp, parse_rating, read_rating, sidecar_paths


def _packet(body: str, prefix: str = "xmp") -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:{prefix}="http://ns.adobe.com/xap/1.0/" {body}/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


def _element_packet(value: str) -> str:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        f"<xmp:Rating>{value}</xmp:Rating></rdf:Description></rdf:RDF></x:xmpmeta>"
    )


@pytest.mark.parametrize(("packet", "stars"), [
    (_packet('xmp:Rating="4"'), 4),
    (_packet("xmp:Rating='5'"), 5),
    (_packet('xmp:Rating="-1"'), -1),
    (_packet('xmp:Rating="0"'), 0),
    (_packet('xmp:Rating="3.0"'), 3),
    (_packet('xap:Rating="2"', prefix="xap"), 2),  # older Adobe files bind the namespace to "xap"
    (_element_packet(" 1 "), 1),
    # only xmp:Rating counts (Windows' percentage rating is another property)
    (_packet('xmlns:MicrosoftPhoto="http://ns.microsoft.com/photo/1.0/" xmp:CreatorTool="Lightroom" '
             'MicrosoftPhoto:Rating="75"'), None),
])
def test_parse_rating_forms(packet: str, stars: int | None) -> None:
    assert parse_rating(packet) == stars


@pytest.mark.parametrize("value", ["7", "-2", "2.5", "four", ""])
def test_parse_rating_rejects_invalid_values(value: str) -> None:
    with pytest.raises(XmpError, match="xmp:Rating"):
        parse_rating(_packet(f'xmp:Rating="{value}"'))


def _photo(path: Path, **save: object) -> Path:
    Image.new("RGB", (40, 30), (120, 80, 40)).save(path, **save)
    return path


def test_sidecar_lightroom_and_darktable_names(tmp_path: Path) -> None:
    lr = _photo(tmp_path / "IMG_1.jpg")
    (tmp_path / "IMG_1.xmp").write_text(_packet('xmp:Rating="3"'), encoding="utf-8")
    rating = read_rating(lr)
    assert rating is not None and rating.stars == 3 and "IMG_1.xmp" in rating.source

    dt = _photo(tmp_path / "IMG_2.jpg")
    (tmp_path / "IMG_2.jpg.xmp").write_text(_packet('xmp:Rating="-1"'), encoding="utf-8")
    rating = read_rating(dt)
    assert rating is not None and rating.rejected and "IMG_2.jpg.xmp" in rating.source
    assert sidecar_paths(tmp_path / "IMG_3.jpg") == []


def test_embedded_jpeg_png_tiff(tmp_path: Path) -> None:
    jpg = _photo(tmp_path / "a.jpg", xmp=_packet('xmp:Rating="5"').encode())
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", _packet('xmp:Rating="2"'))
    png = _photo(tmp_path / "b.png", pnginfo=info)
    tif = _photo(tmp_path / "c.tif", tiffinfo={700: _packet('xmp:Rating="1"').encode()})
    assert [read_rating(p).stars for p in (jpg, png, tif)] == [5, 2, 1]  # type: ignore[union-attr]
    assert read_rating(jpg).source == "embedded XMP"  # type: ignore[union-attr]


def test_sidecar_wins_over_embedded(tmp_path: Path) -> None:
    jpg = _photo(tmp_path / "a.jpg", xmp=_packet('xmp:Rating="1"').encode())
    (tmp_path / "a.xmp").write_text(_element_packet("4"), encoding="utf-8")
    rating = read_rating(jpg)
    assert rating is not None and rating.stars == 4 and rating.source.startswith("sidecar")


def test_no_rating_and_read_only(tmp_path: Path) -> None:
    jpg = _photo(tmp_path / "plain.jpg")
    before = jpg.read_bytes()
    assert embedded_xmp(jpg) is None
    assert read_rating(jpg) is None
    (tmp_path / "plain.xmp").write_text(_packet('xmp:Label="Red"'), encoding="utf-8")
    assert read_rating(jpg) is None
    assert jpg.read_bytes() == before


def test_invalid_rating_names_the_file(tmp_path: Path) -> None:
    jpg = _photo(tmp_path / "bad.jpg")
    (tmp_path / "bad.xmp").write_text(_packet('xmp:Rating="9"'), encoding="utf-8")
    with pytest.raises(XmpError, match=r"bad\.xmp"):
        read_rating(jpg)
