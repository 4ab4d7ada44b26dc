"""Adapter versions on disk: ``<data>/adapters/<advisor>/vN/`` plus an ``active`` pointer file.

A version folder holds mlx-vlm's native adapter files (``adapter_config.json``,
``adapters.safetensors``) and our ``manifest.json`` beside them, plus training and evaluation
records. Versions are published atomically: built in a hidden temp folder, then renamed into
place, so a killed run never leaves a half-written version. This module only manages files;
applying an adapter to the resident model is ``app.engine.adapters.manager``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.engine import atomic, paths
from app.engine.advisors import validate_advisor_id

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapters.safetensors"
MANIFEST = "manifest.json"
ACTIVE = "active"
_VERSION_RE = re.compile(r"^v(\d+)$")


class AdapterStoreError(ValueError):
    pass


@dataclass
class AdapterManifest:
    """What an adapter is: which base it was trained on, from what data, with what result."""

    advisor_id: str
    version: str
    base_model: str
    created: float = field(default_factory=time.time)
    dataset_hash: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    source: str = "mondrian"  # or "imported" for adapters made elsewhere (mlx_vlm.train)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdapterManifest:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        missing = [k for k in ("advisor_id", "version", "base_model") if k not in known]
        if missing:
            raise AdapterStoreError(f"manifest is missing {', '.join(missing)}")
        return cls(**known)


@dataclass(frozen=True)
class AdapterVersion:
    advisor_id: str
    version: str
    path: Path

    @property
    def number(self) -> int:
        return int(self.version[1:])

    def manifest(self) -> AdapterManifest | None:
        """The manifest, or None when the folder has none (e.g. a bare mlx_vlm.train output)."""
        file = self.path / MANIFEST
        if not file.is_file():
            return None
        try:
            return AdapterManifest.from_dict(json.loads(file.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError) as exc:
            raise AdapterStoreError(f"{file}: unreadable manifest ({exc})") from exc


def advisor_root(advisor_id: str) -> Path:
    return paths.adapters_dir(validate_advisor_id(advisor_id))


def list_versions(advisor_id: str) -> list[AdapterVersion]:
    """Published versions, oldest first."""
    root = advisor_root(advisor_id)
    found = []
    for child in root.iterdir():
        m = _VERSION_RE.match(child.name)
        if m and child.is_dir():
            found.append(AdapterVersion(advisor_id, child.name, child))
    return sorted(found, key=lambda v: v.number)


def get_version(advisor_id: str, version: str) -> AdapterVersion:
    if not _VERSION_RE.match(version or ""):
        raise AdapterStoreError(f"{version!r} is not a version name like 'v3'")
    path = advisor_root(advisor_id) / version
    if not path.is_dir():
        have = ", ".join(v.version for v in list_versions(advisor_id)) or "none"
        raise AdapterStoreError(f"advisor {advisor_id!r} has no adapter {version} (versions: {have})")
    return AdapterVersion(advisor_id, version, path)


def next_version_name(advisor_id: str) -> str:
    versions = list_versions(advisor_id)
    return f"v{versions[-1].number + 1 if versions else 1}"


def active_version(advisor_id: str) -> AdapterVersion | None:
    """The active version, or None (no pointer, or it points at a deleted version)."""
    pointer = advisor_root(advisor_id) / ACTIVE
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    path = advisor_root(advisor_id) / name
    if not _VERSION_RE.match(name) or not path.is_dir():
        return None
    return AdapterVersion(advisor_id, name, path)


def set_active(advisor_id: str, version: str | None) -> None:
    """Point ``active`` at ``version`` (None clears it: the advisor then runs on the base model)."""
    pointer = advisor_root(advisor_id) / ACTIVE
    if version is None:
        pointer.unlink(missing_ok=True)
        return
    get_version(advisor_id, version)
    atomic.write_text(pointer, version + "\n")


def staging_dir(advisor_id: str) -> Path:
    """A fresh hidden folder beside the versions to build a new one in (same filesystem: rename is atomic)."""
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=advisor_root(advisor_id)))


def publish(advisor_id: str, staged: Path, manifest: AdapterManifest, *, activate: bool = True) -> AdapterVersion:
    """Move a staged folder into place as the next version, with its manifest; optionally activate it."""
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        if not (staged / name).is_file():
            raise AdapterStoreError(f"cannot publish {staged}: {name} is missing")
    root = advisor_root(advisor_id)
    for _ in range(100):
        version = next_version_name(advisor_id)
        manifest.version = version
        manifest.advisor_id = advisor_id
        atomic.write_json(staged / MANIFEST, manifest.to_dict())
        try:
            os.rename(staged, root / version)  # fails if a concurrent publish took the name
        except OSError:
            continue
        break
    else:
        raise AdapterStoreError(f"could not publish a new version for {advisor_id!r}")
    if activate:
        set_active(advisor_id, version)
    return AdapterVersion(advisor_id, version, root / version)


def delete_version(advisor_id: str, version: str) -> None:
    """Delete a version; if it was active, the newest remaining version becomes active (or none)."""
    target = get_version(advisor_id, version)
    was_active = (active := active_version(advisor_id)) is not None and active.version == version
    trash = advisor_root(advisor_id) / f".deleting-{version}-{int(time.time() * 1000)}"
    os.rename(target.path, trash)  # atomic disappearance; then the slow delete
    shutil.rmtree(trash, ignore_errors=True)
    if was_active:
        remaining = list_versions(advisor_id)
        set_active(advisor_id, remaining[-1].version if remaining else None)


def rollback(advisor_id: str) -> AdapterVersion | None:
    """Activate the version before the active one (None if there is none before it: base model)."""
    active = active_version(advisor_id)
    versions = list_versions(advisor_id)
    if active is None:
        raise AdapterStoreError(f"advisor {advisor_id!r} has no active adapter to roll back from")
    earlier = [v for v in versions if v.number < active.number]
    set_active(advisor_id, earlier[-1].version if earlier else None)
    return earlier[-1] if earlier else None


def clean_stale_staging(advisor_id: str) -> int:
    """Remove staging/deleting leftovers of killed runs; returns how many."""
    n = 0
    for child in advisor_root(advisor_id).iterdir():
        if child.name.startswith((".staging-", ".deleting-")) and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
            n += 1
    return n
