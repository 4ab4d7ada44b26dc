"""Training's star ratings come from the engine's one metadata reader (tests/test_metadata_reader.py):
the same sources, the same meaning, and Mondrian's own written values never taken as targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from training.xmp import XmpError, read_rating


def _packet(body: str, prefix: str = "xmp") -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:{prefix}="http://ns.adobe.com/xap/1.0/" {body}/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


def _photo(path: Path, **save: object) -> Path:
    Image.new("RGB", (40, 30), (120, 80, 40)).save(path, **save)
    return path


@pytest.mark.parametrize(("body", "stars"), [
    ('xmp:Rating="4"', 4), ('xmp:Rating="-1"', -1), ('xmp:Rating="0"', None), ('xmp:Rating="3.0"', 3),
    ('xap:Rating="2"', 2),  # older Adobe files bind the namespace to "xap"
])
def test_rating_forms(tmp_path: Path, body: str, stars: int | None) -> None:
    prefix = "xap" if body.startswith("xap") else "xmp"
    rating = read_rating(_photo(tmp_path / "a.jpg", xmp=_packet(body, prefix).encode()))
    assert (rating.stars if rating else None) == stars


def test_embedded_jpeg_png_tiff(tmp_path: Path) -> None:
    jpg = _photo(tmp_path / "a.jpg", xmp=_packet('xmp:Rating="5"').encode())
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", _packet('xmp:Rating="2"'))
    png = _photo(tmp_path / "b.png", pnginfo=info)
    tif = _photo(tmp_path / "c.tif", tiffinfo={700: _packet('xmp:Rating="1"').encode()})
    assert [read_rating(p).stars for p in (jpg, png, tif)] == [5, 2, 1]  # type: ignore[union-attr]
    assert read_rating(jpg).source == "embedded XMP"  # type: ignore[union-attr]


def test_sidecar_names(tmp_path: Path) -> None:
    dt = _photo(tmp_path / "IMG_2.jpg")
    (tmp_path / "IMG_2.jpg.xmp").write_text(_packet('xmp:Rating="-1"'), encoding="utf-8")
    rating = read_rating(dt)
    assert rating is not None and rating.rejected and "IMG_2.jpg.xmp" in rating.source
    assert read_rating(_photo(tmp_path / "IMG_3.jpg")) is None


def test_mondrian_values_are_not_targets(tmp_path: Path) -> None:
    jpg = _photo(tmp_path / "a.jpg")
    sidecar = tmp_path / "a.xmp"
    sidecar.write_text(_packet('xmp:Rating="3"'), encoding="utf-8")
    assert read_rating(jpg).stars == 3  # type: ignore[union-attr]
    record = {str(sidecar): {"Xmp.xmp.Rating": "3"}}
    assert read_rating(jpg, lambda path: record.get(path, {})) is None
    sidecar.write_text(_packet('xmp:Rating="4"'), encoding="utf-8")  # the photographer changed it
    assert read_rating(jpg, lambda path: record.get(path, {})).stars == 4  # type: ignore[union-attr]


def test_invalid_rating_names_the_file(tmp_path: Path) -> None:
    jpg = _photo(tmp_path / "bad.jpg")
    (tmp_path / "bad.xmp").write_text(_packet('xmp:Rating="9"'), encoding="utf-8")
    with pytest.raises(XmpError, match=r"bad\.xmp"):
        read_rating(jpg)
