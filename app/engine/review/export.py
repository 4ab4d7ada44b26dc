"""Handing a review to Lightroom, Capture One or darktable: XMP sidecars, and a CSV + keyword list.

Per frame (the file critiqued, i.e. the RAW of a RAW+JPEG pair), through
:func:`app.engine.sidecars.write_sidecar` (merged, atomic, the photo never touched):

* ``xmp:Rating``: the user's stars, else the score's stars (:mod:`app.engine.review.grading`);
  a reject is -1;
* the pick flag (the user's pick / reject);
* ``xmp:Label``: ``Green`` for the best frame of a burst, ``Red`` for a frame with a technical
  problem (otherwise the label is left as it was);
* keywords (under ``Mondrian|`` in the hierarchy): ``Mondrian grade B+``, ``Mondrian blur``,
  ``Mondrian burst 2``, ``Mondrian best of burst``;
* ``dc:description``: the critique's summary.

Lightroom reads only the embedded XMP of JPEG/HEIC/TIFF/PNG/DNG files, which Mondrian never
writes: :func:`app.engine.sidecars.sidecar_note` says so per file, and :func:`write_csv` /
:func:`write_keyword_list` give those frames' ratings and keywords in a form it can import.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from app.engine import atomic, paths
from app.engine.review.summary import FrameSummary, ReviewSummary
from app.engine.sidecars import (
    Convention,
    SidecarChange,
    SidecarError,
    SidecarUpdate,
    sidecar_note,
    write_sidecar,
)

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


def frame_update(frame: FrameSummary) -> SidecarUpdate:
    """What the sidecar of ``frame`` gets."""
    label = "Green" if frame.best_in_burst else ("Red" if frame.problems else None)
    pick: Literal["pick", "reject"] | None = "pick" if frame.flag == "pick" else (
        "reject" if frame.flag == "reject" else None)
    rating = -1 if frame.flag == "reject" else (frame.stars if frame.reviewed or frame.user_stars is not None else None)
    return SidecarUpdate(rating=rating, label=label, pick=pick, keywords=frame_keywords(frame),
                         description=frame.summary or None)


@dataclass
class ExportResult:
    changes: list[SidecarChange] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # photo -> why its tool will not read the sidecar
    errors: dict[str, str] = field(default_factory=dict)  # photo -> the sidecar problem (nothing written)

    def describe(self) -> str:
        lines = [c.describe() for c in self.changes]
        lines += [f"note: {Path(p).name}: {n}" for p, n in self.notes.items()]
        lines += [f"error: {e}" for e in self.errors.values()]
        return "\n".join(lines)


def export_sidecars(summary: ReviewSummary, convention: Convention | str, *, dry_run: bool = False) -> ExportResult:
    """Write (or, with ``dry_run``, only plan) one sidecar per frame that was reviewed or culled."""
    convention = Convention(convention)
    out = ExportResult()
    for frame in summary.frames:
        if not frame.reviewed and frame.flag == "none" and frame.user_stars is None:
            continue
        try:
            out.changes.append(write_sidecar(frame.path, frame_update(frame), convention=convention, dry_run=dry_run))
        except SidecarError as exc:
            out.errors[frame.path] = str(exc)
            continue
        note = sidecar_note(frame.path, convention)
        if note:
            out.notes[frame.path] = note
    return out


def export_dir(review_id: str) -> Path:
    """Where a review's CSV and keyword list go (the data folder: only sidecars go beside the photos)."""
    return paths.ensure_private_dir(paths.data_dir() / "reviews" / review_id)


def write_csv(summary: ReviewSummary, dest: Path) -> Path:
    """One row per frame: file, grade, score, stars, flag, keywords (``;``-separated), problems, burst, summary."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "companions", "grade", "overall", "stars", "flag", "keywords", "problems", "burst",
                     "best_in_burst", "summary"])
    for f in summary.frames:
        writer.writerow([f.path, ";".join(f.companions), f.grade or "", "" if f.overall is None else f.overall,
                         f.stars, f.flag, ";".join(frame_keywords(f)), ";".join(p.kind for p in f.problems),
                         "" if f.burst is None else f.burst, "yes" if f.best_in_burst else "", f.summary])
    atomic.write_text(dest, buffer.getvalue())
    return dest


def write_keyword_list(summary: ReviewSummary, dest: Path) -> Path:
    """The keywords as a Lightroom keyword-list file (Metadata > Import Keywords: tab-indented hierarchy)."""
    words = sorted({w for f in summary.frames for w in frame_keywords(f)})
    atomic.write_text(dest, "Mondrian\n" + "".join(f"\t{w}\n" for w in words))
    return dest
