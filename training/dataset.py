"""The training dataset on disk: a Hugging Face ``datasets`` DatasetDict plus our metadata.

``<data>/datasets/<advisor>/`` holds ``train`` and ``validation`` splits saved with
``save_to_disk`` (no ``validation`` split when nothing is held out) and ``mondrian_dataset.json`` (options, counts, skipped photos, content hash).
Columns:

* ``messages`` - the chat turns, every ``content`` a plain string: system and user turns exactly as
  inference builds them (``critique_prompt(advisor, facts=...)``), the assistant turn the target
  report JSON. mlx-vlm inserts the image placeholder into the user turn itself.
* ``images``   - a one-image list (PNG-encoded, lossless: the pixels the model trains on);
* ``photo``, ``photo_sha256``, ``augmentation``, ``target_source``, ``rating`` - provenance.

The folder is replaced atomically: built beside it, then swapped in by renames, so a reader sees the
old dataset or the new one. A kill during the swap leaves hidden ``.staging-<advisor>-*`` /
``.old-<advisor>-*`` folders: the next save or load of that advisor's dataset finishes the swap (or
puts the old one back) and removes them (:func:`recover_swap`; a lock keeps it off a live save). ``export_jsonl`` writes the ``train.jsonl``/``validation.jsonl`` +
``images/`` layout that ``python -m mlx_vlm.train --data DIR`` reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.engine import atomic, paths
from app.engine.advisors import validate_advisor_id

from . import diskspace

log = logging.getLogger(__name__)

TRAIN, VALIDATION = "train", "validation"
SPLITS = (TRAIN, VALIDATION)
META_FILE = "mondrian_dataset.json"
META_FORMAT = 1
REQUIRED_COLUMNS = ("messages", "images")


class DatasetError(ValueError):
    """The dataset is missing, unreadable or malformed; the message says which and what to do."""


@dataclass
class Row:
    """One training example before it goes into the dataset."""

    messages: list[dict[str, str]]
    image: Image.Image
    photo: str
    photo_sha256: str
    augmentation: str
    target_source: str
    rating: int  # -1 rejected, 0 unrated, 1..5

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, "PNG", compress_level=4)
        return buffer.getvalue()


def features() -> Any:
    from datasets import Features, List, Value
    from datasets import Image as HFImage

    return Features({
        "messages": List({"role": Value("string"), "content": Value("string")}),
        "images": List(HFImage()),
        "photo": Value("string"),
        "photo_sha256": Value("string"),
        "augmentation": Value("string"),
        "target_source": Value("string"),
        "rating": Value("int32"),
    })


def split_photos(keys: Iterable[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split photo identities (content hashes) into train and validation, seeded.

    Splitting identities, not rows, keeps a photo and all its augmented copies on one side.
    With ``val_fraction > 0`` and at least two photos, validation gets at least one photo and
    train keeps at least one.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), not {val_fraction}")
    unique = sorted(set(keys))
    order = [unique[i] for i in np.random.default_rng(seed).permutation(len(unique))]
    n_val = round(val_fraction * len(unique))
    if val_fraction > 0 and len(unique) >= 2:
        n_val = min(max(n_val, 1), len(unique) - 1)
    else:
        n_val = 0
    return sorted(order[n_val:]), sorted(order[:n_val])


def _hash_rows(digest: Any, split: str, rows: Sequence[Row], pngs: Sequence[bytes]) -> None:
    for row, png in zip(rows, pngs, strict=True):
        record = [split, row.photo_sha256, row.augmentation, row.messages, hashlib.sha256(png).hexdigest()]
        digest.update(json.dumps(record, ensure_ascii=False, sort_keys=True).encode())


def dataset_dir(advisor_id: str) -> Path:
    return paths.datasets_dir(validate_advisor_id(advisor_id))


def save_dataset(advisor_id: str, splits: dict[str, list[Row]], meta: dict[str, Any]) -> tuple[Path, str]:
    """Write the dataset atomically into ``dataset_dir(advisor_id)``; returns (folder, content hash).

    A disk that cannot take it (checked first, from the encoded images) is a one-line
    :class:`training.diskspace.DiskError` naming the folder and the space needed."""
    target = dataset_dir(advisor_id)
    with diskspace.writing(target.parent, diskspace.PROBE_BYTES, "the dataset"), dataset_lock(advisor_id):
        recover_swap(advisor_id, locked=True)
        return _save(advisor_id, target, splits, meta)


def _save(advisor_id: str, target: Path, splits: dict[str, list[Row]], meta: dict[str, Any]) -> tuple[Path, str]:
    from datasets import Dataset, DatasetDict, disable_progress_bars

    disable_progress_bars()  # stderr is the GUI's log; progress here is instant anyway
    digest = hashlib.sha256()
    parts = {}
    need = 64 << 10  # dataset_dict.json, state.json, dataset_info.json, our metadata
    for split in SPLITS:
        rows = splits.get(split, [])
        if not rows:  # datasets cannot load an empty split back; a missing split means "none"
            continue
        pngs = [r.png() for r in rows]
        need += sum(len(png) + len(json.dumps(r.messages)) + 512 for r, png in zip(rows, pngs, strict=True))
        _hash_rows(digest, split, rows, pngs)
        parts[split] = Dataset.from_dict({
            "messages": [r.messages for r in rows],
            "images": [[{"bytes": p, "path": None}] for p in pngs],
            "photo": [r.photo for r in rows],
            "photo_sha256": [r.photo_sha256 for r in rows],
            "augmentation": [r.augmentation for r in rows],
            "target_source": [r.target_source for r in rows],
            "rating": [r.rating for r in rows],
        }, features=features())
    content_hash = digest.hexdigest()
    diskspace.check_writable(target.parent, need, "the dataset")
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{advisor_id}-", dir=target.parent))
    try:
        meta = {**meta, "format": META_FORMAT, "advisor_id": advisor_id, "hash": content_hash,
                "created": time.time(), "counts": {s: len(splits.get(s, [])) for s in SPLITS} | meta.get("counts", {})}
        with diskspace.writing(target.parent, need, "the dataset"):
            DatasetDict(parts).save_to_disk(str(staging))
            atomic.write_json(staging / META_FILE, meta)
            swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target, content_hash


def swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with renames (the old one is moved aside, then deleted)."""
    trash = _move_aside(target)
    os.replace(staging, target)  # onto a missing or empty folder
    if trash is not None:
        _remove(trash)


def _move_aside(target: Path) -> Path | None:
    if not (target.exists() and any(target.iterdir())):
        return None
    trash = target.with_name(f".old-{target.name}-{int(time.time() * 1000)}")
    os.rename(target, trash)
    return trash


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def dataset_lock(advisor_id: str, *, blocking: bool = True) -> Iterator[bool]:
    """Held while a dataset is written (an OS file lock: it dies with the process); yields whether it
    was taken (``blocking=False`` yields False when another process holds it)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield True
        return
    folder = dataset_dir(advisor_id).parent
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{advisor_id}.lock", "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _complete(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() and (folder / META_FILE).is_file()


def recover_swap(advisor_id: str, *, locked: bool = False) -> list[str]:
    """Finish a dataset swap a kill interrupted and remove its leftovers; returns what was done.

    With the dataset folder gone (killed between the two renames), the newest complete staging
    folder (the new dataset, fully written) takes its place, else the old one comes back. Then
    every ``.staging-<advisor>-*`` and ``.old-<advisor>-*`` left is deleted. Skipped while another
    process holds the dataset lock (it is saving: those folders are its own).
    """
    target = dataset_dir(advisor_id)
    parent = target.parent
    if not parent.is_dir():
        return []
    if not locked:
        with dataset_lock(advisor_id, blocking=False) as taken:
            return recover_swap(advisor_id, locked=True) if taken else []
    name = re.escape(advisor_id)
    staged = [c for c in parent.iterdir() if re.fullmatch(rf"\.staging-{name}-[a-z0-9_]{{8}}", c.name) and c.is_dir()]
    old = [c for c in parent.iterdir() if re.fullmatch(rf"\.old-{name}-\d+", c.name) and c.is_dir()]
    done: list[str] = []
    if not (target.is_dir() and any(target.iterdir())):
        newest = sorted((c for c in staged if _complete(c)), key=lambda c: c.stat().st_mtime)
        back = sorted((c for c in old if _complete(c)), key=lambda c: int(c.name.rsplit("-", 1)[1]))
        source = newest[-1] if newest else back[-1] if back else None
        if source is not None:
            if target.is_dir():
                target.rmdir()  # empty
            os.replace(source, target)
            done.append(f"finished the interrupted save of {target}" if source in staged else
                        f"put the previous dataset back in {target} (the new one was not complete)")
    for leftover in (*staged, *old):
        if leftover.exists():
            _remove(leftover)
            done.append(f"removed {leftover.name}")
    for line in done:
        log.warning("dataset of %s: %s", advisor_id, line)
    return done


@dataclass
class LoadedDataset:
    path: Path
    splits: dict[str, Any]  # split name -> datasets.Dataset
    meta: dict[str, Any]

    @property
    def hash(self) -> str:
        return str(self.meta.get("hash", ""))

    def split(self, name: str) -> Any:
        return self.splits[name]


def load_dataset(advisor_id: str, path: str | os.PathLike[str] | None = None) -> LoadedDataset:
    """Load and check the advisor's dataset; :class:`DatasetError` says what is wrong and what to do."""
    folder = Path(path) if path is not None else dataset_dir(advisor_id)
    if path is None:
        recover_swap(advisor_id)
    hint = f"prepare it with: mondrian train prepare --advisor {advisor_id} --portfolio DIR"
    if not folder.is_dir() or not (folder / "dataset_dict.json").is_file():
        raise DatasetError(f"no dataset for advisor {advisor_id!r} in {folder}; {hint}")
    from datasets import load_from_disk

    try:
        loaded = load_from_disk(str(folder))
    except Exception as exc:  # datasets raises many kinds for damaged folders
        log.debug("load_from_disk(%s) failed", folder, exc_info=True)
        raise DatasetError(f"the dataset in {folder} is unreadable ({type(exc).__name__}: {exc}); {hint}") from None
    if not hasattr(loaded, "keys") or TRAIN not in loaded:
        raise DatasetError(f"the dataset in {folder} has no {TRAIN!r} split; {hint}")
    splits = {name: loaded[name] for name in loaded.keys()}
    for name, split in splits.items():
        missing = [c for c in REQUIRED_COLUMNS if c not in split.column_names]
        if missing:
            raise DatasetError(f"the {name!r} split in {folder} lacks column(s) {', '.join(missing)}; {hint}")
    meta_file = folder / META_FILE
    meta: dict[str, Any] = {}
    if meta_file.is_file():
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{meta_file} is unreadable ({exc}); {hint}") from None
    if not meta.get("hash"):
        meta["hash"] = _hash_arrow_files(folder)
    if len(splits[TRAIN]) == 0:
        raise DatasetError(f"the dataset in {folder} has no training rows; {hint}")
    try:
        _check_rows(splits)
    except DatasetError as exc:
        raise DatasetError(f"{folder}: {exc}; {hint}") from None
    return LoadedDataset(path=folder, splits=splits, meta=meta)


def _check_rows(splits: dict[str, Any]) -> None:
    for name, split in splits.items():
        for i, messages in enumerate(split["messages"]):
            if not messages or messages[-1].get("role") != "assistant":
                raise DatasetError(f"{name} row {i}: the last message is not the assistant's target")
            if any(not isinstance(m.get("content"), str) for m in messages):
                raise DatasetError(f"{name} row {i}: a message content is not text")


def _hash_arrow_files(folder: Path) -> str:
    """Content hash of a dataset without our metadata (e.g. one made elsewhere)."""
    digest = hashlib.sha256()
    for file in sorted(folder.rglob("*.arrow")):
        digest.update(file.relative_to(folder).as_posix().encode())
        with open(file, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def row_prompt_and_target(row: dict[str, Any]) -> tuple[list[dict[str, str]], str]:
    """(the inference turns, the target JSON text) of a dataset row."""
    messages = list(row["messages"])
    return messages[:-1], messages[-1]["content"]


def export_jsonl(advisor_id: str, out_dir: str | os.PathLike[str]) -> Path:
    """Write the dataset as ``train.jsonl``/``validation.jsonl`` + ``images/`` for ``mlx_vlm.train``.

    Image paths in the rows are relative to ``out_dir`` (mlx-vlm resolves them against it).
    """
    data = load_dataset(advisor_id)
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        if split not in data.splits:
            continue
        lines = []
        for i, row in enumerate(data.splits[split]):
            rel = f"images/{split}-{i:05d}.png"
            image = row["images"][0]
            buffer = io.BytesIO()
            image.save(buffer, "PNG")
            atomic.write_bytes(out / rel, buffer.getvalue())
            lines.append(json.dumps({"messages": row["messages"], "images": [rel]}, ensure_ascii=False))
        if lines:
            atomic.write_text(out / f"{split}.jsonl", "\n".join(lines) + "\n")
    return out
