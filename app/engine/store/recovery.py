"""Rebuilding a damaged database from what can still be read (``mondrian db recover``).

Preferred: SQLite's own ``.recover`` (the ``sqlite3`` command-line shell, on every Mac), which
reads every page, table or not. Without it: a row salvage in Python that reads each table in
rowid order, skips a damaged page by probing past it (doubling, then bisecting back to the first
readable row), and also finds rows through every intact index. Either way the damaged file is
only read (its copy is kept in ``damaged/``), the new file must pass ``integrity_check`` and
lose no foreign key, and only then replaces the old one (temp file + rename; its stale -wal and
-shm go with it). Quit the app before recovering: a store still open would write to the old file.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.engine import paths
from app.engine.store.health import SIDE_FILES, check_integrity, keep_damaged_copy
from app.engine.store.schema import StoreError

log = logging.getLogger(__name__)

MAX_ROWID = 2**62


@dataclass
class RecoveryReport:
    path: Path
    method: str
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows in the rebuilt file
    dropped_orphans: int = 0  # ratings whose job was lost
    damaged_copy: Path | None = None

    def lines(self) -> list[str]:
        counts = ", ".join(f"{n} {t}" for t, n in sorted(self.rows.items()))
        out = [f"{self.path}: rebuilt with {self.method}: {counts}"]
        if self.dropped_orphans:
            out.append(f"dropped {self.dropped_orphans} row(s) that pointed at lost jobs")
        if self.damaged_copy:
            out.append(f"the damaged file is kept in {self.damaged_copy}")
        return out


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _user_version(path: Path) -> int:
    """Schema version from the file header (bytes 60-63), which the damage left intact."""
    with path.open("rb") as handle:
        header = handle.read(100)
    return int.from_bytes(header[60:64], "big") if len(header) == 100 else 0


def _sqlite_shell() -> str | None:
    return shutil.which("sqlite3")


def recover_with_shell(shell: str, source: Path, dest: Path) -> None:
    """``sqlite3 SOURCE .recover | sqlite3 DEST`` (streamed: the SQL is never all in memory)."""
    dump = subprocess.Popen([shell, "-readonly", str(source), ".recover"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert dump.stdout is not None
    load = subprocess.run([shell, "-bail", str(dest)], stdin=dump.stdout, capture_output=True, timeout=3600)
    dump.stdout.close()
    _, dump_err = dump.communicate(timeout=3600)
    if dump.returncode != 0 or load.returncode != 0:
        text = (dump_err or load.stderr).decode("utf-8", "replace").strip()
        raise StoreError(f"sqlite3 .recover failed: {text or 'exit status ' + str(dump.returncode)}")


def _scan_rows(src: sqlite3.Connection, table: str) -> Iterator[tuple]:
    """``(rowid, *columns)`` of every readable row of ``table``, in rowid order, past damaged pages."""
    sql = f"SELECT rowid, * FROM {_quote(table)} WHERE rowid > ? ORDER BY rowid"
    probe_sql = f"SELECT rowid FROM {_quote(table)} WHERE rowid > ? ORDER BY rowid LIMIT 1"

    def readable(after: int) -> bool:
        try:
            src.execute(probe_sql, (after,)).fetchone()
            return True
        except sqlite3.DatabaseError:
            return False

    start = -MAX_ROWID
    while True:
        try:
            for row in src.execute(sql, (start,)):
                start = row[0]
                yield tuple(row)
            return
        except sqlite3.DatabaseError:
            step = 1
            while start + step < MAX_ROWID and not readable(start + step):
                step *= 2
            if start + step >= MAX_ROWID:
                return
            low, high = start + step // 2, start + step  # low unreadable (or start), high readable
            while high - low > 1:
                mid = (low + high) // 2
                low, high = (low, mid) if readable(mid) else (mid, high)
            start = high


def _rowids_by_index(src: sqlite3.Connection, table: str) -> set[int]:
    """Rowids reachable through the table's indexes (a damaged table page leaves them intact)."""
    found: set[int] = set()
    for index in src.execute(f"PRAGMA index_list({_quote(table)})").fetchall():
        try:
            for (rowid,) in src.execute(f"SELECT rowid FROM {_quote(table)} INDEXED BY {_quote(index[1])}"):
                found.add(rowid)
        except sqlite3.DatabaseError:
            continue
    return found


def salvage(source: Path, dest: Path) -> None:
    """Copy the schema and every readable row of ``source`` into the new database ``dest``."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    out = sqlite3.connect(dest, isolation_level=None)
    try:
        try:
            schema = src.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                                 "AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index', rowid").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{source}: the schema itself is unreadable ({exc}); install the sqlite3 "
                             "shell for a deeper recovery") from exc
        out.execute("BEGIN")
        for kind, name, sql in schema:
            if kind != "table":
                continue
            out.execute(sql)
            names = [r[1] for r in src.execute(f"PRAGMA table_info({_quote(name)})")]
            insert = (f"INSERT OR IGNORE INTO {_quote(name)} (rowid, {', '.join(map(_quote, names))}) "
                      f"VALUES ({', '.join('?' * (len(names) + 1))})")
            seen: set[int] = set()
            for row in _scan_rows(src, name):
                seen.add(row[0])
                out.execute(insert, row)
            for rowid in sorted(_rowids_by_index(src, name) - seen):
                try:
                    row = src.execute(f"SELECT rowid, * FROM {_quote(name)} WHERE rowid = ?", (rowid,)).fetchone()
                except sqlite3.DatabaseError:
                    continue
                if row is not None:
                    out.execute(insert, tuple(row))
        for kind, _name, sql in schema:
            if kind != "table":
                out.execute(sql)
        out.execute("COMMIT")
    finally:
        out.close()
        src.close()


def _finish(dest: Path, version: int) -> tuple[dict[str, int], int]:
    """Drop rows whose parent was lost, set the schema version, check; returns (counts, dropped)."""
    conn = sqlite3.connect(dest, isolation_level=None)
    try:
        dropped = 0
        for table, rowid, _parent, _fk in conn.execute("PRAGMA foreign_key_check").fetchall():
            conn.execute(f"DELETE FROM {_quote(table)} WHERE rowid = ?", (rowid,))
            dropped += 1
        conn.execute(f"PRAGMA user_version = {int(version)}")
        problems = check_integrity(conn, full=True)
        if problems:
            raise StoreError(f"the rebuilt database is not sound either: {problems[0]}")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%'")]
        counts = {t: int(conn.execute(f"SELECT COUNT(*) FROM {_quote(t)}").fetchone()[0]) for t in tables}
        conn.execute("PRAGMA journal_mode = WAL")
        return counts, dropped
    finally:
        conn.close()


def recover_database(path: Path, *, use_shell: bool | None = None) -> RecoveryReport:
    """Rebuild ``path`` from its readable content and put the result in its place.

    ``use_shell``: None = the sqlite3 shell when installed, else the row salvage; True/False forces.
    """
    if not path.is_file():
        raise StoreError(f"{path}: there is no database to recover")
    shell = _sqlite_shell() if use_shell in (None, True) else None
    if use_shell and shell is None:
        raise StoreError("the sqlite3 shell is not installed")
    copy = keep_damaged_copy(path)
    version = _user_version(path)
    dest = path.with_name(f".{path.name}.recovering-{os.getpid()}")
    for stale in [dest, *(dest.with_name(dest.name + s) for s in SIDE_FILES)]:
        stale.unlink(missing_ok=True)
    paths.make_private_file(dest)
    try:
        method = "row salvage"
        if shell:
            try:
                recover_with_shell(shell, path, dest)
                method = "sqlite3 .recover"
            except (StoreError, OSError, subprocess.TimeoutExpired) as exc:
                if use_shell:
                    raise
                # Some builds of the shell lack the sqlite_dbpage table .recover needs (Debian's 3.40).
                log.warning("%s; falling back to the row salvage", exc)
                dest.unlink(missing_ok=True)
                paths.make_private_file(dest)
        if method == "row salvage":
            salvage(path, dest)
        counts, dropped = _finish(dest, version)
        for suffix in SIDE_FILES:  # they belong to the damaged file (their copy is kept)
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        os.replace(dest, path)
    finally:
        for leftover in [dest, *(dest.with_name(dest.name + s) for s in SIDE_FILES)]:
            leftover.unlink(missing_ok=True)
    log.warning("database %s rebuilt (%s)", path, method)
    return RecoveryReport(path=path, method=method, rows=counts, dropped_orphans=dropped, damaged_copy=copy)
