"""``mondrian train prepare``: a portfolio folder -> the advisor's training dataset.

    mondrian train prepare --advisor ID --portfolio DIR [--targets FILE] [--draft]
        [--augment N] [--val-fraction 0.2] [--seed S] [--no-crop] [--no-flip] [--no-exposure]
        [--no-rotate] [--exclude-rejected] [--export-jsonl DIR] [--json | --jsonl]

Steps: scan the folder (every format the engine reads; unreadable files are listed and skipped),
pick each photo's target (see :mod:`training.targets` for the order), read star ratings
(:mod:`training.xmp`) and calibrate drafts with them, split train/validation by photo content,
add seeded augmented copies to the training split, and save the dataset
(:mod:`training.dataset`). Each example's user turn is built by the engine's prompt builder
from the measured facts of the very image in that example, exactly as inference does
(``settings.grounding``), so the adapter is trained on the prompt it will see.

Exit codes: 0 saved (or drafted, with ``--draft-only``), 2 bad input or no usable photo.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from app.engine import paths
from app.engine.advisors import Advisor, AdvisorError, UnknownAdvisorError, get_advisor, save_user_advisor
from app.engine.critique.prompts import critique_prompt
from app.engine.photos.prepare import PreparedPhoto, prepare_image
from app.engine.settings import Settings, load_settings

from . import diskspace
from .augment import AugmentOptions, augment, copy_rng
from .common import EXIT_OK, CommandError, JsonLines, reported, run_main, setup
from .console import Console, Ticker, progress_stream
from .dataset import TRAIN, VALIDATION, Row, dataset_dir, export_jsonl, save_dataset, split_photos
from .portfolio import Emit, Photo, _nothing, resolve_targets, scan_portfolio
from .targets import (
    DRAFT,
    EDITED,
    TARGETS,
    Target,
    TargetsFileError,
    calibrate,
    load_targets_file,
    normalize_report,
)


@dataclass
class PrepareOptions:
    advisor_id: str
    portfolio: Path
    targets: Path | None = None
    draft: bool = False
    draft_only: bool = False
    augment: int = 0
    augment_options: AugmentOptions = field(default_factory=AugmentOptions)
    val_fraction: float = 0.2
    seed: int = 0
    exclude_rejected: bool = False
    recursive: bool = True
    model: str | None = None  # for drafts; default settings.model
    export_jsonl: Path | None = None


@dataclass
class PrepareResult:
    advisor_id: str
    path: Path | None
    hash: str
    counts: dict[str, int]
    sources: dict[str, int]
    skipped: list[dict[str, str]]
    warnings: list[str]
    drafted: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"advisor_id": self.advisor_id, "path": str(self.path) if self.path else None, "hash": self.hash,
                "counts": self.counts, "sources": self.sources, "skipped": self.skipped,
                "warnings": self.warnings, "drafted": self.drafted}


def _prepare(image: Image.Image, settings: Settings, photo: Photo) -> PreparedPhoto:
    """The model image and grounding facts inference would make from this photo (engine.photos.prepare)."""
    return prepare_image(image, settings, shooting=photo.shooting)


def make_drafts(photos: list[Photo], advisor: Advisor, settings: Settings, *, emit: Emit = _nothing,
                skipped: list[dict[str, str]]) -> list[str]:
    """The engine's ``draft_profile`` (base model, RAG's pass 1) for photos without a target; saved to
    the database for review."""
    if not photos:
        return []
    from app.engine.model import source as model_source

    if not model_source.is_model_available(settings.model):
        raise CommandError("--draft needs the base model: " + model_source.missing_model_message(settings.model))
    from app.engine.model.host import ModelHost
    from app.engine.rag.draft import draft_profile
    from app.engine.store.database import open_default_store

    host = ModelHost(settings.model)
    drafted: list[str] = []
    try:
        with open_default_store() as store:
            for photo in Ticker(emit, "drafts", len(photos)).each(photos, lambda p: p.relative):
                try:
                    outcome = draft_profile(host, settings, _prepare(photo.image, settings, photo))
                except (ValueError, RuntimeError) as exc:
                    skipped.append({"file": photo.relative, "reason": f"draft failed: {exc}"})
                    emit("skipped", file=photo.relative, reason=f"draft failed: {exc}")
                    continue
                if outcome.report is None:
                    reason = "draft failed: " + "; ".join(outcome.problems)
                    skipped.append({"file": photo.relative, "reason": reason})
                    emit("skipped", file=photo.relative, reason=reason)
                    continue
                store.profiles.upsert_profile(advisor.id, str(photo.path.resolve()), photo.sha256, outcome.report,
                                     source="model", edited=False)
                try:
                    report = normalize_report(outcome.report.to_dict(), where=f"draft of {photo.relative}",
                                              max_text_chars=settings.max_text_chars)
                except ValueError as exc:
                    skipped.append({"file": photo.relative, "reason": f"draft incomplete: {exc}"})
                    continue
                photo.target = Target(report=report, source=DRAFT, origin="draft (base model, not reviewed)")
                drafted.append(photo.relative)
                emit("drafted", file=photo.relative)
    finally:
        host.shutdown()
    return drafted


# ---------------------------------------------------------------------------- rows

def build_rows(photos: list[Photo], advisor: Advisor, settings: Settings, opts: PrepareOptions,
               skipped: list[dict[str, str]], emit: Emit = _nothing) -> dict[str, list[Row]]:
    """Split by photo, then make the rows: originals for both splits, augmented copies for train."""
    train_keys, _val_keys = split_photos([p.sha256 for p in photos], opts.val_fraction, opts.seed)
    train_set = set(train_keys)
    splits: dict[str, list[Row]] = {TRAIN: [], VALIDATION: []}
    for photo in Ticker(emit, "dataset rows", len(photos)).each(photos, lambda p: p.relative):
        assert photo.target is not None
        split = TRAIN if photo.sha256 in train_set else VALIDATION
        variants: list[tuple[Image.Image, str]] = [(photo.image, "original")]
        if split == TRAIN and opts.augment > 0 and opts.augment_options.any:
            for i in range(opts.augment):
                variants.append(augment(photo.image, copy_rng(opts.seed, photo.sha256, i), opts.augment_options))
        rows = []
        try:
            for image, how in variants:
                prepared = _prepare(image, settings, photo)
                prompt = critique_prompt(advisor, facts=prepared.facts)
                rows.append(Row(messages=prompt.training_messages(photo.target.report), image=prepared.image,
                                photo=photo.relative, photo_sha256=photo.sha256, augmentation=how,
                                target_source=photo.target.source,
                                rating=photo.rating.stars if photo.rating else 0))
        except ValueError as exc:  # the measurements refuse photos too small to measure
            skipped.append({"file": photo.relative, "reason": f"cannot be measured for the prompt ({exc})"})
            continue
        splits[split].extend(rows)
    return splits


# ---------------------------------------------------------------------------- the command

def _advisor(advisor_id: str, name: str | None) -> Advisor:
    """The advisor to train; a new id creates a personal advisor (named after the id unless
    --advisor-name says otherwise), and says so on stderr."""
    try:
        return get_advisor(advisor_id)
    except UnknownAdvisorError:
        pass
    except AdvisorError as exc:
        raise CommandError(str(exc)) from None
    display = name or advisor_id.replace("_", " ").replace("-", " ").strip().title() or advisor_id
    advisor = Advisor(id=advisor_id, name=display, bio=f"{display}'s own eye, learned from their portfolio.")
    with diskspace.writing(paths.data_dir() / "advisors", 4096, "the new personal advisor"):
        save_user_advisor(advisor)
    print(f"note: created the personal advisor '{advisor_id}' (\"{display}\")"
          + ("" if name else "; give it another display name with --advisor-name"), file=sys.stderr)
    return get_advisor(advisor_id)


def prepare(opts: PrepareOptions, *, settings: Settings | None = None, emit: Emit = _nothing,
            advisor_name: str | None = None) -> PrepareResult:
    """The whole preparation; raises :class:`CommandError` for bad input."""
    settings = settings or load_settings()
    if opts.model:
        settings.model = opts.model
    if not 0 <= opts.val_fraction < 1:
        raise CommandError(f"--val-fraction must be at least 0 and below 1, not {opts.val_fraction}")
    if opts.augment < 0:
        raise CommandError(f"--augment must be 0 or more, not {opts.augment}")
    advisor = _advisor(opts.advisor_id, advisor_name)
    targets = None
    if opts.targets is not None:
        try:
            targets = load_targets_file(opts.targets, max_text_chars=settings.max_text_chars)
        except TargetsFileError as exc:
            raise CommandError(f"targets file {exc}") from None
    photos, skipped, warnings = scan_portfolio(opts.portfolio, settings.max_image_edge, recursive=opts.recursive,
                                               emit=emit)
    if targets is not None:
        warnings.extend(targets.notes)
    if not photos:
        raise CommandError(f"no readable photos in {opts.portfolio}" + (f" ({len(skipped)} skipped)" if skipped else ""))
    # Before drafting (minutes on the model): can the dataset be written at all?
    rough = rough_dataset_bytes(photos, settings, opts)
    with diskspace.writing(paths.data_dir() / "datasets", rough, "the dataset"):
        diskspace.check_writable(dataset_dir(advisor.id).parent, rough, "the dataset", space=False)
    if opts.exclude_rejected:
        for p in [p for p in photos if p.rating and p.rating.rejected]:
            source = p.rating.source if p.rating else "?"
            skipped.append({"file": p.relative, "reason": f"rejected in {source}"})
            photos.remove(p)
    missing = resolve_targets(photos, advisor.id, targets, use_drafts=opts.draft,
                              max_chars=settings.max_text_chars, warnings=warnings)
    drafted: list[str] = []
    if opts.draft:
        with diskspace.writing(paths.data_dir(), len(missing) * (16 << 10), "the draft profiles (database)"):
            drafted = make_drafts(missing, advisor, settings, emit=emit, skipped=skipped)
    for photo in photos:
        if photo.target is None and not any(s["file"] == photo.relative for s in skipped):
            skipped.append({"file": photo.relative,
                            "reason": "no target: add it to --targets, edit its draft, or pass --draft"})
    usable = [p for p in photos if p.target is not None]
    for photo in usable:
        assert photo.target is not None
        photo.target = calibrate(photo.target, photo.rating.stars if photo.rating else None)
        warnings.extend(f"{photo.relative}: {note}" for note in photo.target.notes)
    sources = {s: sum(1 for p in usable if p.target and p.target.source == s) for s in (EDITED, TARGETS, DRAFT)}
    if opts.draft_only:
        return PrepareResult(advisor.id, None, "", {"photos": len(usable)}, sources, skipped, warnings, drafted)
    if not usable:
        raise CommandError(f"none of the {len(photos)} readable photos has a target; give --targets FILE or --draft")
    splits = build_rows(usable, advisor, settings, opts, skipped, emit)
    if not splits[TRAIN]:
        raise CommandError("no photo is left for training")
    counts = {"photos": len({r.photo_sha256 for s in splits.values() for r in s}),
              "train_photos": len({r.photo_sha256 for r in splits[TRAIN]}),
              "validation_photos": len({r.photo_sha256 for r in splits[VALIDATION]})}
    meta = {"portfolio": str(opts.portfolio), "seed": opts.seed, "val_fraction": opts.val_fraction,
            "augment": opts.augment, "augment_options": opts.augment_options.to_dict(),
            "grounding": settings.grounding, "max_image_edge": settings.max_image_edge,
            "max_text_chars": settings.max_text_chars, "counts": counts, "sources": sources,
            "skipped": skipped, "warnings": warnings, "drafted": drafted,
            "targets_file": str(opts.targets) if opts.targets else None}
    path, content_hash = save_dataset(advisor.id, splits, meta)
    if opts.export_jsonl is not None:
        with diskspace.writing(opts.export_jsonl, diskspace.tree_bytes(path), "the JSON-lines export"):
            export_jsonl(advisor.id, opts.export_jsonl)
    counts = {**counts, TRAIN: len(splits[TRAIN]), VALIDATION: len(splits[VALIDATION])}
    result = PrepareResult(advisor.id, path, content_hash, counts, sources, skipped, warnings, drafted)
    emit("saved", **result.to_dict())
    return result


def rough_dataset_bytes(photos: list[Photo], settings: Settings, opts: PrepareOptions) -> int:
    """At most what the dataset's images take (raw RGB at the model's size; PNG is smaller), all copies."""
    total = 0
    copies = 1 + (opts.augment if opts.augment_options.any else 0)
    for photo in photos:
        w, h = photo.image.size
        scale = min(1.0, settings.max_image_edge / max(w, h, 1))
        total += int(w * scale) * int(h * scale) * 3 * copies
    return total + (64 << 10)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mondrian train prepare",
                                description="Build an advisor's training dataset from a folder of photos.")
    p.add_argument("--advisor", required=True, help="advisor id (a personal advisor: see --advisor-name)")
    p.add_argument("--advisor-name", help="display name of a new personal advisor (default: from the id)")
    p.add_argument("--portfolio", required=True, type=Path, help="folder of photos (searched recursively)")
    p.add_argument("--no-recursive", dest="recursive", action="store_false", help="only the folder itself")
    p.add_argument("--targets", type=Path, help="JSON or CSV of scores/comments per file name")
    p.add_argument("--draft", action="store_true",
                   help="use base-model draft profiles for photos without a better target (drafting the "
                        "missing ones and saving them to the database for review)")
    p.add_argument("--draft-only", action="store_true", help="with --draft: make the drafts, build no dataset")
    p.add_argument("--model", help="model for --draft (default: settings)")
    p.add_argument("--augment", type=int, default=0, metavar="N", help="augmented copies per training photo")
    for name, what in (("crop", "random 90-100%% crop"), ("flip", "horizontal flip"),
                       ("exposure", "exposure +-0.2 EV"), ("rotate", "rotation +-5 degrees")):
        p.add_argument(f"--no-{name}", dest=name, action="store_false", help=f"augment without the {what}")
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of photos held out (default 0.2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exclude-rejected", action="store_true", help="leave out photos rated -1 (rejected)")
    p.add_argument("--export-jsonl", type=Path, metavar="DIR",
                   help="also write train.jsonl/validation.jsonl + images/ for python -m mlx_vlm.train")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the summary as JSON")
    out.add_argument("--jsonl", action="store_true", help="print progress events as JSON lines")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _print_summary(result: PrepareResult) -> None:
    c, s = result.counts, result.sources
    if result.path is None:
        print(f"Drafted {len(result.drafted)} profile(s) for advisor {result.advisor_id!r}; review them, "
              f"then run again without --draft-only.")
    else:
        print(f"Dataset for advisor {result.advisor_id!r} -> {result.path}")
        print(f"  train: {c.get('train_photos', 0)} photos, {c.get(TRAIN, 0)} rows; "
              f"validation: {c.get('validation_photos', 0)} photos, {c.get(VALIDATION, 0)} rows")
        print(f"  targets: {s[EDITED]} edited, {s[TARGETS]} from the targets file, {s[DRAFT]} drafts")
        print(f"  hash: {result.hash[:16]}")
    if result.skipped:
        print(f"Skipped {len(result.skipped)} file(s):")
        for item in result.skipped:
            print(f"  {item['file']}: {item['reason']}")
    for w in result.warnings:
        print(f"warning: {w}")


def main(argv: Sequence[str] | None = None) -> int:
    with paths.private_umask():  # everything written goes into the data folder, which is private
        return _parse_and_run(argv)


def _parse_and_run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args.verbose)
    # Progress: JSON lines with --jsonl or when stdout is not a terminal (and no --json summary);
    # on a terminal, bars with an ETA on stderr, then the summary.
    stream = None if args.json else progress_stream(args.jsonl)
    lines = JsonLines(stream) if stream is not None else None
    with reported(lines if stream is sys.stdout else None):
        return _main(args, lines)


def _main(args: argparse.Namespace, lines: JsonLines | None) -> int:
    if args.draft_only and not args.draft:
        raise CommandError("--draft-only needs --draft")
    opts = PrepareOptions(
        advisor_id=args.advisor, portfolio=args.portfolio, targets=args.targets, draft=args.draft,
        draft_only=args.draft_only, augment=args.augment,
        augment_options=AugmentOptions(crop=args.crop, flip=args.flip, exposure=args.exposure, rotate=args.rotate),
        val_fraction=args.val_fraction, seed=args.seed, exclude_rejected=args.exclude_rejected,
        recursive=args.recursive, model=args.model, export_jsonl=args.export_jsonl)
    emit = lines.emit if lines is not None else _nothing
    result = prepare(opts, emit=emit, advisor_name=args.advisor_name)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        console = lines.stream if lines is not None else None
        if isinstance(console, Console):
            console.close()
        if lines is None or isinstance(console, Console):
            _print_summary(result)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(main))
