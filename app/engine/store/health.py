"""Noticing a damaged database before writing into it.

``PRAGMA quick_check`` reads every page of the file (about 90 ms on a 10,000-job, 138 MB
database on a warm cache, more on a cold one), so a store runs it on a thread of its own when it
opens: reads go on at once, the first write waits for the verdict. On damage the store stops
writing (every write raises :class:`DatabaseDamagedError`, the error type the front ends show),
keeps a byte-for-byte copy of the file as it was, and the message says how to recover
(``mondrian db recover``, see :mod:`app.engine.store.recovery`).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from app.engine import paths
from app.engine.store.schema import StoreError

log = logging.getLogger(__name__)

SIDE_FILES = ("-wal", "-shm", "-journal")
RECOVER_COMMAND = "mondrian db recover"


class DatabaseDamagedError(StoreError):
    """The database file is damaged: nothing more is written to it. Names the file, what SQLite
    found, where the copy of the damaged file is and how to recover."""

    def __init__(self, path: Path, problems: list[str], copy: Path | None):
        self.path, self.problems, self.copy = path, problems, copy
        found = problems[0] if problems else "unknown damage"
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        kept = f" A copy of the damaged file is kept in {copy}." if copy else ""
        super().__init__(
            f"{path}: the database is damaged ({found}{more}); Mondrian stopped writing to it.{kept} "
            f"Quit Mondrian and run `{RECOVER_COMMAND}` to rebuild it from what can still be read "
            f"(backups are in {path.parent / 'backups'}).")


def check_integrity(conn: sqlite3.Connection, *, full: bool = False, limit: int = 20) -> list[str]:
    """SQLite's own check (``quick_check``, or ``integrity_check`` when ``full``); [] when sound."""
    pragma = "integrity_check" if full else "quick_check"
    try:
        rows = conn.execute(f"PRAGMA {pragma}({int(limit)})").fetchall()
    except sqlite3.DatabaseError as exc:  # damage so bad the check itself cannot run
        return [str(exc)]
    found = [str(r[0]) for r in rows]
    return [] if found == ["ok"] else found


def keep_damaged_copy(path: Path) -> Path | None:
    """Copy the damaged file (with its WAL) into ``damaged/`` beside it, as it is; the copy is
    made once per damage (a later copy of the same file is skipped when one exists of its size)."""
    if not path.exists():
        return None
    folder = paths.ensure_private_dir(path.parent / "damaged")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    dest = folder / f"{path.stem}-{stamp}{path.suffix}"
    try:
        shutil.copyfile(path, dest)
        dest.chmod(paths.PRIVATE_FILE)
        for suffix in SIDE_FILES:
            side = path.with_name(path.name + suffix)
            if side.exists():
                shutil.copyfile(side, dest.with_name(dest.name + suffix))
    except OSError as exc:  # a full disk must not hide the damage itself
        log.error("could not keep a copy of the damaged database %s: %s", path, exc)
        return None
    return dest


class HealthCheck:
    """The background ``quick_check`` of one store, then an optional follow-up (rolling backup).

    ``wait_writable()`` blocks until the check is done and raises the damage if any.
    """

    def __init__(self, path: Path, *, after_ok: Callable[[], None] | None = None):
        self.path = path
        self.damage: DatabaseDamagedError | None = None
        self._done = threading.Event()
        self._after_ok = after_ok
        self._listeners: list[Callable[[DatabaseDamagedError], None]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mondrian-db-check", daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def skip(self) -> None:
        """No check (a store opened by the recovery itself, or a test of the write path)."""
        self._done.set()

    def run_now(self) -> None:
        """Check on the calling thread (before a migration rewrites the tables)."""
        self._run()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=10)
            try:
                problems = check_integrity(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            problems = [str(exc)]
        if problems:
            self.mark_damaged(problems)
            self._done.set()
            return
        self._done.set()
        if self._after_ok is not None:
            try:
                self._after_ok()
            except Exception as exc:  # noqa: BLE001 - a failed backup must not stop the app
                log.warning("%s: database backup failed: %s", self.path, exc)

    def mark_damaged(self, problems: list[str]) -> DatabaseDamagedError:
        with self._lock:
            if self.damage is None:
                self.damage = DatabaseDamagedError(self.path, problems, keep_damaged_copy(self.path))
                log.error("%s", self.damage)
                listeners = list(self._listeners)
            else:
                listeners = []
        for listener in listeners:
            listener(self.damage)
        return self.damage

    def on_damage(self, listener: Callable[[DatabaseDamagedError], None]) -> None:
        """Call ``listener`` (on the checking thread) when damage is found, or now if it was."""
        with self._lock:
            damage = self.damage
            if damage is None:
                self._listeners.append(listener)
        if damage is not None:
            listener(damage)

    def wait_writable(self, timeout: float | None = None) -> None:
        if not self._done.wait(timeout):
            raise StoreError(f"{self.path}: the database check did not finish")
        if self.damage is not None:
            raise self.damage

    def join(self, timeout: float = 30.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
