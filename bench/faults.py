"""Replay fault cases and print a table: case, tried, held (issue 11).

    .venv/bin/python bench/faults.py [--jobs 10000]

Sections: settings (bad values at load and on the command line), database (one overwritten
page, recovery, the cost of the integrity check on a --jobs database), files (modes, the
reference index never hard-linking nor following links out of the folder), http (the local API's
attacks and faults against `serve` in its own process: bench/faults_http.py), training (full and
read-only disks, kill -9 inside a publish and the dataset swap, broken `active` pointers, bad
settings, against the training commands in their own processes: bench/faults_training.py), review
(folder reviews against `serve`: /health during scans of a 20 GB sparse file, /usr recursive and
5,000 files, cancel while scanning, /reviews' JSON, non-UTF-8 names, two reviews of one folder,
an unreadable folder, a 13000 px 16-bit PNG: bench/faults_review.py). `--root`
another checkout to compare (http and training). Everything runs in a throwaway MONDRIAN_HOME.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import sqlite3
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["MONDRIAN_HOME"] = tempfile.mkdtemp(prefix="mondrian-faults-")

Row = tuple[str, str, bool]


def _cli(argv: list[str]) -> tuple[int, str]:
    from app import cli

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, err.getvalue()


def settings_section(_args: argparse.Namespace) -> list[Row]:
    from app.engine.settings import settings_path

    rows: list[Row] = []
    cases = [("max_image_edge", 0), ("temperature", -1), ("temperature", float("nan")), ("max_text_chars", -1),
             ("model", 5), ("max_tokens", "many"), ("model", "m" * (60 << 20))]
    for key, value in cases:
        text = json.dumps({key: value})
        settings_path().write_text(text)
        code, err = _cli(["critique", "/nonexistent.jpg"])
        held = code == 2 and f"'{key}'" in err and "allowed" in err and "Traceback" not in err \
            and settings_path().read_text() == text
        shown = repr(value) if len(repr(value)) < 20 else f"{len(value):,}-character string"
        rows.append((f"settings {key} = {shown}", "critique: exit 2, key+range named, file kept", held))
    settings_path().unlink()
    settings_path().mkdir()
    code, err = _cli(["critique", "/nonexistent.jpg"])
    rows.append(("settings.json is a folder", "critique: exit 2 naming it", code == 2 and "folder" in err))
    settings_path().rmdir()
    code, err = _cli(["serve", "--max_upload_mb", "nan"])
    rows.append(("serve --max_upload_mb nan", "exit 2 with the allowed range", code == 2 and "above 0" in err))
    return rows


def _fill(path: Path, jobs: int, text_chars: int) -> None:
    from app.engine.critique.report import DIMENSIONS, DimensionScore, Report
    from app.engine.store.database import Store

    rnd = random.Random(0)
    words = "light shadow line frame edge tone grain depth".split()

    def text(n: int) -> str:
        out = ""
        while len(out) < n:
            out += rnd.choice(words) + " "
        return out[:n]

    with Store(path) as store:
        for i in range(jobs):
            report = Report(dimensions={d: DimensionScore(6, text(text_chars), text(text_chars)) for d in DIMENSIONS},
                            summary=text(text_chars))
            job = store.jobs.create_job(f"/photos/{i}.jpg", "ansel", "auto")
            store.jobs._update_job(job.id, status="completed", report_json=report.to_json(), raw_output=report.to_json())
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def database_section(args: argparse.Namespace) -> list[Row]:
    from app.engine.store.database import DatabaseDamagedError, Store
    from app.engine.store.health import check_integrity
    from app.engine.store.recovery import recover_database

    work = Path(tempfile.mkdtemp(prefix="mondrian-db-"))
    rows: list[Row] = []
    big = work / "big.db"
    _fill(big, args.jobs, 350)
    costs = []
    for _ in range(3):
        conn = sqlite3.connect(big)
        start = time.perf_counter()
        check_integrity(conn)
        costs.append(time.perf_counter() - start)
        conn.close()
    ms = min(costs) * 1000
    start = time.perf_counter()
    with Store(big, check=True) as store:
        opened = (time.perf_counter() - start) * 1000
        store.db.health.join()
    rows.append((f"quick_check on {args.jobs:,} jobs ({big.stat().st_size / 1e6:.0f} MB): {ms:.0f} ms",
                 f"runs in the background: open took {opened:.0f} ms", opened < 100))

    path = work / "m.db"
    _fill(path, 300, 120)
    conn = sqlite3.connect(path)
    pages, size = conn.execute("PRAGMA page_count").fetchone()[0], conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as handle:
        handle.seek((pages // 2 - 1) * size)
        handle.write(random.Random(1).randbytes(size))
    before = path.read_bytes()
    store = Store(path)
    try:
        store.jobs.create_job("/new.jpg", "ansel", "auto")
        refused, copy = False, None
    except DatabaseDamagedError as exc:
        refused, copy = True, exc.copy
    store.close()
    rows.append(("one overwritten page (header intact)", "noticed, write refused, file unchanged",
                 refused and path.read_bytes() == before))
    rows.append(("damaged file", "byte-identical copy kept", bool(copy) and copy.read_bytes() == before))
    report = recover_database(path)
    with Store(path) as again:
        again.jobs.create_job("/after.jpg", "ansel", "auto")
    rows.append((f"recover ({report.method})", f"{report.rows.get('jobs', 0)}/300 jobs back, sound, writable",
                 report.rows.get("jobs", 0) >= 290))
    shutil.rmtree(work, ignore_errors=True)
    return rows


def files_section(_args: argparse.Namespace) -> list[Row]:
    from PIL import Image

    from app.engine import paths
    from app.engine.rag.index import import_folder, import_subfolder
    from app.engine.store.database import Store

    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="mondrian-files-"))
    old = os.umask(0)
    try:
        os.environ["MONDRIAN_HOME"] = str(work / "home")
        data = paths.data_dir()
        with Store(paths.db_path()) as store:
            store.jobs.create_job("/p.jpg", "ansel", "auto")
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.glob("mondrian.db*")}
    finally:
        os.umask(old)
    rows.append(("data folder under umask 0", "0700", stat.S_IMODE(data.stat().st_mode) == 0o700))
    rows.append(("database + WAL under umask 0", "0600 " + ",".join(f"{m:o}" for m in modes.values()),
                 all(m == 0o600 for m in modes.values())))
    src = work / "refs"
    src.mkdir()
    Image.new("RGB", (40, 30), (10, 20, 30)).save(src / "a.jpg")
    (work / "private").mkdir()
    Image.new("RGB", (40, 30), (200, 20, 30)).save(work / "private" / "secret.jpg")
    os.symlink(work / "private" / "secret.jpg", src / "escape.jpg")
    summary = import_folder("ansel", src)
    ref = import_subfolder("ansel", src) / "a.jpg"
    rows.append(("index a folder", "copy, not a hard link", not os.path.samefile(ref, src / "a.jpg")))
    rows.append(("index: a link out of the folder", "skipped", len(summary.skipped) == 1
                 and not (ref.parent / "escape.jpg").exists()))
    shutil.rmtree(work, ignore_errors=True)
    return rows


def http_section(args: argparse.Namespace) -> list[Row]:
    from faults_http import http_section as run

    return run(args)


def review_section(args: argparse.Namespace) -> list[Row]:
    from faults_review import review_section as run

    return run(args)


def training_section(args: argparse.Namespace) -> list[Row]:
    from faults_training import training_section as run

    return run(args)


SECTIONS: dict[str, Callable[[argparse.Namespace], list[Row]]] = {
    "settings": settings_section, "database": database_section, "files": files_section, "http": http_section,
    "review": review_section, "training": training_section,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs in the database the check is timed on")
    parser.add_argument("--section", choices=sorted(SECTIONS), action="append")
    from faults_http import add_arguments

    add_arguments(parser)
    args = parser.parse_args()
    rows: list[Row] = []
    home = os.environ["MONDRIAN_HOME"]
    try:
        for name in args.section or SECTIONS:
            rows += SECTIONS[name](args)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    tried_width = max(len(r[1]) for r in rows)
    print(f"{'case':<{width}}  {'tried':<{tried_width}}  held")
    for case, tried, held in rows:
        print(f"{case:<{width}}  {tried:<{tried_width}}  {'yes' if held else 'NO'}")
    print(f"\n{sum(r[2] for r in rows)}/{len(rows)} held")
    return 0 if all(r[2] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
