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
old dataset or the new one. ``export_jsonl`` writes the ``train.jsonl``/``validation.jsonl`` +
``images/`` layout that ``python -m mlx_vlm.train --data DIR`` reads.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.engine import atomic, paths
from app.engine.advisors import validate_advisor_id

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
    """Write the dataset atomically into ``dataset_dir(advisor_id)``; returns (folder, content hash)."""
    from datasets import Dataset, DatasetDict, disable_progress_bars

    disable_progress_bars()  # stderr is the GUI's log; progress here is instant anyway
    target = dataset_dir(advisor_id)
    digest = hashlib.sha256()
    parts = {}
    for split in SPLITS:
        rows = splits.get(split, [])
        if not rows:  # datasets cannot load an empty split back; a missing split means "none"
            continue
        pngs = [r.png() for r in rows]
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
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{advisor_id}-", dir=target.parent))
    try:
        DatasetDict(parts).save_to_disk(str(staging))
        meta = {**meta, "format": META_FORMAT, "advisor_id": advisor_id, "hash": content_hash,
                "created": time.time(), "counts": {s: len(splits.get(s, [])) for s in SPLITS} | meta.get("counts", {})}
        atomic.write_json(staging / META_FILE, meta)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target, content_hash


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with renames (the old one is moved aside, then deleted)."""
    trash = None
    if target.exists() and any(target.iterdir()):
        trash = target.with_name(f".old-{target.name}-{int(time.time() * 1000)}")
        os.rename(target, trash)
    os.replace(staging, target)  # onto a missing or empty folder
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


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
    hint = f"prepare it with: python -m training.prepare_dataset --advisor {advisor_id} --portfolio DIR"
    if not folder.is_dir() or not (folder / "dataset_dict.json").is_file():
        raise DatasetError(f"no dataset for advisor {advisor_id!r} in {folder}; {hint}")
    from datasets import load_from_disk

    try:
        loaded = load_from_disk(str(folder))
    except Exception as exc:  # datasets raises many kinds for damaged folders
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
