"""Carrying out a planned sidecar merge: backup first, re-check, replace gently, report what was written.

Before the first change to an existing sidecar its bytes (and mtime) are copied to a private
backup folder in the data folder; undo (:mod:`app.engine.sidecars.undo`) puts them back. A new
sidecar is created with ``link()``, so a file that appeared meanwhile is never replaced. Where the
record of values lives (the store) is the caller's business: :class:`WrittenFile` is what it keeps.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine import atomic, paths
from app.engine.sidecars.replace import FileState, ReplaceRefused, replace_file
from app.engine.sidecars.xmp import SidecarError, SidecarPlan


@dataclass
class WrittenFile:
    """One sidecar a write changed: enough to tell Mondrian's values later and to undo exactly."""

    path: str
    photo: str
    created: bool
    backup: str | None
    hash_before: str | None
    mode_before: int | None
    hash_after: str
    mtime_after_ns: int
    values: dict[str, Any] = field(default_factory=dict)


def backup_root() -> Path:
    """Where sidecar backups live: private, in the data folder."""
    return paths.ensure_private_dir(paths.data_dir() / "sidecar-backups")


def _backup(source: Path, data: bytes, folder: Path, index: int) -> Path:
    dest = paths.ensure_private_dir(folder) / f"{index:05d}-{source.name}"
    atomic.write_bytes(dest, data)
    info = os.stat(source)
    os.utime(dest, ns=(info.st_atime_ns, info.st_mtime_ns))  # undo puts the original time back too
    return dest


def commit_plan(plan: SidecarPlan, backup_folder: Path, index: int) -> WrittenFile | None:
    """Write ``plan`` (None when there is nothing to write or the file must be left alone: then
    ``plan.change.skipped`` says why). Raises SidecarError naming the file for an I/O failure."""
    change = plan.change
    target = change.path
    if plan.new is None:
        return None
    if plan.old is None or plan.state is None:
        try:
            atomic.write_new_bytes(target, plan.new)
        except FileExistsError:
            change.skipped = "a sidecar appeared while Mondrian was writing; left as it is"
            return None
        except OSError as exc:
            raise SidecarError(f"{target}: cannot write ({exc.strerror or exc})") from None
        after = FileState.of(target, plan.new)
        change.written = True
        return WrittenFile(str(target), str(plan.photo), True, None, None, None, after.sha256, after.mtime_ns,
                           plan.values)
    before = plan.state
    if before.read_only:
        change.skipped = "read-only, left as it is"
        return None
    try:
        backup = _backup(target, plan.old, backup_folder, index)
    except OSError as exc:
        raise SidecarError(f"{target}: no backup could be made ({exc.strerror or exc}), nothing written") from None
    try:
        after = replace_file(target, plan.new, before)
    except ReplaceRefused as exc:
        change.skipped = str(exc).removeprefix(f"{target}: ")
        backup.unlink(missing_ok=True)
        return None
    except OSError as exc:
        backup.unlink(missing_ok=True)
        raise SidecarError(f"{target}: cannot write ({exc.strerror or exc})") from None
    change.written = True
    return WrittenFile(str(target), str(plan.photo), False, str(backup), before.sha256, before.mode, after.sha256,
                       after.mtime_ns, plan.values)


def remove_backups(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
