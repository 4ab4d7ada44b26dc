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
_POINTER_MAX = 256  # an ``active`` file is "v3\n"; more than this is not a pointer


class AdapterStoreError(ValueError):
    pass


class ActivePointerError(AdapterStoreError):
    """The ``active`` file exists but does not name a published version; ``problem`` says how."""

    def __init__(self, advisor_id: str, pointer: Path, problem: str):
        self.advisor_id, self.pointer, self.problem = advisor_id, pointer, problem
        super().__init__(f"{pointer}: {problem}; fix it with: mondrian train versions activate --advisor "
                         f"{advisor_id} vN (or delete the file to run on the base model)")


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
    run_id: str = ""  # the training run that published it: a killed publish is finished, not repeated

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


def read_active(advisor_id: str) -> AdapterVersion | None:
    """The active version; None when there is no pointer (the advisor runs on the base model).

    A pointer that exists but is wrong (a folder, unreadable, garbage bytes, a path such as
    ``../../../etc``, a version that is not there) raises :class:`ActivePointerError` naming the
    file and the problem, so a caller can fall back *with that reason* or refuse.
    """
    root = advisor_root(advisor_id)
    pointer = root / ACTIVE
    if not os.path.lexists(pointer):
        return None
    if pointer.is_symlink() or not pointer.is_file():
        raise ActivePointerError(advisor_id, pointer, "is not a plain file (it should hold a version name like 'v3')")
    try:
        with open(pointer, "rb") as handle:
            raw = handle.read(_POINTER_MAX + 1)
    except OSError as exc:
        raise ActivePointerError(advisor_id, pointer, f"cannot be read ({exc.strerror or exc})") from None
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        name = None
    if name is None or len(raw) > _POINTER_MAX or not name.isprintable():
        raise ActivePointerError(advisor_id, pointer, f"holds {len(raw)}{'+' if len(raw) > _POINTER_MAX else ''} "
                                 "bytes that are not a version name (expected a name like 'v3')")
    if not name:
        raise ActivePointerError(advisor_id, pointer, "is empty (expected a version name like 'v3')")
    if "/" in name or "\\" in name or name.startswith("."):
        raise ActivePointerError(advisor_id, pointer, f"points outside the advisor's adapter folder ({name!r}); "
                                 "only a version name like 'v3' is allowed")
    if not _VERSION_RE.match(name):
        raise ActivePointerError(advisor_id, pointer, f"holds {name[:40]!r}, which is not a version name like 'v3'")
    if not (root / name).is_dir():
        have = ", ".join(v.version for v in list_versions(advisor_id)) or "none"
        raise ActivePointerError(advisor_id, pointer, f"names {name}, which does not exist (versions: {have})")
    return AdapterVersion(advisor_id, name, root / name)


def active_version(advisor_id: str) -> AdapterVersion | None:
    """The active version, or None (no pointer, or a broken one: see :func:`read_active` for why).

    For displays that only need "which version, if any"; a critique resolves with
    :func:`read_active` so a broken pointer is reported, never silently taken for "no adapter".
    """
    try:
        return read_active(advisor_id)
    except ActivePointerError:
        return None


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


def find_run(advisor_id: str, run_id: str) -> AdapterVersion | None:
    """The version a training run published (by the manifest's ``run_id``), newest first; None if none."""
    if not run_id:
        return None
    for version in reversed(list_versions(advisor_id)):
        try:
            manifest = version.manifest()
        except AdapterStoreError:
            continue
        if manifest is not None and manifest.run_id == run_id:
            return version
    return None


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
    active = read_active(advisor_id)  # a broken pointer: say so, there is nothing to roll back from
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
