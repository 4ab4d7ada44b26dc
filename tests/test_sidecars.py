"""XMP sidecars under the photographer's policy: per-tool names; by default only Mondrian's namespace
and keywords are added; standard fields opt-in and fill-only-if-empty; every write recorded, backed
up and undoable; read-only sidecars, mode, owner and extended attributes respected; damaged sidecars
refused. Everything is read back with exiv2 itself."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from app.engine.review.export import export_sidecars, frame_update, undo_last_write
from app.engine.review.summary import FrameSummary, ReviewSummary
from app.engine.sidecars import (
    Convention,
    SidecarError,
    SidecarUpdate,
    UserMetadata,
    WritePolicy,
    existing_sidecars,
    plan_sidecar,
    read_sidecar,
    read_user_metadata,
    sidecar_note,
    sidecar_path,
)
from app.engine.sidecars.namespace import MONDRIAN_NS
from app.engine.store.database import Store

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

# The photographer's sidecar from issue 19: 5 stars, Purple, a caption that took time to write.
GRANDMA = LIGHTROOM_SIDECAR.replace('xmp:Rating="2" xmp:Label="Red"', 'xmp:Rating="5" xmp:Label="Purple"').replace(
    "old caption", "Grandma's 90th birthday, the whole family on the terrace")

OWN = {"Xmp.dc.subject", "Xmp.lr.hierarchicalSubject"}  # the only standard properties the default policy touches


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


@pytest.fixture
def store(home: Path) -> Any:
    with Store(home / "data" / "mondrian.db") as s:
        yield s


def _frame(photo: Path, **kw: Any) -> FrameSummary:
    base: dict[str, Any] = dict(path=str(photo), companions=[], status="done", job_id=None, error=None, grade="D",
                                overall=4.8, scores={"composition": 5.0, "focus_sharpness": 4.5},
                                summary="Soft focus; the light is flat.")
    base.update(kw)
    return FrameSummary(**base)


def _summary(*frames: FrameSummary) -> ReviewSummary:
    return ReviewSummary(frames=list(frames), averages={}, bursts=[])


def _with_meta(frame: FrameSummary) -> FrameSummary:
    frame.file_meta = read_user_metadata(frame.path)
    return frame


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


def test_default_policy_adds_mondrian_and_changes_nothing_else(tmp_path: Path, raw_photo: Path, store: Store) -> None:
    sidecar = tmp_path / "IMG_0001.xmp"
    sidecar.write_text(GRANDMA, encoding="utf-8")
    os.chmod(sidecar, 0o644)
    before = _exiv2_read(sidecar)
    photo_bytes = raw_photo.read_bytes()
    frame = _with_meta(_frame(raw_photo, flag="reject", problems=[]))
    result = export_sidecars(_summary(frame), "lightroom", store=store)
    assert result.batch_id and not result.errors and result.standard_fields_changing == 0
    after = _exiv2_read(sidecar)
    for key, value in before.items():  # every existing property, arrays, structs and lang-alts included
        if key not in OWN:
            assert after.get(key) == value, key
    assert after["Xmp.xmp.Rating"] == ("XmpText", "5") and after["Xmp.xmp.Label"] == ("XmpText", "Purple")
    assert after["Xmp.dc.description"][1].startswith('lang="x-default" Grandma')
    assert after["Xmp.mondrian.Grade"] == ("XmpText", "D") and after["Xmp.mondrian.FocusSharpness"][1] == "4.5"
    assert after["Xmp.mondrian.Summary"][1] == "Soft focus; the light is flat."
    assert after["Xmp.dc.subject"] == ("XmpBag", "travel, Paris, Mondrian grade D")
    assert after["Xmp.lr.hierarchicalSubject"] == ("XmpBag", "Places|Paris, Mondrian|Mondrian grade D")
    assert MONDRIAN_NS.encode() in sidecar.read_bytes()
    assert raw_photo.read_bytes() == photo_bytes and stat.S_IMODE(sidecar.stat().st_mode) == 0o644
    # the record: every value written, with the file's hash after the write
    ours = store.sidecar_writes.mondrian_values(str(sidecar))
    assert ours["Xmp.mondrian.Grade"] == "D" and "Xmp.xmp.Rating" not in ours
    # a second identical write changes nothing: same bytes, same mtime, no new batch
    data, mtime = sidecar.read_bytes(), sidecar.stat().st_mtime_ns
    again = export_sidecars(_summary(frame), "lightroom", store=store)
    assert again.batch_id is None and again.files_changing == 0
    assert sidecar.read_bytes() == data and sidecar.stat().st_mtime_ns == mtime


def test_opt_in_fills_only_empty_fields_unless_overwrite(tmp_path: Path, raw_photo: Path, store: Store) -> None:
    sidecar = tmp_path / "IMG_0001.xmp"
    sidecar.write_text(GRANDMA, encoding="utf-8")
    frame = _with_meta(_frame(raw_photo, problems=[], best_in_burst=True, burst=1))
    assert frame.stars == 5  # the file's own rating is shown, not the score's 2
    frame.user_stars = 1  # a different opinion given in Mondrian's grid
    everything = WritePolicy(frozenset({"rating", "label", "caption", "flag"}))
    plan = export_sidecars(_summary(frame), "lightroom", dry_run=True, policy=everything, store=store)
    text = plan.describe()
    assert plan.standard_fields_changing == 0 and "kept xmp:Rating: the file's '5'" in text
    assert "kept xmp:Label: the file's 'Purple'" in text and "would update" in text
    # an empty (unrated, 0) rating and a missing label are filled
    sidecar.write_text(GRANDMA.replace('xmp:Rating="5" xmp:Label="Purple"', 'xmp:Rating="0"'), encoding="utf-8")
    frame = _with_meta(frame)
    frame.user_stars = None
    export_sidecars(_summary(frame), "lightroom", policy=everything, store=store)
    got = read_sidecar(sidecar)
    assert got["Xmp.xmp.Rating"] == "2" and got["Xmp.xmp.Label"] == "Green"
    assert got["Xmp.dc.description"]["x-default"].startswith("Grandma")  # a caption is never empty here
    # Mondrian's own values are not the photographer's: the reader skips them while the file holds them
    assert read_user_metadata(raw_photo, store.sidecar_writes.mondrian_values).rating is None
    assert read_user_metadata(raw_photo).rating == 2
    # ... and a later run may update them without "overwrite"
    frame.user_stars = 4
    export_sidecars(_summary(frame), "lightroom", policy=everything, store=store)
    assert read_sidecar(sidecar)["Xmp.xmp.Rating"] == "4"
    # overwrite replaces the photographer's caption only when asked
    export_sidecars(_summary(frame), "lightroom", policy=WritePolicy(frozenset({"caption"}), overwrite=True),
                    store=store)
    assert read_sidecar(sidecar)["Xmp.dc.description"] == {"x-default": "Soft focus; the light is flat.",
                                                            "fr-FR": "légende"}


def test_reject_convention_is_opt_in(tmp_path: Path, raw_photo: Path, store: Store) -> None:
    frame = _frame(raw_photo, flag="reject", file_meta=UserMetadata())
    export_sidecars(_summary(frame), "darktable", store=store)
    created = tmp_path / "IMG_0001.CR3.xmp"
    assert "Xmp.xmp.Rating" not in read_sidecar(created) and "Xmp.xmpDM.pick" not in read_sidecar(created)
    export_sidecars(_summary(frame), "darktable", policy=WritePolicy(frozenset({"flag"})), store=store)
    got = read_sidecar(created)
    assert got["Xmp.xmp.Rating"] == "-1" and got["Xmp.xmpDM.pick"] == "-1"
    assert read_user_metadata(raw_photo, store.sidecar_writes.mondrian_values).flag is None  # Mondrian's, not the user's
    assert read_user_metadata(raw_photo).flag == "reject"


def test_a_bridge_pick_does_not_block_a_rating_and_a_rejected_frame_gets_no_stars(tmp_path: Path, raw_photo: Path,
                                                                                  store: Store) -> None:
    sidecar = tmp_path / "IMG_0001.xmp"
    sidecar.write_text(LIGHTROOM_SIDECAR.replace('xmp:Rating="2"', 'xmpDM:pick="1"').replace(
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:xmpDM="http://ns.adobe.com/xmp/1.0/DynamicMedia/"'))
    export_sidecars(_summary(_frame(raw_photo, user_stars=3)), "lightroom", policy=WritePolicy(frozenset({"rating"})),
                    store=store)
    assert read_sidecar(sidecar)["Xmp.xmp.Rating"] == "3" and read_sidecar(sidecar)["Xmp.xmpDM.pick"] == "1"
    other = tmp_path / "IMG_0002.CR3"
    other.write_bytes(b"raw")
    (tmp_path / "IMG_0002.CR3.xmp").write_text(LIGHTROOM_SIDECAR.replace('xmp:Rating="2"', 'xmp:Rating="0"').replace(
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:xmpDM="http://ns.adobe.com/xmp/1.0/DynamicMedia/" '
        'xmpDM:pick="-1"'))
    export_sidecars(_summary(_frame(other, user_stars=3)), "darktable", policy=WritePolicy(frozenset({"rating"})),
                    store=store)
    assert read_sidecar(tmp_path / "IMG_0002.CR3.xmp")["Xmp.xmp.Rating"] == "0"  # rejected in Bridge: no stars


def test_undo_restores_exactly_and_refuses_a_file_changed_since(tmp_path: Path, store: Store) -> None:
    a, b, c = (tmp_path / f"IMG_{i}.NEF" for i in (1, 2, 3))
    for photo in (a, b, c):
        photo.write_bytes(b"raw")
    (tmp_path / "IMG_1.xmp").write_text(GRANDMA, encoding="utf-8")
    (tmp_path / "IMG_2.xmp").write_text(LIGHTROOM_SIDECAR, encoding="utf-8")
    os.utime(tmp_path / "IMG_1.xmp", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    originals = {p: p.read_bytes() for p in (tmp_path / "IMG_1.xmp", tmp_path / "IMG_2.xmp")}
    result = export_sidecars(_summary(*(_frame(p) for p in (a, b, c))), "lightroom", store=store)
    assert result.files_changing == 3 and (tmp_path / "IMG_3.xmp").exists()
    (tmp_path / "IMG_2.xmp").write_text(LIGHTROOM_SIDECAR.replace('xmp:Rating="2"', 'xmp:Rating="3"'))  # Lightroom
    undo = undo_last_write(store)
    assert sorted(Path(p).name for p in undo.restored) == ["IMG_1.xmp", "IMG_3.xmp"]
    assert len(undo.refused) == 1 and undo.refused[0].startswith(f"{tmp_path / 'IMG_2.xmp'}: changed since")
    assert (tmp_path / "IMG_1.xmp").read_bytes() == originals[tmp_path / "IMG_1.xmp"]
    assert (tmp_path / "IMG_1.xmp").stat().st_mtime_ns == 1_600_000_000_000_000_000
    assert not (tmp_path / "IMG_3.xmp").exists()  # created by Mondrian: removed
    assert 'xmp:Rating="3"' in (tmp_path / "IMG_2.xmp").read_text()  # Lightroom's write kept
    assert store.sidecar_writes.mondrian_values(str(tmp_path / "IMG_1.xmp")) == {}  # undone: no longer Mondrian's
    assert undo_last_write(store).batch_id is None


def test_read_only_sidecar_is_skipped_and_named(tmp_path: Path, raw_photo: Path, store: Store) -> None:
    sidecar = tmp_path / "IMG_0001.xmp"
    sidecar.write_text(GRANDMA, encoding="utf-8")
    os.chmod(sidecar, 0o444)
    data, mtime = sidecar.read_bytes(), sidecar.stat().st_mtime_ns
    result = export_sidecars(_summary(_frame(raw_photo)), "lightroom", store=store)
    assert [c.skipped for c in result.changes] == ["read-only, left as it is"]
    assert f"{sidecar}: skipped (read-only" in result.describe()
    assert sidecar.read_bytes() == data and sidecar.stat().st_mtime_ns == mtime
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o444


def test_mode_owner_and_extended_attributes_are_kept(tmp_path: Path, raw_photo: Path, store: Store) -> None:
    sidecar = tmp_path / "IMG_0001.xmp"
    sidecar.write_text(GRANDMA, encoding="utf-8")
    os.chmod(sidecar, 0o640)
    try:
        os.setxattr(sidecar, "user.xdg.tags", b"family")
    except OSError:
        pytest.skip("this filesystem has no user extended attributes")
    if os.geteuid() == 0:  # as root the owner can differ from the writer's: it must be kept
        os.chown(sidecar, 4321, 4322)
    owner = (sidecar.stat().st_uid, sidecar.stat().st_gid)
    export_sidecars(_summary(_frame(raw_photo)), "lightroom", store=store)
    assert "Xmp.mondrian.Grade" in read_sidecar(sidecar)
    assert os.getxattr(sidecar, "user.xdg.tags") == b"family"
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o640 and (sidecar.stat().st_uid, sidecar.stat().st_gid) == owner


def test_a_sidecar_changed_between_read_and_write_is_not_replaced(tmp_path: Path, raw_photo: Path) -> None:
    from app.engine.sidecars import commit_plan

    sidecar = tmp_path / "IMG_0001.xmp"
    sidecar.write_text(GRANDMA, encoding="utf-8")
    plan = plan_sidecar(raw_photo, SidecarUpdate(keywords=("grade A",)))
    sidecar.write_text(GRANDMA.replace("Purple", "Blue"), encoding="utf-8")  # Lightroom saves meanwhile
    assert commit_plan(plan, tmp_path / "backups", 1) is None
    assert "changed since Mondrian read it" in (plan.change.skipped or "")
    assert "Blue" in sidecar.read_text()


def test_new_sidecar_gets_the_umask_mode(tmp_path: Path, raw_photo: Path, store: Store) -> None:
    old = os.umask(0o022)
    try:
        export_sidecars(_summary(_frame(raw_photo)), "darktable", store=store)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "IMG_0001.CR3.xmp").stat().st_mode) == 0o644


def test_dry_run_lists_and_writes_nothing(tmp_path: Path, raw_photo: Path) -> None:
    sidecar = tmp_path / "IMG_0001.xmp"
    sidecar.write_text(LIGHTROOM_SIDECAR, encoding="utf-8")
    before, mtime = sidecar.read_bytes(), os.stat(sidecar).st_mtime_ns
    result = export_sidecars(_summary(_frame(raw_photo, flag="reject", file_meta=UserMetadata())), "lightroom",
                             dry_run=True, policy=WritePolicy(frozenset({"flag"}), overwrite=True))
    text = result.describe()
    assert text.startswith("policy: Mondrian's namespace and keywords, plus flag (overwriting")
    assert f"{sidecar}: would update" in text
    assert "Xmp.xmp.Rating: '2' -> '-1'" in text and "Xmp.xmpDM.pick: (none) -> '-1'" in text
    assert "Xmp.mondrian.Grade: (none) -> 'D'" in text
    assert sidecar.read_bytes() == before and os.stat(sidecar).st_mtime_ns == mtime
    with pytest.raises(ValueError, match="history database"):
        export_sidecars(_summary(_frame(raw_photo)), "lightroom")


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
        plan_sidecar(raw_photo, SidecarUpdate(rating=3))
    assert str(err.value).startswith(f"{sidecar}: ") and "\n" not in str(err.value)
    assert sidecar.read_bytes() == content
    assert any(p.startswith(f"{sidecar}: ") for p in read_user_metadata(raw_photo).problems)


def test_update_and_policy_validation() -> None:
    with pytest.raises(ValueError, match="rating"):
        SidecarUpdate(rating=6)
    with pytest.raises(ValueError, match="flag"):
        SidecarUpdate(flag="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keyword"):
        SidecarUpdate(keywords=("a|b",))
    with pytest.raises(ValueError, match="stars"):
        WritePolicy.parse("rating,stars")
    assert WritePolicy.parse(" Rating , label ", overwrite=True) == WritePolicy(frozenset({"rating", "label"}), True)
    assert frame_update(_frame(Path("x.CR3"), overall=None, grade=None)).rating is None
