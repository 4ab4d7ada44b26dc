"""A shoot rated in Lightroom teaches an advisor from the command line, as the README shows it:
``mondrian review FOLDER --json`` then ``mondrian train learn --advisor ID --from-review REVIEW_ID``.

One burst was rated in XMP sidecars (``IMG.xmp`` beside the file, a reject saved as Rating -1), one
in the XMP embedded in the JPEGs (where Lightroom writes it for JPEG), and one not at all: there the
review itself writes the star rating it derived from its scores (``--write-sidecars lightroom --set
rating``), a value that must never come back as the photographer's decision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_support import home_with_settings, mondrian

from app.testing.synthetic_photographer import make_bursts

TIME_LIMIT_S = 300  # each command on the tiny model (the learning run is about 40 s on 2 idle cores)


def _packet(rating: int) -> str:
    """An XMP packet with ``xmp:Rating`` only, as Lightroom saves a rating (-1: a reject)."""
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="{rating}"/>'
            '</rdf:RDF></x:xmpmeta>')


def _embed(path: Path, rating: int) -> None:
    """Write the rating into the JPEG's own XMP with exiv2 (what Lightroom does for a JPEG)."""
    import exiv2

    image = exiv2.ImageFactory.open(str(path))
    image.readMetadata()
    image.setXmpPacket(_packet(rating))
    image.writeMetadata()


def _rated_in_lightroom(shoot: Path) -> dict[str, int]:
    """Three bursts (sharp pick 4 stars, dark 2 stars, blurred reject): the first rated in sidecars,
    the second embedded, the third left unrated. Returns file name -> the rating written."""
    ratings: dict[str, int] = {}
    for i, burst in enumerate(make_bursts(shoot, 3)):
        for path, flag, stars in burst:
            rating = -1 if flag == "reject" else int(stars or 0)
            if i == 0:
                path.with_suffix(".xmp").write_text(_packet(rating), encoding="utf-8")
            elif i == 1:
                _embed(path, rating)
            else:
                continue
            ratings[path.name] = rating
    return ratings


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_a_shoot_rated_in_lightroom_teaches_the_advisor_from_the_cli(tiny_model_dir: Path, tmp_path: Path,
                                                                     home: Path) -> None:
    from app.engine.advisors import Advisor, save_user_advisor

    home_with_settings(home, max_text_chars=24)
    save_user_advisor(Advisor(id="me", name="Me", bio="Likes sharp, bright frames."))  # a short prompt: fast steps
    shoot = tmp_path / "shoot"
    ratings = _rated_in_lightroom(shoot)

    # the review (triage is enough to teach from); it also writes its own ratings where the files have none
    review = mondrian(["review", str(shoot), "--advisor", "me", "--model", str(tiny_model_dir), "--triage-only",
                       "--write-sidecars", "lightroom", "--set", "rating", "--json"], home, timeout=TIME_LIMIT_S)
    assert review.returncode == 0, review.stderr[-3000:]
    out = json.loads(review.stdout)
    review_id = out["review"]["id"]
    frames = {f["name"]: f for f in out["summary"]["frames"]}
    assert len(frames) == 9 and len(out["summary"]["bursts"]) == 3
    assert frames["burst00_sharp.jpg"]["file_metadata"]["sources"] == {"rating": "sidecar burst00_sharp.xmp"}
    assert frames["burst01_dark.jpg"]["file_metadata"]["sources"] == {"rating": "embedded XMP"}
    mondrians = {}
    for name in ("burst02_sharp.jpg", "burst02_dark.jpg", "burst02_blurred.jpg"):  # Mondrian wrote these
        written = (shoot / name).with_suffix(".xmp").read_text(encoding="utf-8")
        assert "mondrian:Grade=" in written and 'xmp:Rating="' in written
        mondrians[name] = int(written.split('xmp:Rating="')[1].split('"')[0])
    assert all(1 <= r <= 5 for r in mondrians.values())
    kept = (shoot / "burst00_blurred.xmp").read_text(encoding="utf-8")
    assert 'xmp:Rating="-1"' in kept and "mondrian:Grade=" in kept  # the photographer's reject stays

    learn = mondrian(["train", "learn", "--advisor", "me", "--from-review", review_id, "--model",
                      str(tiny_model_dir), "--steps", "2"], home, timeout=TIME_LIMIT_S)
    assert learn.returncode == 0, learn.stderr[-3000:]
    events = _events(learn.stdout)
    start = next(e for e in events if e["event"] == "start")
    assert start["train_rows"] + start["val_rows"] == 6 and start["hyperparameters"]["steps"] == 2
    published = events[-1]
    assert published["event"] == "published" and published["version"] == "v1"
    version = Path(published["path"])
    assert (version / "adapters.safetensors").is_file()

    saved = json.loads((version / "eval.json").read_text(encoding="utf-8"))
    assert saved["reviews"] == [review_id]
    detail = {Path(f["path"]).name: f for f in saved["frames_detail"]}
    # the photographer's six frames, each from where Lightroom put it; none of the three Mondrian rated
    assert set(detail) == set(ratings)
    for name in ratings:
        assert detail[name]["source"] == (f"sidecar {Path(name).stem}.xmp" if name.startswith("burst00")
                                          else "embedded XMP"), name
    assert {name: d["user"] for name, d in detail.items()} == {
        name: (0.0 if r == -1 else float(r)) for name, r in ratings.items()}  # a -1 is a reject: level 0
    assert {d["group"] for d in detail.values()} == {f"{review_id}/burst-1", f"{review_id}/burst-2"}
    assert saved["frames"]["train"] == 3 and saved["frames"]["held_out"] == 3  # one whole burst held out

    table = (version / "eval.md").read_text(encoding="utf-8")
    assert "| frames | when | pairs | pairwise | within bursts | across stars | Spearman | pick precision |" in table
    for row in ("| train | before | 3 |", "| train | after | 3 |", "| held-out | before | 3 |",
                "| held-out | after | 3 |"):
        assert row in table
    assert "Held-out pairwise agreement, after minus before" in table

    listed = mondrian(["train", "versions", "list", "--advisor", "me"], home, timeout=120)
    assert listed.returncode == 0 and "v1" in listed.stdout, listed.stderr

    # the photographer then rates one of those frames in Lightroom (over Mondrian's value): now it is theirs
    from app.engine.store.database import open_default_store
    from training.culls import review_decisions

    sidecar = shoot / "burst02_sharp.xmp"
    theirs = 5 if mondrians["burst02_sharp.jpg"] != 5 else 3
    sidecar.write_text(sidecar.read_text(encoding="utf-8").replace(
        f'xmp:Rating="{mondrians["burst02_sharp.jpg"]}"', f'xmp:Rating="{theirs}"'), encoding="utf-8")
    store = open_default_store()
    try:
        decided = {Path(d.path).name: d for d in review_decisions(store, review_id) if d.decided}
    finally:
        store.close()
    assert decided["burst02_sharp.jpg"].stars == theirs
    assert decided["burst02_sharp.jpg"].source == "sidecar burst02_sharp.xmp"
    assert "burst02_dark.jpg" not in decided and "burst02_blurred.jpg" not in decided  # still Mondrian's own
