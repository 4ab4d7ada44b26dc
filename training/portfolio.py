"""The portfolio side of a dataset: which photos there are, and each photo's training target.

``scan_portfolio`` loads every photo the engine reads (unreadable ones are listed and skipped)
with its shooting data and star rating; ``resolve_targets`` gives each one its target by
precedence (see :mod:`training.targets`): a profile the user edited, then the targets file, then
a stored draft. Used by ``mondrian train prepare``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from app.engine import paths
from app.engine.photos.decode import ImageLoadError, decode_photo, file_sha256, find_photos
from app.engine.photos.exif import ShootingData, read_shooting_data
from app.engine.photos.prepare import ANALYSIS_EDGE

from . import diskspace
from .common import CommandError
from .console import Ticker
from .targets import DRAFT, EDITED, TARGETS, Target, TargetsFile, report_to_target
from .xmp import StarRating, XmpError, mondrian_record, read_rating

Emit = Callable[..., Any]


def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


@dataclass
class Photo:
    path: Path
    relative: str
    sha256: str
    image: Image.Image
    rating: StarRating | None = None
    target: Target | None = None
    shooting: ShootingData | None = None  # EXIF camera settings: grounding facts, as at inference



# ---------------------------------------------------------------------------- scanning

def scan_portfolio(folder: Path, max_edge: int, *, recursive: bool = True,
                   emit: Emit = _nothing) -> tuple[list[Photo], list[dict[str, str]], list[str]]:
    """Load every photo; returns (photos, skipped [{file, reason}], warnings)."""
    try:
        files = find_photos(folder, recursive=recursive)
    except ImageLoadError as exc:
        raise CommandError(f"portfolio {exc}") from None
    photos: list[Photo] = []
    skipped: list[dict[str, str]] = []
    warnings: list[str] = []
    with mondrian_record() as written:
        for path in Ticker(emit, "reading photos", len(files)).each(files, lambda f: f.name):
            _load_photo(folder, path, max_edge, written, photos, skipped, warnings, emit)
    return photos, skipped, warnings


def _load_photo(folder: Path, path: Path, max_edge: int, written: Any, photos: list[Photo],
                skipped: list[dict[str, str]], warnings: list[str], emit: Emit) -> None:
    """One photo into ``photos`` (or ``skipped``), with its rating (a warning when unusable)."""
    relative = path.relative_to(folder).as_posix()
    try:
        # Measured at the analysis size, as inference does; _prepare makes the model's copy.
        image = decode_photo(path, max_edge=max(ANALYSIS_EDGE, max_edge), min_raw_preview_edge=max_edge).image
        sha = file_sha256(path)
    except ImageLoadError as exc:
        skipped.append({"file": relative, "reason": exc.reason})
        emit("skipped", file=relative, reason=exc.reason)
        return
    photo = Photo(path=path, relative=relative, sha256=sha, image=image, shooting=read_shooting_data(path))
    try:
        photo.rating = read_rating(path, written)
    except (XmpError, OSError) as exc:
        warnings.append(f"{relative}: star rating ignored ({exc})")
    photos.append(photo)


# ---------------------------------------------------------------------------- targets

def _db_profiles(advisor_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The advisor's stored profiles by absolute image path and by content hash."""
    from app.engine.store.database import open_default_store
    from app.engine.store.schema import StoreError

    try:
        with open_default_store() as store:
            profiles = store.profiles.list_profiles(advisor_id)
    except StoreError as exc:  # opening writes too (WAL): a full disk is named like the others
        disk = diskspace.as_disk_error(exc, paths.data_dir(), 64 << 10, "the history database")
        raise disk or CommandError(f"{exc} (the stored profiles are targets)") from None
    by_path: dict[str, Any] = {}
    by_hash: dict[str, Any] = {}
    for p in profiles:
        by_path[p.image_path] = p
        if p.content_hash:
            current = by_hash.get(p.content_hash)
            if current is None or (_is_edited(p) and not _is_edited(current)):
                by_hash[p.content_hash] = p
    return by_path, by_hash


def _is_edited(profile: Any) -> bool:
    return bool(profile.edited) or profile.source == "user"


def _profile_target(profile: Any, source: str, max_chars: int) -> Target | None:
    where = f"stored profile of {Path(profile.image_path).name}"
    try:
        report = report_to_target(profile.to_report(), where=where, max_text_chars=max_chars)
    except ValueError:
        return None  # an incomplete profile (some dimension without a score) is no target
    kind = "edited profile" if source == EDITED else f"{profile.source} profile"
    return Target(report=report, source=source, origin=f"database ({kind})")


def resolve_targets(photos: list[Photo], advisor_id: str, targets: TargetsFile | None, *, use_drafts: bool,
                    max_chars: int, warnings: list[str]) -> list[Photo]:
    """Give each photo its target by precedence; returns the photos that still have none."""
    by_path, by_hash = _db_profiles(advisor_id)
    used_keys: set[str] = set()
    missing: list[Photo] = []
    for photo in photos:
        profile = by_path.get(str(photo.path.resolve())) or by_hash.get(photo.sha256)
        if profile is not None and _is_edited(profile):
            photo.target = _profile_target(profile, EDITED, max_chars)
        if photo.target is None and targets is not None:
            found = targets.lookup(photo.relative)
            if found is not None:
                key, report = found
                used_keys.add(key)
                photo.target = Target(report=report, source=TARGETS, origin=targets.origins[key])
        if photo.target is None and use_drafts and profile is not None:
            photo.target = _profile_target(profile, DRAFT, max_chars)
        if photo.target is None:
            missing.append(photo)
    if targets is not None:
        unused = sorted(set(targets.entries) - used_keys)
        if unused:
            shown = ", ".join(unused[:10]) + (" ..." if len(unused) > 10 else "")
            warnings.append(f"{targets.path.name}: {len(unused)} entr{'y' if len(unused) == 1 else 'ies'} "
                            f"match no photo in the portfolio: {shown}")
    return missing
