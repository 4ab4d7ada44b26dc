"""Rolling backups of the database with SQLite's online backup API.

A backup is a consistent snapshot taken while the app runs (``Connection.backup``), written to a
temp name and renamed, so ``backups/`` only ever holds whole files. A store makes one when it
opens and the newest is older than :data:`BACKUP_INTERVAL` (daily), after the integrity check
passed (a damaged file is never backed up over good copies), and keeps the newest N (the
``backups_kept`` setting; 0 turns them off).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from app.engine import paths

log = logging.getLogger(__name__)

BACKUP_INTERVAL = timedelta(days=1)


def backups_dir(db_path: Path) -> Path:
    return db_path.parent / "backups"


def list_backups(db_path: Path) -> list[Path]:
    """This database's backups, oldest first (the name carries the time, so names sort by age)."""
    folder = backups_dir(db_path)
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{db_path.stem}-*{db_path.suffix}"))


def backup_due(db_path: Path, now: datetime | None = None) -> bool:
    backups = list_backups(db_path)
    if not backups:
        return True
    newest = datetime.fromtimestamp(backups[-1].stat().st_mtime)
    return (now or datetime.now()) - newest >= BACKUP_INTERVAL


def backup_database(db_path: Path, keep: int) -> Path:
    """Snapshot ``db_path`` into ``backups/`` (0600), then drop all but the newest ``keep``."""
    folder = paths.ensure_private_dir(backups_dir(db_path))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    dest = folder / f"{db_path.stem}-{stamp}{db_path.suffix}"
    tmp = dest.with_name(f".{dest.name}.tmp")
    paths.make_private_file(tmp)
    try:
        source = sqlite3.connect(db_path, timeout=10)
        target = sqlite3.connect(tmp)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            target.close()
            source.close()
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    prune_backups(db_path, keep)
    log.info("database backed up to %s", dest)
    return dest


def prune_backups(db_path: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns the deleted ones."""
    old = list_backups(db_path)
    gone = old[:max(0, len(old) - max(keep, 0))]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone
