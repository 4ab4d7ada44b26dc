"""``export JOB --format md|pdf|json [-o FILE]``: a stored critique (and its conversation) as a file.

Markdown and JSON come from the engine's renderers (the same the window's File > Export uses) and
go to stdout without ``-o``; the PDF is the window's page (photo, radar chart, scores, measured
facts, conversation), rendered by Qt without a window, so it needs ``-o`` or is written as
``<photo>-<job>.pdf`` in the current folder. Files are written atomically, never over a photo.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

FORMATS = ("md", "pdf", "json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a stored critique as Markdown, PDF or JSON (see `history`)")
    p.add_argument("job", metavar="JOB_ID", help="the job id (or its first characters, as `history` shows)")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="md, pdf or json (default: from -o's suffix, else md)")
    p.add_argument("-o", "--output", default=None, metavar="FILE", help="where to write (default: stdout for md "
                   "and json, <photo>-<job>.pdf for pdf)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.commands.exits import cannot_run
    from app.engine import atomic
    from app.engine.critique.result import CritiqueResult
    from app.engine.store.database import open_default_store
    from app.engine.store.rows import JobNotFoundError

    fmt = args.format or (Path(args.output).suffix.lower().lstrip(".") if args.output else "md")
    fmt = {"markdown": "md"}.get(fmt, fmt)
    if fmt not in FORMATS:
        return cannot_run(f"{args.output}: unknown export format {fmt!r}; use --format md, pdf or json", False)
    store = open_default_store()
    try:
        try:
            job = store.jobs.get_job(store.jobs.resolve_job_id(args.job))
        except JobNotFoundError as exc:
            return cannot_run(f"{exc} (see `mondrian history`)", False)
        result = CritiqueResult.from_job(job)
        turns = store.conversations.list_turns(job.id)
    finally:
        store.close()
    out = Path(args.output).expanduser() if args.output else None
    if out is not None and out.exists() and out.resolve() == Path(job.photo_path).resolve():
        return cannot_run(f"{out} is the photo itself; choose another file name", False)
    if fmt == "pdf":
        if out is None:
            out = Path(f"{Path(job.photo_path).stem}-{job.id[:8]}.pdf")
        _write_pdf(result, out, _same_photo(job.photo_path, job.photo_hash), turns)
        print(f"Exported {out}")
        return 0
    if fmt == "md":
        from app.engine.critique.export import to_markdown

        text = to_markdown(result, turns)
    else:
        data = {**result.to_dict(), "conversation": [t.to_dict() for t in turns]}
        text = json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
    if out is None:
        sys.stdout.write(text)
        return 0
    atomic.write_text(out, text)
    print(f"Exported {out}", file=sys.stderr)
    return 0


def _same_photo(path: str, digest: str | None) -> str | None:
    """The job's photo file when it is still the photo critiqued (else the PDF goes without it)."""
    from app.engine.photos.files import file_sha256

    if not Path(path).is_file():
        return None
    return path if not digest or file_sha256(path) == digest else None


def _write_pdf(result: object, out: Path, photo: str | None, turns: list) -> None:
    """The window's PDF page, rendered by Qt off screen (no display needed)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a page, no window: no display needed
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    from app.ui.critique.exporting import write_pdf

    app = QApplication.instance() or QApplication(["mondrian"])  # the radar chart is a widget
    image = QImage(photo) if photo else None
    write_pdf(result, out, image, turns)  # type: ignore[arg-type]
    del app
