"""The store's connection: opening the file privately, SQLite settings, migrations, the integrity
check and the write transaction every change goes through.

One file in WAL mode (readers never block the writer, so the CLI can read history while the GUI
or the HTTP service writes), foreign keys on, a busy timeout for other processes. The file is
created 0600 before SQLite opens it (SQLite gives its -wal and -shm files the same mode), whatever
the umask. One connection and a lock: the statements are short; the model, not the database, is
the bottleneck. The first write waits for the background ``quick_check``
(:mod:`app.engine.store.health`); a damaged file is never written again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.engine import paths
from app.engine.store import backup
from app.engine.store.health import DatabaseDamagedError, HealthCheck, keep_damaged_copy
from app.engine.store.schema import SCHEMA_VERSION, StoreError, migrate

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


class Connection:
    """The one SQLite connection of a store: opening, settings, migrations, the integrity check, the
    write transaction and the read query every part of the store goes through.

    ``Connection(path, check=True, backups_kept=0)``: ``check`` runs the background integrity check,
    ``backups_kept`` > 0 keeps daily rolling backups.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, check: bool = True, backups_kept: int = 0):
        self.path = Path(path) if path is not None else paths.db_path()
        paths.ensure_private_dir(self.path.parent)
        paths.make_private_file(self.path)
        self.lock = threading.RLock()
        """Held by every statement; a part holds it across a read and the write that depends on it."""
        self.backups_kept = backups_kept
        self.health = HealthCheck(self.path, after_ok=self._backup_if_due if backups_kept > 0 else None)
        try:
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                         check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("%s: WAL mode unavailable (journal_mode=%s)", self.path, mode)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if check and 0 < version < SCHEMA_VERSION:
                self.health.run_now()  # a migration rewrites the tables: check what it reads first
                self.health.wait_writable()
            self.schema_version = migrate(self._conn)
        except BaseException as exc:
            conn = getattr(self, "_conn", None)
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.DatabaseError) and _is_damage(exc):
                raise DatabaseDamagedError(self.path, [str(exc)], keep_damaged_copy(self.path)) from exc
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(f"{self.path}: cannot open the database ({exc})") from exc
            raise
        if not check:
            self.health.skip()
        elif not self.health.done:
            self.health.start()

    def _backup_if_due(self) -> None:
        if backup.backup_due(self.path):
            backup.backup_database(self.path, self.backups_kept)

    def close(self) -> None:
        self.health.join()
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]

    @property
    def closed(self) -> bool:
        return self._conn is None

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock, only on a database that passed its check."""
        self.health.wait_writable()
        with self.lock:
            if self._conn is None:
                raise StoreError(f"{self.path}: the store is closed")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                self._stop_if_damage(exc)
                raise
            try:
                yield self._conn
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.DatabaseError):
                    self._stop_if_damage(exc)
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._rollback()
                self._stop_if_damage(exc)
                raise

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:  # the transaction may already be gone (SQLite rolled it back)
            log.debug("rollback: %s", exc)

    def _stop_if_damage(self, exc: sqlite3.DatabaseError) -> None:
        """SQLite said the file is malformed mid-way: stop writing (the same error as the check's)."""
        if _is_damage(exc):
            raise self.health.mark_damaged([str(exc)]) from exc

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            if self._conn is None:
                raise StoreError(f"{self.path}: the store is closed")
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.DatabaseError as exc:
                self._stop_if_damage(exc)
                raise


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """SQLITE_CORRUPT / SQLITE_NOTADB (as opposed to a locked or read-only file)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text
