"""The SQLite store: one connection with a part per domain, like Anki's ``col.decks``.

One file, ``paths.db_path()``, with a schema version in ``PRAGMA user_version`` upgraded by
ordered migrations (:mod:`app.engine.store.schema`). A :class:`Store` owns the
:class:`~app.engine.store.connection.Connection` (opening, WAL, the write transaction, the
integrity check) and hands it to its parts, one small class per domain and module:
``store.jobs``, ``.reviews``, ``.ratings``, ``.profiles``, ``.conversations``, ``.sidecar_writes``
and ``.triage_scores``. A part that needs another is handed it (``Ratings(db, jobs)``,
``Jobs(db, reviews)``); no part inherits from another. Rows are dataclasses in
:mod:`~app.engine.store.rows`; damage, backups and recovery live in
:mod:`~app.engine.store.health`, :mod:`~app.engine.store.backup` and
:mod:`~app.engine.store.recovery`. A :class:`Store` is safe to share between threads; several
processes may open the same file (SQLite's locking plus a busy timeout).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Self

from app.engine import paths
from app.engine.store.connection import Connection
from app.engine.store.conversations import Conversations, TurnRow
from app.engine.store.health import DatabaseDamagedError
from app.engine.store.jobs import INTERRUPTED, Jobs
from app.engine.store.profiles import Profiles
from app.engine.store.ratings import Ratings
from app.engine.store.reviews import Reviews
from app.engine.store.rows import (
    JobNotFoundError,
    JobRow,
    ModelStats,
    ProfileRow,
    RatingRow,
    WinRate,
    profile_vector,
)
from app.engine.store.schema import (
    JOB_STATUSES,
    MIGRATIONS,
    MODEL_USED,
    PROFILE_SOURCES,
    SCHEMA_VERSION,
    WINNERS,
    StoreError,
    migrate,
    now_iso,
)
from app.engine.store.sidecar_writes import SidecarWrites
from app.engine.store.triage_scores import TriageScores
from app.engine.store.workers import PROCESS_TOKEN

__all__ = [
    "INTERRUPTED", "JOB_STATUSES", "MIGRATIONS", "MODEL_USED", "PROCESS_TOKEN", "PROFILE_SOURCES",
    "SCHEMA_VERSION", "WINNERS", "DatabaseDamagedError", "JobNotFoundError", "JobRow", "ModelStats",
    "ProfileRow", "RatingRow", "Store", "StoreError", "TurnRow", "WinRate", "migrate", "now_iso", "open_default_store",
    "profile_vector",
]


class Store:
    """Thread-safe access to the database. Use as a context manager or call :meth:`close`.

    ``Store(path, recover=True, check=True, backups_kept=0)``: ``recover`` marks jobs of dead
    processes failed, ``check`` runs the background integrity check, ``backups_kept`` > 0 keeps
    daily rolling backups.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, recover: bool = True, check: bool = True,
                 backups_kept: int = 0):
        self.db = Connection(path, check=check, backups_kept=backups_kept)
        self.path = self.db.path
        self.schema_version = self.db.schema_version
        self.conversations = Conversations(self.db)
        self.profiles = Profiles(self.db)
        self.reviews = Reviews(self.db)
        self.jobs = Jobs(self.db, self.reviews)
        self.ratings = Ratings(self.db, self.jobs)
        self.sidecar_writes = SidecarWrites(self.db)
        self.triage_scores = TriageScores(self.db)
        self.recovered = self.jobs.recover_interrupted() + self.reviews.recover_interrupted() if recover else 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @property
    def closed(self) -> bool:
        return self.db.closed

    @property
    def damage(self) -> DatabaseDamagedError | None:
        """The damage found by the integrity check (None while it runs or when the file is sound)."""
        return self.db.health.damage

    def on_damage(self, listener: Callable[[DatabaseDamagedError], None]) -> None:
        """Tell ``listener`` (on the checking thread) when the file turns out damaged."""
        self.db.health.on_damage(listener)


def open_default_store(backups_kept: int | None = None) -> Store:
    """A store on the data folder's database (``paths.db_path()``), with the rolling backups the
    ``backups_kept`` setting asks for (a settings file that cannot be read means the default)."""
    if backups_kept is None:
        from app.engine.settings import Settings, SettingsError, load_settings

        try:
            backups_kept = load_settings().backups_kept
        except SettingsError:
            backups_kept = Settings().backups_kept
    return Store(paths.db_path(), backups_kept=backups_kept)
