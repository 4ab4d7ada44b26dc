"""The cull as an undoable journal (real SQLite, survives a reopen) and copying / moving picks on
real files: RAW+JPEG pairs and sidecars together, no overwrite, cross-disk copy-verify-delete, undo."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from app.engine.review import transfer as tr
from app.engine.review.culling import CullJournal
from app.engine.store.database import Store
from app.engine.store.reviews import FrameRow


def _store_with_frames(root: Path, names: list[str]) -> tuple[Store, str, list[str]]:
    store = Store(root / "mondrian.db")
    review = store.reviews.open_review(str(root), "ansel", "baseline", "k", recursive=False, settings={})
    paths = [str(root / n) for n in names]
    store.reviews.set_frames(review.id, [FrameRow(review.id, p, position=i) for i, p in enumerate(paths)])
    return store, review.id, paths


def test_cull_undo_redo_survive_a_restart(home: Path, tmp_path: Path) -> None:
    store, rid, (a, b, c) = _store_with_frames(tmp_path, ["a.jpg", "b.jpg", "c.jpg"])
    journal = CullJournal(store, rid)
    journal.apply("Pick", [a], "flag", "pick")
    journal.apply("3 stars", [a, b], "stars", 3)
    journal.apply("Red", [c], "label", "Red")
    assert journal.apply("Pick again", [a], "flag", "pick") is None  # nothing changed: no step
    assert (store.reviews.get_frame(rid, a).flag, store.reviews.get_frame(rid, b).stars, journal.labels) == ("pick", 3, {c: "Red"})

    reopened = CullJournal(store, rid)  # a new window on the same database and data folder
    assert reopened.labels == {c: "Red"} and [s.description for s in reopened.undo_stack] == ["Pick", "3 stars", "Red"]
    assert reopened.undo().description == "Red" and reopened.labels == {}
    assert reopened.undo().description == "3 stars"
    assert store.reviews.get_frame(rid, a).stars is None and store.reviews.get_frame(rid, b).stars is None
    assert CullJournal(store, rid).redo().description == "3 stars"  # redo also survives
    assert store.reviews.get_frame(rid, b).stars == 3
    again = CullJournal(store, rid)
    assert [s.description for s in again.redo_stack] == ["Red"]
    again.apply("Reject", [b], "flag", "reject")  # a new action clears what could be redone
    assert again.redo_stack == [] and CullJournal(store, rid).redo() is None
    # a label toggles off when pressed again, as in Lightroom
    again.apply("Blue", [a], "label", "Blue")
    again.apply("Blue", [a], "label", "Blue")
    assert a not in again.labels
    with pytest.raises(ValueError, match="label must be one of"):
        again.apply("Pink", [a], "label", "Pink")


def test_a_damaged_journal_keeps_the_cull_in_the_database(home: Path, tmp_path: Path) -> None:
    store, rid, (a,) = _store_with_frames(tmp_path, ["a.jpg"])
    journal = CullJournal(store, rid)
    journal.apply("Pick", [a], "flag", "pick")
    journal.path.write_text("{not json", encoding="utf-8")
    fresh = CullJournal(store, rid)
    assert fresh.undo_stack == [] and store.reviews.get_frame(rid, a).flag == "pick"


def _shoot(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"raw": folder / "IMG_0001.CR3", "jpg": folder / "IMG_0001.JPG", "xmp": folder / "IMG_0001.xmp",
             "dt": folder / "IMG_0001.CR3.xmp", "solo": folder / "solo.jpg"}
    for key, path in files.items():
        path.write_bytes(f"{key} bytes {os.urandom(8).hex()}".encode())
    return files


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_copy_keeps_pairs_and_sidecars_together_and_never_overwrites(tmp_path: Path) -> None:
    src = _shoot(tmp_path / "shoot")
    dest = tmp_path / "picks"
    dest.mkdir()
    (dest / "IMG_0001.JPG").write_bytes(b"someone else's frame")  # a name already taken
    before = {k: _digest(p) for k, p in src.items()}
    result = tr.transfer([(str(src["raw"]), [str(src["jpg"])]), (str(src["solo"]), [])], dest, "copy")
    assert result.errors == [] and result.frames == 2
    names = sorted(p.name for p in dest.iterdir())
    # the whole group took one number, so the pair and its sidecars still belong together
    assert names == ["IMG_0001-1.CR3", "IMG_0001-1.CR3.xmp", "IMG_0001-1.JPG", "IMG_0001-1.xmp", "IMG_0001.JPG",
                     "solo.jpg"]
    assert (dest / "IMG_0001.JPG").read_bytes() == b"someone else's frame"
    assert _digest(dest / "IMG_0001-1.CR3") == before["raw"] and _digest(dest / "IMG_0001-1.xmp") == before["xmp"]
    assert all(p.is_file() for p in src.values()) and "renamed" in result.summary()
    assert tr.undo_transfer(result) == []
    assert sorted(p.name for p in dest.iterdir()) == ["IMG_0001.JPG"]
    assert {k: _digest(p) for k, p in src.items()} == before


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a second file system")
def test_move_to_another_disk_copies_verifies_then_deletes_and_undoes(tmp_path: Path) -> None:
    src = _shoot(tmp_path / "shoot")
    before = {k: _digest(p) for k, p in src.items()}
    import tempfile

    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        dest = Path(other) / "picks"
        if os.stat(other).st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("/dev/shm is on the same disk here")
        result = tr.transfer([(str(src["raw"]), [str(src["jpg"])])], dest, "move")
        assert result.errors == [] and len(result.placed) == 4
        assert not src["raw"].exists() and not src["xmp"].exists() and src["solo"].exists()
        assert _digest(dest / "IMG_0001.CR3") == before["raw"]
        # undo puts every file back, byte for byte
        assert tr.undo_transfer(tr.TransferResult.from_dict(result.to_dict())) == []
        assert {k: _digest(p) for k, p in src.items()} == before and list(dest.iterdir()) == []


def test_move_on_one_disk_and_undo_never_clobbers(tmp_path: Path) -> None:
    src = _shoot(tmp_path / "shoot")
    result = tr.transfer([(str(src["solo"]), [])], tmp_path / "picks", "move")
    assert not src["solo"].exists() and (tmp_path / "picks" / "solo.jpg").is_file()
    src["solo"].write_bytes(b"a new file took the old name")
    problems = tr.undo_transfer(result)
    assert problems and "is back" in problems[0]
    assert src["solo"].read_bytes() == b"a new file took the old name" and (tmp_path / "picks" / "solo.jpg").is_file()


def test_a_copy_that_differs_when_read_back_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _shoot(tmp_path / "shoot")
    real = tr.sha256
    monkeypatch.setattr(tr, "sha256", lambda p: "0" * 64 if p.parent.name == "picks" else real(p))
    result = tr.transfer([(str(src["solo"]), [])], tmp_path / "picks", "copy")
    assert result.frames == 0 and "does not match" in result.errors[0]
    assert src["solo"].is_file() and list((tmp_path / "picks").iterdir()) == []
