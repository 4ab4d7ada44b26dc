"""Copy or move the picks of a review to a folder, the way a photographer expects files to travel.

* A frame travels whole: the photo, its companions (the JPEG of a RAW+JPEG pair) and every XMP
  sidecar of each (``IMG_0001.xmp`` and darktable's ``IMG_0001.CR3.xmp``).
* Nothing is ever overwritten: when a name is taken in the destination, the whole group gets one
  numbered name (``IMG_0001-1.CR3`` with ``IMG_0001-1.JPG`` and ``IMG_0001-1.xmp``) so it stays paired.
  A file lands under its final name only through a hard link or an exclusive create.
* A move on one disk is a link plus an unlink (the data never moves); a move to another disk is a
  copy, a re-read of the copy verified against the source's SHA-256, and only then a delete.
  A copy is verified the same way.
* :func:`undo_transfer` reverses a result: copies are deleted (only when still the bytes written),
  moved files go back to where they were (never over a file that has appeared there since).

Qt-free: the window, the CLI and the API call the same functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.engine.sidecars.paths import existing_sidecars

Mode = Literal["copy", "move"]
CHUNK = 1 << 20
MAX_NUMBER = 9999


class TransferError(OSError):
    """One file could not travel; the message names it and why."""


@dataclass(frozen=True)
class Placed:
    source: str
    dest: str
    sha256: str


@dataclass
class TransferResult:
    mode: Mode
    folder: str
    placed: list[Placed] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (source, new name) on a collision
    errors: list[str] = field(default_factory=list)
    frames: int = 0

    def summary(self) -> str:
        verb = "Copied" if self.mode == "copy" else "Moved"
        text = f"{verb} {self.frames} frame(s), {len(self.placed)} file(s), to {self.folder}"
        if self.renamed:
            text += f"; {len(self.renamed)} renamed because the name was taken"
        if self.errors:
            text += f"; {len(self.errors)} problem(s): " + "; ".join(self.errors[:3])
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "folder": self.folder, "frames": self.frames, "errors": self.errors,
                "renamed": [list(r) for r in self.renamed],
                "placed": [{"source": p.source, "dest": p.dest, "sha256": p.sha256} for p in self.placed]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransferResult:
        return cls(mode=data["mode"], folder=data["folder"], frames=int(data.get("frames", 0)),
                   errors=list(data.get("errors", [])), renamed=[(a, b) for a, b in data.get("renamed", [])],
                   placed=[Placed(p["source"], p["dest"], p["sha256"]) for p in data.get("placed", [])])


def frame_files(photo: str | os.PathLike[str], companions: Iterable[str] = ()) -> list[Path]:
    """The files that travel with a frame: the photo, its companions and their sidecars, once each."""
    files: list[Path] = []
    for member in (Path(photo), *(Path(c) for c in companions)):
        for path in (member, *existing_sidecars(member)):
            if path.is_file() and path not in files:
                files.append(path)
    return files


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _numbered(name: str, base: str, n: int) -> str:
    if n == 0:
        return name
    if name.startswith(base):
        return f"{base}-{n}{name[len(base):]}"
    stem, dot, rest = name.partition(".")
    return f"{stem}-{n}{dot}{rest}"


def _free_names(files: Sequence[Path], base: str, folder: Path) -> list[Path]:
    """Destination paths for a group: the same names, or the first number free for every member."""
    for n in range(MAX_NUMBER + 1):
        targets = [folder / _numbered(f.name, base, n) for f in files]
        if not any(t.exists() or t.is_symlink() for t in targets) and len({t.name.lower() for t in targets}) == len(targets):
            return targets
    raise TransferError(f"{folder}: no free name for {base} after {MAX_NUMBER} tries")


def _place_new(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the name ``target`` without ever replacing a file there."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise TransferError(f"{target}: appeared while copying; left as it was") from None
    except OSError:  # a disk without hard links (FAT, exFAT, some network shares)
        if target.exists():
            raise TransferError(f"{target}: appeared while copying; left as it was") from None
        os.rename(tmp, target)
        return
    os.unlink(tmp)


def _copy_verified(source: Path, target: Path) -> str:
    """Copy to a temp file beside ``target``, sync, place it without overwriting, re-read and compare."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        shutil.copystat(source, tmp)
        _place_new(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    expected = digest.hexdigest()
    if sha256(target) != expected:
        target.unlink()
        raise TransferError(f"{target}: the copy does not match {source.name} when read back; removed it")
    return expected


def _same_disk(source: Path, folder: Path) -> bool:
    return source.stat().st_dev == folder.stat().st_dev


def _move(source: Path, target: Path) -> str:
    if _same_disk(source, target.parent):
        digest = sha256(source)
        try:
            os.link(source, target)
        except FileExistsError:
            raise TransferError(f"{target}: appeared while moving; left as it was") from None
        except OSError:
            if target.exists():
                raise TransferError(f"{target}: appeared while moving; left as it was") from None
            os.rename(source, target)
            return digest
        source.unlink()
        return digest
    digest = _copy_verified(source, target)  # another disk: copy, verify by hash, then delete
    if sha256(source) != digest:
        target.unlink()
        raise TransferError(f"{source}: changed while it was being moved; the original is kept")
    source.unlink()
    return digest


def transfer(frames: Iterable[tuple[str, Sequence[str]]], folder: str | os.PathLike[str], mode: Mode) -> TransferResult:
    """Copy or move each frame (``(photo, companions)``) with its companions and sidecars into ``folder``."""
    if mode not in ("copy", "move"):
        raise ValueError(f"mode must be 'copy' or 'move', not {mode!r}")
    dest = Path(folder)
    dest.mkdir(parents=True, exist_ok=True)
    result = TransferResult(mode=mode, folder=str(dest))
    for photo, companions in frames:
        files = frame_files(photo, companions)
        if not files:
            result.errors.append(f"{Path(photo).name}: not found")
            continue
        if any(f.parent.resolve() == dest.resolve() for f in files):
            result.errors.append(f"{Path(photo).name}: already in {dest}")
            continue
        try:
            targets = _free_names(files, Path(photo).stem, dest)
        except TransferError as exc:
            result.errors.append(str(exc))
            continue
        placed_here = 0
        for source, target in zip(files, targets, strict=True):
            try:
                digest = _move(source, target) if mode == "move" else _copy_verified(source, target)
            except OSError as exc:
                result.errors.append(str(exc) if isinstance(exc, TransferError) else f"{source}: {exc.strerror or exc}")
                continue
            result.placed.append(Placed(str(source), str(target), digest))
            placed_here += 1
            if target.name != source.name:
                result.renamed.append((str(source), target.name))
        result.frames += bool(placed_here)
    return result


def undo_transfer(result: TransferResult) -> list[str]:
    """Reverse ``result``; returns the problems (a file changed or gone since, a name taken again)."""
    problems: list[str] = []
    for placed in reversed(result.placed):
        dest, source = Path(placed.dest), Path(placed.source)
        try:
            if not dest.is_file():
                problems.append(f"{dest}: no longer there")
                continue
            if sha256(dest) != placed.sha256:
                problems.append(f"{dest}: changed since it was placed; left as it is")
                continue
            if result.mode == "copy":
                dest.unlink()
            elif source.exists():
                problems.append(f"{source}: a file of that name is back; {dest.name} left where it is")
            else:
                source.parent.mkdir(parents=True, exist_ok=True)
                _move(dest, source)
        except OSError as exc:
            problems.append(str(exc) if isinstance(exc, TransferError) else f"{dest}: {exc.strerror or exc}")
    return problems
