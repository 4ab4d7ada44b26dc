"""The culls of reviewed shoots as a folder that travels: what ``train learn`` trains on.

Learning on several Macs needs every process to find the same data at the same path (``mlx.launch``
runs the same command on each host), while the review store, the photos and their sidecars live on
this Mac only. So the decided frames are written once, here, to ``<data>/culls/<advisor>/``:
``culls.json`` (per frame: the decision, the advisor's earlier answer, the measured facts the
prompt carries, the image file) and ``images/NNNNN.png`` (each photo at the training edge,
lossless: the very pixels a one-Mac run trains on). The folder's content hash is compared on every
host before a run (``mondrian train distributed check``) and by every process in it. A one-Mac run
trains from the same folder, so there is one path, not two.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from app.engine import atomic, paths
from app.engine.advisors import validate_advisor_id

from . import diskspace
from .common import CommandError
from .culls import Decision
from .dataset import swap_in

FORMAT = 1
MANIFEST = "culls.json"
IMAGES = "images"


class CullsError(CommandError):
    """The prepared culls are missing, damaged or of another format: says which file and what."""


def culls_dir(advisor_id: str) -> Path:
    """``<data>/culls/<advisor>`` (not created)."""
    return paths.data_dir() / "culls" / validate_advisor_id(advisor_id)


@dataclass
class CullsDataset:
    """The decided frames of one or more reviews, with each frame's image and facts."""

    path: Path
    advisor_id: str
    reviews: list[str]
    edge: int
    decisions: list[Decision]
    images: dict[str, str]  # frame path -> file inside the folder
    facts: dict[str, list[str]] = field(default_factory=dict)  # frame path -> the prompt's measured facts
    hash: str = ""

    def image(self, frame: str, edge: int) -> Any:
        """The frame's photo as training sees it: RGB, its long edge at most ``edge`` (the stored image
        when it was prepared for this edge, through the same decoder as the photos themselves)."""
        from app.engine.photos.decode import load_photo

        return load_photo(self.path / self.images[frame], max_edge=edge).convert("RGB")

    def facts_of(self, frame: str) -> list[str]:
        return self.facts.get(frame, [])


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def _digest(frames: Sequence[dict[str, Any]], pngs: Sequence[bytes], edge: int) -> str:
    digest = hashlib.sha256(f"format {FORMAT} edge {edge}\n".encode())
    for frame, png in zip(frames, pngs, strict=True):
        digest.update(json.dumps(frame, sort_keys=True).encode())
        digest.update(hashlib.sha256(png).digest())
    return digest.hexdigest()


Skip = Callable[[str, str], object]  # (frame path, why) for a photo that can no longer be read


def write_culls(advisor_id: str, reviews: Sequence[str], decisions: Sequence[Decision], *, edge: int,
                image: Callable[[str], Any], facts_of: Callable[[str], Sequence[str]] | None,
                skipped: Skip) -> CullsDataset:
    """Write the decided frames (images at ``edge``) atomically into :func:`culls_dir`; a frame whose
    photo cannot be read is passed to ``skipped`` and left out, the others are kept."""
    from app.engine.photos.errors import ImageLoadError

    target = culls_dir(advisor_id)
    frames: list[dict[str, Any]] = []
    pngs: list[bytes] = []
    kept: list[Decision] = []
    for d in decisions:
        if not d.decided:
            continue
        try:
            png = _png(image(d.path))
            facts = list(facts_of(d.path)) if facts_of is not None else []
        except (ImageLoadError, OSError) as exc:
            skipped(d.path, str(exc))
            continue
        frames.append({"decision": asdict(d), "image": f"{IMAGES}/{len(frames):05d}.png", "facts": facts})
        pngs.append(png)
        kept.append(d)
    content = _digest(frames, pngs, edge)
    manifest = {"format": FORMAT, "advisor_id": advisor_id, "reviews": list(reviews), "edge": edge,
                "hash": content, "created": time.time(), "frames": frames}
    paths.ensure_private_dir(target.parent)
    need = sum(len(p) for p in pngs) + len(json.dumps(manifest)) + (64 << 10)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{advisor_id}-", dir=target.parent))
    try:
        with diskspace.writing(target.parent, need, "the culls for training"):
            (staging / IMAGES).mkdir()
            for frame, png in zip(frames, pngs, strict=True):
                (staging / frame["image"]).write_bytes(png)
            # ASCII JSON: a file name that is not UTF-8 (a lone surrogate, PEP 383) comes back exact
            atomic.write_text(staging / MANIFEST, json.dumps(manifest, indent=2) + "\n")
            swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # what was just written, from memory (reading every image back would hash it all a second time)
    return CullsDataset(path=target, advisor_id=advisor_id, reviews=list(reviews), edge=edge, decisions=kept,
                        images={d.path: f["image"] for d, f in zip(kept, frames, strict=True)},
                        facts={d.path: list(f["facts"]) for d, f in zip(kept, frames, strict=True)}, hash=content)


def culls_hash(advisor_id: str) -> str | None:
    """The prepared culls' content hash as recorded (None when there are none); cheap, for the host check."""
    try:
        data = json.loads((culls_dir(advisor_id) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("hash") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def load_culls(advisor_id: str) -> CullsDataset:
    """The prepared culls, every image checked against the recorded hash (a partial copy to another
    Mac is caught here, naming the file)."""
    folder = culls_dir(advisor_id)
    file = folder / MANIFEST
    hint = (f"prepare them with `mondrian train learn --advisor {advisor_id} --from-review REVIEW_ID "
            "--prepare-only`, then copy the folder to the same place on the other Macs")
    if not file.is_file():
        raise CullsError(f"no culls prepared for advisor {advisor_id!r} in {folder}: {hint}")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CullsError(f"{file}: cannot be read as JSON ({exc}): {hint}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else "?"
        raise CullsError(f"{file}: not culls of format {FORMAT} (format {found}): {hint}")
    frames = data.get("frames")
    edge = data.get("edge")
    if not isinstance(frames, list) or not isinstance(edge, int) or edge < 1:
        raise CullsError(f"{file}: field 'frames' must be a list and 'edge' a positive integer: {hint}")
    names = {f.name for f in fields(Decision)}
    decisions, images, facts, pngs = [], {}, {}, []
    for index, frame in enumerate(frames):
        try:
            raw = frame["decision"]
            decision = Decision(**{k: v for k, v in raw.items() if k in names})
            image_file = folder / frame["image"]
            if not image_file.resolve().is_relative_to(folder.resolve()):
                raise ValueError(f"image {frame['image']!r} is outside the folder")
            pngs.append(image_file.read_bytes())
        except FileNotFoundError as exc:
            raise CullsError(f"{file}: frame {index}: its image {exc.filename} is missing (an incomplete copy?): "
                             f"{hint}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CullsError(f"{file}: frame {index} is malformed ({exc}): {hint}") from None
        decisions.append(decision)
        images[decision.path] = str(frame["image"])
        facts[decision.path] = [str(x) for x in frame.get("facts") or []]
    content = _digest(frames, pngs, edge)
    if content != data.get("hash"):
        raise CullsError(f"{folder}: its content does not match its recorded hash (changed or incompletely "
                         f"copied): {hint}")
    return CullsDataset(path=folder, advisor_id=advisor_id, reviews=[str(r) for r in data.get("reviews") or []],
                        edge=edge, decisions=decisions, images=images, facts=facts, hash=content)
