"""XMP sidecars: per-tool names, merge-writes that keep every foreign field, dry runs, atomic writes,
damaged sidecars refused. Written sidecars are read back with exiv2 itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.engine.sidecars import (
    Convention,
    SidecarError,
    SidecarUpdate,
    existing_sidecars,
    read_sidecar,
    sidecar_note,
    sidecar_path,
    write_sidecar,
)
from training.xmp import read_rating

LIGHTROOM_SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000 1.000000">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
   xmp:Rating="2" xmp:Label="Red" xmp:CreatorTool="Adobe Photoshop Lightroom Classic 13.0"
   photoshop:DateCreated="2024-05-06T07:08:09"
   crs:Version="15.0" crs:ProcessVersion="11.0" crs:WhiteBalance="As Shot" crs:Exposure2012="+0.35"
   crs:Contrast2012="+12" crs:HasCrop="True" crs:CropTop="0.05">
   <crs:ToneCurvePV2012><rdf:Seq><rdf:li>0, 0</rdf:li><rdf:li>128, 140</rdf:li><rdf:li>255, 255</rdf:li></rdf:Seq>
   </crs:ToneCurvePV2012>
   <crs:Look><rdf:Description crs:Name="Adobe Color" crs:Amount="1">
     <crs:Group><rdf:Alt><rdf:li xml:lang="x-default">Profiles</rdf:li></rdf:Alt></crs:Group>
   </rdf:Description></crs:Look>
   <dc:subject><rdf:Bag><rdf:li>travel</rdf:li><rdf:li>Paris</rdf:li></rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>Places|Paris</rdf:li></rdf:Bag></lr:hierarchicalSubject>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">old caption</rdf:li><rdf:li xml:lang="fr-FR">légende</rdf:li>
   </rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def _exiv2_read(path: Path) -> dict[str, Any]:
    """Read a sidecar with plain exiv2 (not our reader): key -> (type name, printed value)."""
    import exiv2

    data = path.read_bytes()
    image = exiv2.ImageFactory.open(data)
    image.readMetadata()
    return {d.key(): (d.typeName(), str(d.toString())) for d in image.xmpData()}


@pytest.fixture
def raw_photo(tmp_path: Path) -> Path:
    photo = tmp_path / "IMG_0001.CR3"
    photo.write_bytes(b"pretend RAW bytes \x00\x01")
    return photo


def test_paths_per_tool(tmp_path: Path, raw_photo: Path) -> None:
    assert sidecar_path(raw_photo, Convention.LIGHTROOM) == tmp_path / "IMG_0001.xmp"
    assert sidecar_path(raw_photo, "capture_one") == tmp_path / "IMG_0001.xmp"
    assert sidecar_path(raw_photo, Convention.DARKTABLE) == tmp_path / "IMG_0001.CR3.xmp"
    (tmp_path / "IMG_0001.XMP").write_text(LIGHTROOM_SIDECAR, encoding="utf-8")
    assert sidecar_path(raw_photo, Convention.LIGHTROOM) == tmp_path / "IMG_0001.XMP"  # the existing one
    assert existing_sidecars(raw_photo) == [tmp_path / "IMG_0001.XMP"]
    assert sidecar_note(raw_photo, Convention.LIGHTROOM) is None
    assert "embedded" in (sidecar_note(tmp_path / "a.jpg", Convention.LIGHTROOM) or "")
    assert sidecar_note(tmp_path / "a.jpg", Convention.DARKTABLE) is None


def test_new_sidecar_is_valid_xmp_with_every_field(raw_photo: Path) -> None:
    before = raw_photo.read_bytes()
    update = SidecarUpdate(rating=4, label="Green", pick="pick", keywords=("grade B+", "strong lines"),
                           description='Quiet street; "good" light')
    change = write_sidecar(raw_photo, update, convention=Convention.DARKTABLE)
    assert change.created and change.written and change.path.name == "IMG_0001.CR3.xmp"
    got = _exiv2_read(change.path)
    assert got["Xmp.xmp.Rating"] == ("XmpText", "4")
    assert got["Xmp.xmp.Label"] == ("XmpText", "Green")
    assert got["Xmp.xmpDM.pick"] == ("XmpText", "1")
    assert got["Xmp.dc.subject"] == ("XmpBag", "grade B+, strong lines")
    assert got["Xmp.lr.hierarchicalSubject"] == ("XmpBag", "Mondrian|grade B+, Mondrian|strong lines")
    assert got["Xmp.dc.description"] == ("LangAlt", 'lang="x-default" Quiet street; "good" light')
    assert raw_photo.read_bytes() == before  # the photo is never touched
    assert read_rating(raw_photo).stars == 4  # type: ignore[union-attr]  # training reads what we wrote


def test_merge_keeps_lightroom_develop_settings_and_foreign_keywords(tmp_path: Path, raw_photo: Path) -> None:
    sidecar = tmp_path / "IMG_0001.xmp"
    sidecar.write_text(LIGHTROOM_SIDECAR, encoding="utf-8")
    before = _exiv2_read(sidecar)
    write_sidecar(raw_photo, SidecarUpdate(rating=5, keywords=("grade A",), description="new caption"))
    after = _exiv2_read(sidecar)
    owned = {"Xmp.xmp.Rating", "Xmp.dc.subject", "Xmp.lr.hierarchicalSubject", "Xmp.dc.description"}
    for key, value in before.items():
        if key not in owned:
            assert after.get(key) == value, key  # every crs:* field, struct and seq kept as it was
    assert any(k.startswith("Xmp.crs.Look/") for k in after) and after["Xmp.crs.ToneCurvePV2012"][0] == "XmpSeq"
    assert after["Xmp.xmp.Rating"][1] == "5"
    assert after["Xmp.dc.subject"] == ("XmpBag", "travel, Paris, grade A")
    assert after["Xmp.lr.hierarchicalSubject"] == ("XmpBag", "Places|Paris, Mondrian|grade A")
    assert after["Xmp.dc.description"] == ("LangAlt", 'lang="x-default" new caption, lang="fr-FR" légende')

    # A second run replaces Mondrian's keywords, keeps the user's.
    write_sidecar(raw_photo, SidecarUpdate(keywords=("grade C",)))
    again = read_sidecar(sidecar)
    assert again["Xmp.dc.subject"] == ["travel", "Paris", "grade C"]
    assert again["Xmp.lr.hierarchicalSubject"] == ["Places|Paris", "Mondrian|grade C"]
    assert [p.name for p in tmp_path.iterdir() if p.name != raw_photo.name] == ["IMG_0001.xmp"]  # no temp left


def test_dry_run_reports_and_writes_nothing(tmp_path: Path, raw_photo: Path) -> None:
    sidecar = tmp_path / "IMG_0001.xmp"
    sidecar.write_text(LIGHTROOM_SIDECAR, encoding="utf-8")
    before, mtime = sidecar.read_bytes(), os.stat(sidecar).st_mtime_ns
    change = write_sidecar(raw_photo, SidecarUpdate(pick="reject", label=""), dry_run=True)
    assert not change.written and change.dry_run
    text = change.describe()
    assert text.startswith(f"{sidecar}: would update")
    assert "Xmp.xmp.Rating: '2' -> '-1'" in text and "Xmp.xmpDM.pick: (none) -> '-1'" in text
    assert "Xmp.xmp.Label: 'Red' -> (none)" in text
    assert sidecar.read_bytes() == before and os.stat(sidecar).st_mtime_ns == mtime
    assert not write_sidecar(tmp_path / "other.CR3", SidecarUpdate(rating=1), dry_run=True).path.exists()
    unchanged = write_sidecar(raw_photo, SidecarUpdate(rating=2))
    assert unchanged.changes == [] and not unchanged.written and "unchanged" in unchanged.describe()


@pytest.mark.parametrize("content", [
    b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
    b"<rdf:Description rdf:about='' xmlns:xmp='http://ns.adobe.com/xap/1.0/' xmp:Rating='3'></rdf:RDF>",
    b"this is not xml at all",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>',
])
def test_damaged_sidecar_is_refused_and_kept(tmp_path: Path, raw_photo: Path, content: bytes) -> None:
    sidecar = tmp_path / "IMG_0001.xmp"
    sidecar.write_bytes(content)
    with pytest.raises(SidecarError) as err:
        write_sidecar(raw_photo, SidecarUpdate(rating=3))
    assert str(err.value).startswith(f"{sidecar}: ") and "\n" not in str(err.value)
    assert sidecar.read_bytes() == content


def test_update_validation() -> None:
    with pytest.raises(ValueError, match="rating"):
        SidecarUpdate(rating=6)
    with pytest.raises(ValueError, match="pick"):
        SidecarUpdate(pick="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keyword"):
        SidecarUpdate(keywords=("a|b",))
