"""Handing a review to Lightroom, Capture One or darktable: XMP sidecars, and a CSV + keyword list.

Per frame (the file critiqued, i.e. the RAW of a RAW+JPEG pair), through
:func:`app.engine.sidecars.plan_sidecar` (merged, the photo never touched), under a
:class:`~app.engine.sidecars.WritePolicy`:

* always: Mondrian's namespace (``mondrian:Grade``, ``mondrian:Overall``, a score per dimension,
  ``mondrian:Stars``, ``mondrian:Summary``, and ``mondrian:ScoreStage``: ``triage`` when the
  scores are the first stage's, ``full`` when a full critique wrote them) and keywords under ``Mondrian|`` in the hierarchy
  (``Mondrian grade B+``, ``Mondrian blur``, ``Mondrian burst 2``, ``Mondrian best of burst``);
* opted in, per field (only where empty or still Mondrian's, unless "overwrite"): ``xmp:Rating``
  (the stars you gave in Mondrian, else the score's), ``xmp:Label`` (``Green`` for the best frame of
  a burst, ``Red`` for a technical problem), ``dc:description`` (the summary) and the flag
  (your pick / reject).

Every write is a batch in the store: each changed sidecar's backup, its hash after the write, and
every value written. :func:`undo_last_write` puts the files of the newest batch back exactly.
Lightroom reads only the embedded XMP of JPEG/HEIC/TIFF/PNG/DNG files, which Mondrian never
writes: :func:`app.engine.sidecars.sidecar_note` says so per file, and :func:`write_csv` /
:func:`write_keyword_list` give those frames' ratings and keywords in a form it can import.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from app.engine import atomic, paths
from app.engine.critique.report import DIMENSIONS
from app.engine.review.summary import FrameSummary, ReviewSummary
from app.engine.sidecars import (
    PHOTOGRAPHER,
    Convention,
    SidecarChange,
    SidecarError,
    SidecarUpdate,
    WritePolicy,
    WrittenFile,
    backup_root,
    commit_plan,
    plan_sidecar,
    read_user_metadata,
    sidecar_note,
    sidecar_path,
)
from app.engine.sidecars.namespace import property_name
from app.engine.sidecars.undo import undo_file
from app.engine.store.sidecar_writes import SidecarFileRow

if TYPE_CHECKING:
    from app.engine.store.database import Store

KEYWORD_PREFIX = "Mondrian "


def frame_keywords(frame: FrameSummary) -> tuple[str, ...]:
    words = []
    if frame.grade:
        words.append(f"{KEYWORD_PREFIX}grade {frame.grade}")
    words += [f"{KEYWORD_PREFIX}{p.kind}" for p in frame.problems]
    if frame.burst is not None:
        words.append(f"{KEYWORD_PREFIX}burst {frame.burst}")
        if frame.best_in_burst:
            words.append(f"{KEYWORD_PREFIX}best of burst")
    return tuple(words)


def mondrian_properties(frame: FrameSummary) -> dict[str, str]:
    """The frame's results in Mondrian's namespace (property name -> text)."""
    out: dict[str, str] = {}
    if frame.grade:
        out["Grade"] = frame.grade
    if frame.overall is not None:
        out["Overall"] = f"{frame.overall:.2f}"
        out["Stars"] = str(frame.mapped_stars)
    if frame.stage:
        out["ScoreStage"] = frame.stage  # "triage" (the scores alone, a first pass) or "full" (a critique)
    for dim in DIMENSIONS:
        if dim in frame.scores:
            out[property_name(dim)] = f"{frame.scores[dim]:g}"
    if frame.summary:
        out["Summary"] = frame.summary
    return out


def frame_update(frame: FrameSummary) -> SidecarUpdate:
    """What Mondrian proposes for ``frame``'s sidecar (the policy decides which standard fields apply)."""
    label = "Green" if frame.best_in_burst else ("Red" if frame.problems else None)
    flag: Literal["pick", "reject"] | None = "pick" if frame.flag == "pick" else (
        "reject" if frame.flag == "reject" else None)
    stars = frame.stars if frame.reviewed or frame.user_stars is not None else 0
    return SidecarUpdate(rating=stars or None, label=label, flag=flag, keywords=frame_keywords(frame),
                         description=frame.summary or None, mondrian=mondrian_properties(frame))


@dataclass
class ExportResult:
    changes: list[SidecarChange] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # photo -> why its tool will not read the sidecar
    errors: dict[str, str] = field(default_factory=dict)  # photo -> the sidecar problem (nothing written)
    batch_id: str | None = None  # the store's record of this write (None: dry run, or nothing written)
    policy: WritePolicy = PHOTOGRAPHER

    @property
    def files_changing(self) -> int:
        return sum(bool(c.changes) and not c.skipped for c in self.changes)

    @property
    def fields_changing(self) -> int:
        return sum(len(c.changes) for c in self.changes if not c.skipped)

    @property
    def standard_fields_changing(self) -> int:
        """Changes to fields other tools read (rating, label, caption, flag)."""
        return sum(len(c.standard_changes) for c in self.changes if not c.skipped)

    @property
    def skipped(self) -> list[SidecarChange]:
        return [c for c in self.changes if c.skipped]

    def headline(self) -> str:
        dry = any(c.dry_run for c in self.changes)
        verb = "would change" if dry else "changed"
        text = (f"{self.files_changing} sidecar(s) {verb}: {self.fields_changing} field(s), "
                f"{self.standard_fields_changing} of them ratings, labels, captions or flags")
        if self.skipped:
            text += f"; {len(self.skipped)} skipped"
        if self.errors:
            text += f"; {len(self.errors)} could not be written"
        return text

    def describe(self) -> str:
        lines = [f"policy: {self.policy.describe()}", self.headline()]
        lines += [c.describe() for c in self.changes]
        lines += [f"note: {Path(p).name}: {n}" for p, n in self.notes.items()]
        lines += [f"error: {e}" for e in self.errors.values()]
        return "\n".join(lines)


def _wanted(frame: FrameSummary) -> bool:
    return frame.reviewed or frame.flag != "none" or frame.user_stars is not None


def export_sidecars(summary: ReviewSummary, convention: Convention | str, *, dry_run: bool = False,
                    policy: WritePolicy = PHOTOGRAPHER, store: Store | None = None,
                    review_id: str | None = None) -> ExportResult:
    """Write (or, with ``dry_run``, only plan) one sidecar per frame that was reviewed or culled.

    A real write needs the ``store``: it records every value written and each sidecar's backup, so
    the values are never read back as the photographer's and :func:`undo_last_write` can restore them.
    """
    convention = Convention(convention)
    if not dry_run and store is None:
        raise ValueError("writing sidecars needs the history database (the record of what Mondrian wrote)")
    out = ExportResult(policy=policy)
    backups: Path | None = None
    for frame in summary.frames:
        if not _wanted(frame):
            continue
        try:
            written = store.sidecar_writes.mondrian_values(str(sidecar_path(frame.path, convention))) if store else {}
            user = {}
            if policy.fields:  # read again now: Lightroom may have written since the folder was opened
                user = read_user_metadata(frame.path, store.sidecar_writes.mondrian_values if store else None).to_dict()
            plan = plan_sidecar(frame.path, frame_update(frame), convention=convention, policy=policy,
                                written=written, user=user)
            plan.change.dry_run = dry_run
            if plan.state is not None and plan.state.read_only and plan.new is not None:
                plan.change.skipped = "read-only, left as it is"
            out.changes.append(plan.change)
            if dry_run or plan.new is None or plan.change.skipped:
                pass
            else:
                assert store is not None
                if out.batch_id is None:
                    out.batch_id = store.sidecar_writes.begin_sidecar_batch(review_id, {**policy.to_dict(), "convention": convention})
                    backups = backup_root() / out.batch_id
                assert backups is not None
                done = commit_plan(plan, backups, len(out.changes))
                if done is not None:
                    store.sidecar_writes.record_sidecar_write(_row(out.batch_id, done))
        except SidecarError as exc:
            out.errors[frame.path] = str(exc)
            continue
        note = sidecar_note(frame.path, convention)
        if note:
            out.notes[frame.path] = note
    return out


def _row(batch_id: str, done: WrittenFile) -> SidecarFileRow:
    return SidecarFileRow(batch_id=batch_id, path=done.path, photo=done.photo, created=done.created,
                          backup=done.backup, hash_before=done.hash_before, mode_before=done.mode_before,
                          hash_after=done.hash_after, mtime_after_ns=done.mtime_after_ns, values=done.values)


@dataclass
class UndoResult:
    batch_id: str | None
    restored: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # each names the file and why

    def describe(self) -> str:
        if self.batch_id is None:
            return "no sidecar write to undo"
        lines = [f"{len(self.restored)} sidecar(s) restored" + (
            f", {len(self.refused)} refused" if self.refused else "")]
        lines += [f"  restored {p}" for p in self.restored] + [f"  refused {r}" for r in self.refused]
        return "\n".join(lines)


def undo_last_write(store: Store, review_id: str | None = None) -> UndoResult:
    """Restore the sidecars of the newest write (of ``review_id`` when given) to their exact bytes;
    a sidecar changed since Mondrian wrote it is refused and named."""
    batch = store.sidecar_writes.last_sidecar_batch(review_id)
    if batch is None:
        return UndoResult(None)
    result = UndoResult(batch.id)
    outcomes: dict[str, str] = {}
    for f in batch.files:
        if f.undo != "kept":
            continue
        why = undo_file(WrittenFile(f.path, f.photo, f.created, f.backup, f.hash_before, f.mode_before,
                                    f.hash_after, f.mtime_after_ns, f.values))
        if why is None:
            result.restored.append(f.path)
            outcomes[f.path] = "restored"
        else:
            result.refused.append(why)
            outcomes[f.path] = "refused"
    store.sidecar_writes.finish_sidecar_undo(batch.id, outcomes)
    return result


def export_dir(review_id: str) -> Path:
    """Where a review's CSV and keyword list go (the data folder: only sidecars go beside the photos)."""
    return paths.ensure_private_dir(paths.data_dir() / "reviews" / review_id)


def write_csv(summary: ReviewSummary, dest: Path) -> Path:
    """One row per frame: file, grade, score, stars, flag, keywords (``;``-separated), problems, burst,
    summary, and the rating / label / flag / caption found in the frame's files."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "companions", "grade", "overall", "stars", "flag", "keywords", "problems", "burst",
                     "best_in_burst", "summary", "file_rating", "file_label", "file_flag", "file_caption",
                     "score_stage"])
    for f in summary.frames:
        meta = f.file_meta
        writer.writerow([f.path, ";".join(f.companions), f.grade or "", "" if f.overall is None else f.overall,
                         f.stars, f.flag, ";".join(frame_keywords(f)), ";".join(p.kind for p in f.problems),
                         "" if f.burst is None else f.burst, "yes" if f.best_in_burst else "", f.summary,
                         "" if meta is None or meta.rating is None else meta.rating,
                         (meta.label if meta else None) or "", (meta.flag if meta else None) or "",
                         (meta.caption if meta else None) or "", f.stage or ""])
    atomic.write_text(dest, buffer.getvalue())
    return dest


def write_keyword_list(summary: ReviewSummary, dest: Path) -> Path:
    """The keywords as a Lightroom keyword-list file (Metadata > Import Keywords: tab-indented hierarchy)."""
    words = sorted({w for f in summary.frames for w in frame_keywords(f)})
    atomic.write_text(dest, "Mondrian\n" + "".join(f"\t{w}\n" for w in words))
    return dest
