"""The culls folder that ``train learn`` trains from (and copies to other Macs): written atomically,
read back exactly (non-UTF-8 and very long names included), and a damaged or partial copy named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from training.culls import Decision
from training.culls_dataset import CullsError, culls_dir, culls_hash, load_culls, write_culls


@pytest.fixture
def photos(tmp_path: Path, home: Path) -> list[Decision]:
    folder = tmp_path / "shoot"
    folder.mkdir()
    names = [b"sharp.jpg", b"caf\xe9.jpg", b"x" * 240 + b".jpg", b"gone.jpg"]
    out = []
    for i, raw in enumerate(names):
        path = os.fsdecode(os.fsencode(str(folder)) + b"/" + raw)
        if raw != b"gone.jpg":
            Image.new("RGB", (300, 200), (40 * i, 90, 200)).save(path)
        out.append(Decision(path=path, shoot="r1", group="r1/burst-1", stars=5 - i, flag="pick" if i == 0 else None,
                            earlier={"composition": 4}))
    out.append(Decision(path=str(folder / "undecided.jpg"), shoot="r1", group="r1/other"))  # no decision
    return out


def _write(decisions: list[Decision], skipped: list[tuple[str, str]]) -> object:
    from app.engine.photos.decode import load_photo

    return write_culls("me", ["r1"], decisions, edge=128, image=lambda p: load_photo(Path(p), max_edge=128),
                       facts_of=lambda p: [f"fact of {Path(p).name[:10]}"],
                       skipped=lambda p, why: skipped.append((p, why)))


def test_written_and_read_back_exactly(photos: list[Decision]) -> None:
    skipped: list[tuple[str, str]] = []
    culls = _write(photos, skipped)
    assert [Path(p).name for p, _ in skipped] == ["gone.jpg"]  # named, the others kept
    back = load_culls("me")
    assert back.hash == culls_hash("me") and back.edge == 128 and back.reviews == ["r1"]
    assert [d.path for d in back.decisions] == [d.path for d in photos[:3]]  # the undecided frame is not there
    assert back.decisions[1].path.endswith("caf\udce9.jpg") and back.decisions[0] == photos[0]
    image = back.image(photos[1].path, 128)
    assert image.mode == "RGB" and max(image.size) == 128
    assert back.facts_of(photos[2].path) == ["fact of " + Path(photos[2].path).name[:10]]
    assert culls is not None and back.path == culls_dir("me")
    assert not [p for p in back.path.parent.iterdir() if p.name.startswith(".staging")]  # nothing left over


def test_a_changed_or_partial_copy_is_named(photos: list[Decision]) -> None:
    _write(photos, [])
    folder = culls_dir("me")
    first = sorted((folder / "images").glob("*.png"))[0]
    Image.new("RGB", (128, 85), (0, 0, 0)).save(first)  # another image under the same name
    with pytest.raises(CullsError, match="does not match its recorded hash"):
        load_culls("me")
    first.unlink()
    with pytest.raises(CullsError, match=r"frame 0: its image .*00000.png is missing"):
        load_culls("me")


def test_a_malformed_manifest_names_the_file_and_field(photos: list[Decision]) -> None:
    with pytest.raises(CullsError, match="no culls prepared for advisor 'me'.*--prepare-only"):
        load_culls("me")
    _write(photos, [])
    manifest = culls_dir("me") / "culls.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "edge": "big"}))
    with pytest.raises(CullsError, match="culls.json: field 'frames' must be a list and 'edge' a positive integer"):
        load_culls("me")
    manifest.write_text(json.dumps({**data, "frames": [{**data["frames"][0], "image": "../../etc/passwd"}]}))
    with pytest.raises(CullsError, match="frame 0 is malformed .*outside the folder"):
        load_culls("me")
    manifest.write_text("{not json")
    with pytest.raises(CullsError, match="culls.json: cannot be read as JSON"):
        load_culls("me")
