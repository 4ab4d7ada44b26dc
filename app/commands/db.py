"""``db check|backup|recover``: the database's health, a backup now, a rebuild after damage.

    mondrian db check      # SQLite's full integrity_check; exit 1 when damaged
    mondrian db backup     # a snapshot into <data>/backups (online backup API), oldest pruned
    mondrian db recover    # rebuild a damaged file from what can be read (quit the app first)
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="check, back up or recover the history database")
    p.add_argument("action", choices=["check", "backup", "recover"])
    p.add_argument("--db", dest="db_path", default=None, metavar="FILE",
                   help="database file (default: mondrian.db in the data folder)")
    p.add_argument("--salvage", action="store_true",
                   help="recover with the row salvage even when the sqlite3 shell is installed")
    p.set_defaults(func=run)


def _check(path: Path) -> list[str]:
    from app.engine.store.health import check_integrity

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return [str(exc)]
    try:
        return check_integrity(conn, full=True)
    finally:
        conn.close()


def run(args: argparse.Namespace) -> int:
    from app.engine import paths
    from app.engine.settings import load_settings
    from app.engine.store.backup import backup_database, list_backups
    from app.engine.store.health import RECOVER_COMMAND
    from app.engine.store.recovery import recover_database
    from app.engine.store.schema import StoreError

    path = Path(args.db_path).expanduser() if args.db_path else paths.db_path()
    if not path.is_file():
        print(f"{path}: there is no database yet")
        return 0 if args.action == "check" else 1
    if args.action == "recover":
        try:
            report = recover_database(path, use_shell=False if args.salvage else None)
        except (StoreError, OSError, sqlite3.Error) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print("\n".join(report.lines()))
        return 0
    problems = _check(path)
    if problems:
        print(f"{path}: the database is damaged:", file=sys.stderr)
        for problem in problems[:5]:
            print(f"  {problem}", file=sys.stderr)
        print(f"Quit Mondrian and run `{RECOVER_COMMAND}`.", file=sys.stderr)
        return 1
    if args.action == "check":
        backups = list_backups(path)
        newest = f"newest backup {backups[-1].name}" if backups else "no backups yet"
        print(f"ok: {path} ({path.stat().st_size / 1e6:.1f} MB, {len(backups)} backup(s), {newest})")
        return 0
    try:
        dest = backup_database(path, max(1, load_settings().backups_kept))
    except (OSError, sqlite3.Error) as exc:
        print(f"error: could not back up {path}: {exc}", file=sys.stderr)
        return 1
    print(f"backed up to {dest}")
    return 0
