"""Database damage: a real file with one overwritten page (header intact) is noticed by the
integrity check, nothing more is written, a copy is kept, recovery rebuilds it; rolling backups
with the online backup API; the file is created 0600 in a 0700 folder whatever the umask."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
from test_store import make_report, make_result

from app import cli
from app.engine import paths
from app.engine.store.backup import backup_database, backup_due, list_backups
from app.engine.store.database import DatabaseDamagedError, Store, StoreError
from app.engine.store.health import check_integrity
from app.engine.store.recovery import recover_database
from app.engine.store.schema import SCHEMA_VERSION

JOBS = 300


def overwrite_page(path: Path, page: int, seed: int = 1) -> None:
    """Replace one whole page with random bytes (page 1, the header, is never chosen)."""
    assert page > 1
    conn = sqlite3.connect(path)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as handle:
        handle.seek((page - 1) * size)
        handle.write(random.Random(seed).randbytes(size))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def sound_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "sound.db"
    with Store(path) as store:
        result = make_result(make_report())
        result.raw_text = "x" * 1500  # about two jobs per page, like real reports
        for i in range(JOBS):
            job = store.jobs.create_job(f"/photos/{i}.jpg", "ansel", "auto")
            store.jobs.complete_job(job.id, result)
            if i % 3 == 0:
                store.ratings.add_rating(job.id, 4)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


@pytest.fixture
def damaged(sound_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "data" / "mondrian.db"
    path.parent.mkdir()
    shutil.copyfile(sound_db, path)
    conn = sqlite3.connect(path)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    overwrite_page(path, pages // 2)
    return path


def test_sound_database_passes(sound_db: Path):
    conn = sqlite3.connect(sound_db)
    assert check_integrity(conn) == [] and check_integrity(conn, full=True) == []
    conn.close()


def test_overwritten_page_is_noticed_and_nothing_more_is_written(damaged: Path):
    before = digest(damaged)
    heard: list[DatabaseDamagedError] = []
    store = Store(damaged)
    store.on_damage(heard.append)
    try:
        with pytest.raises(DatabaseDamagedError) as caught:
            store.jobs.create_job("/new.jpg", "ansel", "auto")
        error = caught.value
        assert store.damage is error and heard == [error]
        assert str(damaged) in str(error) and "stopped writing" in str(error) and "db recover" in str(error)
        assert error.copy is not None and error.copy.parent == damaged.parent / "damaged"
        assert digest(error.copy) == before  # the copy is the file as it was
        with pytest.raises(DatabaseDamagedError):
            store.ratings.add_rating(store.jobs.list_jobs(limit=1)[0].id, 5)
    finally:
        store.close()
    assert digest(damaged) == before  # not one byte written into it


def test_salvage_recovers_the_readable_rows_and_the_app_writes_again(damaged: Path):
    report = recover_database(damaged, use_shell=False)
    assert report.method == "row salvage"
    assert JOBS - 10 <= report.rows["jobs"] < JOBS  # one page of jobs (or a few) lost, the rest kept
    assert report.rows["ratings"] >= JOBS // 3 - 10
    conn = sqlite3.connect(damaged)
    assert check_integrity(conn, full=True) == [] and conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    with Store(damaged) as store:
        store.jobs.create_job("/after.jpg", "ansel", "auto")
        assert store.jobs.count_jobs() == report.rows["jobs"] + 1 and store.damage is None
    assert stat.S_IMODE(damaged.stat().st_mode) == 0o600


def _shell_recover_works() -> bool:
    shell = shutil.which("sqlite3")
    if shell is None:
        return False
    out = subprocess.run([shell, ":memory:", ".recover"], capture_output=True, text=True)
    return out.returncode == 0 and "sqlite_dbpage" not in out.stderr


@pytest.mark.skipif(not _shell_recover_works(), reason="no sqlite3 shell with a working .recover")
def test_shell_recover(damaged: Path):
    report = recover_database(damaged, use_shell=True)
    assert report.method == "sqlite3 .recover" and report.rows["jobs"] >= JOBS - 10


def test_auto_recovery_falls_back_when_the_shell_cannot(damaged: Path):
    report = recover_database(damaged)
    assert report.method in ("sqlite3 .recover", "row salvage") and report.rows["jobs"] >= JOBS - 10


def test_db_command(damaged: Path, capsys, monkeypatch):
    monkeypatch.setenv(paths.HOME_ENV, str(damaged.parent.parent / "home"))
    db = ["--db", str(damaged)]
    assert cli.main(["db", "check", *db]) == 1
    err = capsys.readouterr().err
    assert "damaged" in err and "mondrian db recover" in err
    assert cli.main(["db", "backup", *db]) == 1  # a damaged file is never backed up
    assert cli.main(["db", "recover", "--salvage", *db]) == 0
    assert "rebuilt with row salvage" in capsys.readouterr().out
    assert cli.main(["db", "check", *db]) == 0
    assert cli.main(["db", "backup", *db]) == 0
    (backup,) = list_backups(damaged)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600


def test_a_file_that_is_not_a_database(tmp_path: Path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseDamagedError, match="junk.db"):
        Store(junk)
    assert isinstance(DatabaseDamagedError(junk, ["x"], None), StoreError)


def test_rolling_backups(sound_db: Path, tmp_path: Path):
    path = tmp_path / "m.db"
    shutil.copyfile(sound_db, path)
    with Store(path, backups_kept=2):
        pass  # close() waits for the check and the backup after it
    (first,) = list_backups(path)
    assert not backup_due(path)
    conn = sqlite3.connect(first)
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == JOBS
    assert check_integrity(conn, full=True) == []
    conn.close()
    for _ in range(3):
        backup_database(path, keep=2)
    kept = list_backups(path)
    assert len(kept) == 2 and first not in kept
    with Store(path, backups_kept=2):
        pass
    assert len(list_backups(path)) == 2  # not due again the same day


def test_no_backup_of_a_damaged_file(damaged: Path):
    with Store(damaged, backups_kept=3) as store:
        store.db.health.join()
        assert store.damage is not None
    assert list_backups(damaged) == []


def test_database_and_folder_are_private_whatever_the_umask(tmp_path: Path):
    old = os.umask(0)
    try:
        with Store(tmp_path / "new" / "data" / "m.db") as store:
            store.jobs.create_job("/p.jpg", "ansel", "auto")
            files = [store.path, store.path.with_name("m.db-wal"), store.path.with_name("m.db-shm")]
            for file in files:
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        for folder in (tmp_path / "new", tmp_path / "new" / "data"):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    finally:
        os.umask(old)


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    with Store(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
