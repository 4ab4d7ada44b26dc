"""The RAG reference index: an advisor's reference photos, profiled into ``dimensional_profiles``.

Reference photos live in ``<data>/references/<advisor>/`` as copies, or as symbolic links when
asked (no extra space). Never hard links: a hard link *is* the original, so an edit of the
"reference" would edit the user's photo. A symbolic link inside the chosen folder that points out
of it is skipped unless ``follow_links`` (a folder of links to elsewhere is then imported on
purpose). A folder imported with ``--folder DIR`` lands in its own sub-folder ``<name>-<hash>/``
which mirrors DIR: photos removed from DIR are removed from the references.

Indexing profiles each reference photo with :func:`~app.engine.rag.draft.draft_profile` (the same
photo preparation and measured facts as a critique of that file) and stores the eight scores and comments with the file's content hash; a
re-run only profiles new or changed files and drops the profiles of files that are gone.
Retrieval ranks profiles by Euclidean distance over the eight scores.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine import paths
from app.engine.advisors import slugify, validate_advisor_id
from app.engine.critique.prompts import ReferenceContext
from app.engine.critique.report import DIMENSIONS, Report
from app.engine.model.cancel import CancelScope
from app.engine.model.host import ModelHost, new_request_id
from app.engine.photos.decode import ImageLoadError, file_sha256, find_photos
from app.engine.rag.draft import draft_profile_of_file
from app.engine.settings import Settings
from app.engine.store.database import ProfileRow, Store, profile_vector

log = logging.getLogger(__name__)

DEFAULT_K = 3
NOTE_CHARS = 160  # how much of a reference's summary goes into the pass-2 prompt


# ---- retrieval ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Neighbor:
    """A reference profile and its distance to the photo being critiqued."""

    profile: ProfileRow
    distance: float

    @property
    def name(self) -> str:
        return Path(self.profile.image_path).name

    def to_reference(self) -> ReferenceContext:
        scores = {k: float(v) for k, v in self.profile.scores.items() if v is not None}
        note = (self.profile.summary or "").strip()
        if len(note) > NOTE_CHARS:
            note = note[:NOTE_CHARS - 1].rstrip() + "…"
        return ReferenceContext(name=self.name, scores=scores, note=note)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "image_path": self.profile.image_path, "distance": round(self.distance, 4),
                "scores": {k: v for k, v in self.profile.scores.items() if v is not None},
                "overall_grade": self.profile.overall_grade, "summary": self.profile.summary,
                "content_hash": self.profile.content_hash}


def has_scores(profile: ProfileRow) -> bool:
    return any(profile.scores.get(d) is not None for d in DIMENSIONS)


def nearest_profiles(profiles: Iterable[ProfileRow], target: Report | dict[str, float | None],
                     k: int = DEFAULT_K) -> list[Neighbor]:
    """The ``k`` profiles closest to ``target`` by Euclidean distance over the eight scores
    (ties by path, so the choice is reproducible)."""
    goal = profile_vector(target)
    ranked = [Neighbor(p, math.dist(goal, profile_vector(p))) for p in profiles if has_scores(p)]
    ranked.sort(key=lambda n: (n.distance, n.profile.image_path))
    return ranked[:max(k, 0)]


# ---- the reference folder -----------------------------------------------------------------------

def references_root(advisor_id: str) -> Path:
    return paths.references_dir(validate_advisor_id(advisor_id))


def _under(path: str | Path, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError):
        return False


def import_subfolder(advisor_id: str, folder: Path) -> Path:
    """Where photos imported from ``folder`` go: a sub-folder named after it plus a hash of its path,
    so two folders with the same name never collide."""
    resolved = Path(folder).expanduser().resolve()
    tag = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:8]
    return references_root(advisor_id) / f"{slugify(resolved.name) or 'photos'}-{tag}"


@dataclass
class ImportSummary:
    """What importing a folder into the references did."""

    linked: list[str] = field(default_factory=list)  # symbolic links (link=True)
    copied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason): links out of the folder


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ImageLoadError):
        return exc.reason
    return getattr(exc, "strerror", None) or str(exc)


def _same_content(src: Path, dest: Path) -> bool:
    try:
        if os.path.samefile(src, dest):
            return True
        a, b = src.stat(), dest.stat()
    except OSError:
        return False
    if a.st_size != b.st_size:
        return False
    if a.st_mtime_ns == b.st_mtime_ns:
        return True  # copy2 keeps the mtime: same size and time = same file (as rsync assumes)
    return file_sha256(src) == file_sha256(dest)


def _place(src: Path, dest: Path, link: bool) -> str:
    """Copy ``src`` to ``dest`` (or make ``dest`` a symbolic link to it) atomically; returns
    "linked"/"copied". Never a hard link: that would make the reference the original itself."""
    paths.ensure_private_dir(dest.parent)
    tmp = dest.parent / f".tmp-{uuid.uuid4().hex}{dest.suffix}"
    try:
        if link:
            os.symlink(src.resolve(), tmp)
        else:
            shutil.copy2(src, tmp, follow_symlinks=True)
            os.chmod(tmp, paths.PRIVATE_FILE)  # copy2 copies the original's 0644: the data folder is private
        os.replace(tmp, dest)  # replaces our old name; never writes into an existing file
    finally:
        tmp.unlink(missing_ok=True)
    return "linked" if link else "copied"


def _kept_as_wanted(src: Path, dest: Path, link: bool) -> bool:
    """Is ``dest`` already what this import would make? A hard link left by an older version, or
    a link where a copy is asked for (and the reverse), is not."""
    if dest.is_symlink():
        return link and dest.resolve() == src.resolve()
    if link or not dest.exists():
        return False
    try:
        if os.path.samefile(src, dest):
            return False  # a hard link to the original (older versions made them): copy instead
    except OSError:
        return False
    return _same_content(src, dest)


def _outside_link(src: Path, source: Path) -> bool:
    """Does ``src`` (or a folder on its way) lead out of ``source`` through a symbolic link?"""
    return not _under(src, source)


def import_folder(advisor_id: str, folder: str | os.PathLike[str], *, link: bool = False,
                  follow_links: bool = False) -> ImportSummary:
    """Mirror ``folder``'s photos into the advisor's references (originals are only read):
    copies, or symbolic links with ``link``; links out of ``folder`` only with ``follow_links``."""
    source = Path(folder).expanduser()
    photos = find_photos(source)  # raises ImageLoadError naming the folder when it is missing
    root = references_root(advisor_id)
    summary = ImportSummary()
    if _under(source, root):
        return summary  # already inside the references: nothing to import
    target = import_subfolder(advisor_id, source)
    wanted: set[Path] = set()
    for src in photos:
        dest = target / src.relative_to(source)
        if not follow_links and _outside_link(src, source):
            summary.skipped.append((str(src), "a symbolic link out of the folder (follow_links to import it)"))
            continue
        wanted.add(dest)
        try:
            if _kept_as_wanted(src, dest, link):
                summary.unchanged.append(str(dest))
                continue
            getattr(summary, _place(src, dest, link)).append(str(dest))
        except (OSError, ImageLoadError) as exc:
            summary.failed.append((str(src), _reason(exc)))  # an older copy, if any, stays
    if target.is_dir():
        for old in _our_files(target):
            if old not in wanted:
                old.unlink(missing_ok=True)  # our own copy/link; the original stays where it is
                summary.removed.append(str(old))
    return summary


def _our_files(target: Path) -> list[Path]:
    """Photo names in our import folder, dangling links included (an original that moved away)."""
    found = find_photos(target)
    dangling = [p for p in target.rglob("*") if p.is_symlink() and not p.exists()]
    return sorted({*found, *dangling})


# ---- indexing -----------------------------------------------------------------------------------

@dataclass
class IndexSummary:
    """Counts of one indexing run, with the names behind them."""

    advisor_id: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    imported: ImportSummary | None = None

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "removed": len(self.removed), "failed": len(self.failed)}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"advisor_id": self.advisor_id, **self.counts(),
                               "failures": [{"path": p, "reason": r} for p, r in self.failed]}
        if self.imported is not None:
            out["imported"] = {"linked": len(self.imported.linked), "copied": len(self.imported.copied),
                               "unchanged": len(self.imported.unchanged), "removed": len(self.imported.removed),
                               "failed": len(self.imported.failed), "skipped": len(self.imported.skipped)}
        return out


ProgressCallback = Callable[[int, int, str, str], None]  # (done, total, path, outcome)


class ReferenceIndex:
    """Profiles an advisor's reference photos into the store, incrementally."""

    def __init__(self, host: ModelHost, settings: Settings, store: Store):
        self.host = host
        self.settings = settings
        self.store = store

    def profiles(self, advisor_id: str) -> list[ProfileRow]:
        return [p for p in self.store.profiles.list_profiles(advisor_id) if has_scores(p)]

    def update(self, advisor_id: str, folder: str | os.PathLike[str] | None = None, *,
               on_progress: ProgressCallback | None = None, scope: CancelScope | None = None,
               link: bool = False, follow_links: bool = False) -> IndexSummary:
        """Import ``folder`` (when given; see :func:`import_folder` for ``link``/``follow_links``),
        then profile new/changed reference photos and drop gone ones."""
        summary = IndexSummary(advisor_id=validate_advisor_id(advisor_id))
        if folder is not None:
            summary.imported = import_folder(advisor_id, folder, link=link, follow_links=follow_links)
            summary.failed.extend(summary.imported.failed)
        root = references_root(advisor_id)
        known = {p.image_path: p for p in self.store.profiles.list_profiles(advisor_id) if _under(p.image_path, root)}
        photos = find_photos(root)
        stale: list[str] = []
        for i, path in enumerate(photos):
            if scope is not None:
                scope.check()
            key = str(path)
            row = known.pop(key, None)
            outcome = self._index_one(advisor_id, path, row, summary, scope)
            if outcome == "failed" and row is not None:
                stale.append(key)  # its old profile describes content that is no longer there
            if on_progress is not None:
                on_progress(i + 1, len(photos), key, outcome)
        gone = sorted(known)
        self.store.profiles.delete_profiles(advisor_id, [*gone, *stale])
        summary.removed.extend(gone)
        return summary

    def _index_one(self, advisor_id: str, path: Path, row: ProfileRow | None, summary: IndexSummary,
                   scope: CancelScope | None) -> str:
        key = str(path)
        try:
            digest = file_sha256(path)
        except (OSError, ImageLoadError) as exc:
            summary.failed.append((key, _reason(exc)))
            return "failed"
        if row is not None and row.content_hash == digest:
            summary.unchanged.append(key)
            return "unchanged"
        try:
            result = draft_profile_of_file(self.host, self.settings, path, scope=scope,
                                           request_id=new_request_id("index"))
        except (ImageLoadError, OSError) as exc:
            summary.failed.append((key, _reason(exc)))
            return "failed"
        if result.report is None:
            summary.failed.append((key, "profile did not parse: " + "; ".join(result.problems[:3])))
            return "failed"
        self.store.profiles.upsert_profile(advisor_id, key, digest, result.report, source="model")
        (summary.updated if row is not None else summary.added).append(key)
        return "updated" if row is not None else "added"
