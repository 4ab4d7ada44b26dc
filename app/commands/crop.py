"""``crop JOB_ID [--aspect 4:5] [--export PATH] [--critique]``: the advisor's suggested crop.

The box is printed in the original photo's pixels with the model's reason; ``--export`` writes
the crop as a new file (at PATH, in the folder PATH, or beside the original when no PATH is given;
never over an existing file) and ``--critique`` critiques that file as a new job.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from app.commands.conversing import add_job_arguments
    from app.engine.conversation.crop import ASPECTS

    p = sub.add_parser("crop", help="ask the advisor for a crop of a critiqued photo; export and re-critique it")
    add_job_arguments(p)
    p.add_argument("--aspect", default=None, choices=list(ASPECTS), help="the crop's aspect ratio (width:height)")
    p.add_argument("--export", nargs="?", const="", default=None, metavar="PATH",
                   help="write the crop as a new file: PATH (a new file or a folder), or beside the original")
    p.add_argument("--critique", action="store_true", help="critique the exported crop (implies --export)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 with a crop; 1 when the model's box is unusable or the export fails; 2 for an unknown
    job or a model that is not here."""
    from app.commands.conversing import cli_words, open_job
    from app.commands.exits import cannot_run, cannot_run_errors
    from app.engine.conversation.context import ConversationError
    from app.engine.conversation.crop import CropError
    from app.engine.critique.export import to_text
    from app.engine.photos.decode import ImageLoadError

    opened = open_job(args)
    if isinstance(opened, int):
        return opened
    service, talk, job_id = opened
    try:
        try:
            answer = talk.suggest_crop(job_id, args.aspect, photo=args.photo)
        except cannot_run_errors() as exc:
            return cannot_run(str(exc), args.json, job_id=job_id)
        except (ConversationError, CropError, ImageLoadError) as exc:
            print(f"error: {cli_words(exc)}", file=sys.stderr)
            return 1
        crop = answer.crop
        assert crop is not None
        out: dict[str, object] = {"job_id": answer.turn.job_id, **crop.to_dict()}
        if args.export is not None or args.critique:
            try:
                path = talk.export_crop(answer.turn.job_id, crop, Path(args.export) if args.export else None,
                                        photo=args.photo)
            except (CropError, ImageLoadError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            out["exported"] = str(path)
            if args.critique:
                result = talk.recritique(service.store.jobs.get_job(answer.turn.job_id), path)  # type: ignore[union-attr]
                out["critique"] = result.to_dict() if args.json else None
                out["critique_job_id"] = result.job_id
                if not args.json:
                    print(to_text(result) + "\n")
        if args.json:
            print(json.dumps(out, ensure_ascii=False))
        else:
            x0, y0, x1, y1 = crop.box
            w, h = crop.original_size
            print(f"Crop: x {x0}-{x1}, y {y0}-{y1} of the {w}x{h} photo ({x1 - x0}x{y1 - y0} px"
                  + (f", {crop.aspect}" if crop.aspect else "") + ")")
            if crop.reason:
                print(f"Why: {crop.reason}")
            for note in crop.adjustments:
                print(f"note: {note}", file=sys.stderr)
            if "exported" in out:
                print(f"Exported: {out['exported']}")
        return 0
    finally:
        service.close()
