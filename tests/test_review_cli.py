"""``python -m app review`` end to end in a subprocess on the tiny model: summary, sidecars read back
with exiv2, a re-run that skips everything, a dry run that writes nothing, Ctrl-C and resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from review_support import BURST, CORRUPT, PAIR_RAW, make_shoot
from test_sidecars import GRANDMA, _exiv2_read

ROOT = Path(__file__).resolve().parents[1]


def _env(home: Path) -> dict[str, str]:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "settings.json").write_text(json.dumps({"max_text_chars": 24, "version": 1}))
    return {**os.environ, "MONDRIAN_HOME": str(home)}


def _review(args: list[str], home: Path, model: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", "review", *args, "--advisor", "ansel", "--mode", "baseline",
                           "--model", str(model)], cwd=ROOT, env=_env(home), capture_output=True, text=True,
                          timeout=600)


def test_review_command_summary_sidecars_and_rerun(tiny_model_dir: Path, tmp_path: Path) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    home = tmp_path / "home"
    started = time.perf_counter()
    (shoot / "IMG_0002.xmp").write_text(GRANDMA, encoding="utf-8")  # the photographer's own sidecar
    grandma_before = _exiv2_read(shoot / "IMG_0002.xmp")
    first = _review([str(shoot), "--write-sidecars", "lightroom", "--set", "rating", "--json"], home, tiny_model_dir)
    first_s = time.perf_counter() - started
    assert first.returncode == 1, first.stderr  # the corrupt frame is reported, the others reviewed
    out = json.loads(first.stdout)
    assert out["review"]["total"] == 11 and out["review"]["done"] == 10 and out["review"]["state"] == "completed"
    assert out["run"] == {"total": 11, "before": 0, "triaged": out["run"]["triaged"], "critiqued": 10, "reused": 0,
                          "failed": 1}
    assert f"{CORRUPT}: truncated or corrupt JPEG data" in first.stderr
    assert "ETA" in first.stderr or "frame/s" in first.stderr or "s/frame" in first.stderr  # tqdm's bar
    assert [Path(m).name for m in out["summary"]["bursts"][0]["members"]] == list(BURST)
    assert len(out["star_mapping"]) == 5 and "Lightroom reads the XMP embedded" in first.stderr
    fields = _exiv2_read(shoot / "IMG_0001.xmp")
    frame = next(f for f in out["summary"]["frames"] if f["name"] == PAIR_RAW)
    assert fields["Xmp.xmp.Rating"][1] == str(frame["stars"]) and 1 <= frame["stars"] <= 5
    assert "Mondrian grade" in fields["Xmp.dc.subject"][1] and fields["Xmp.mondrian.Grade"][1] == frame["grade"]
    kept = _exiv2_read(shoot / "IMG_0002.xmp")  # rating opted in, but only where empty: 5 stars stay
    assert kept["Xmp.xmp.Rating"] == grandma_before["Xmp.xmp.Rating"] == ("XmpText", "5")
    assert kept["Xmp.dc.description"] == grandma_before["Xmp.dc.description"]
    plain = next(f for f in out["summary"]["frames"] if f["name"] == "IMG_0002.dng")
    assert plain["file_metadata"]["rating"] == 5 and plain["stars"] == 5
    assert out["sidecars"]["policy"] == {"fields": ["rating"], "overwrite": False} and out["sidecars"]["batch_id"]
    csv_file = Path(first.stderr.split("ratings CSV: ")[1].split("\n")[0])
    assert csv_file.is_file() and csv_file.is_relative_to(home)  # beside the photos: only sidecars

    started = time.perf_counter()
    again = _review([str(shoot), "--write-sidecars", "darktable", "--dry-run"], home, tiny_model_dir)
    again_s = time.perf_counter() - started
    assert again.returncode == 1, again.stderr
    assert "10 reused" not in again.stdout  # the row keeps its first outcome: done, not reused
    # what this run did, apart from the first run: nothing went to the model again
    assert "completed, this run: nothing critiqued, 1 failed; 10 done before this run (of 11 frames)" in again.stdout
    assert "would create" in again.stderr and not (shoot / (PAIR_RAW + ".xmp")).exists()
    assert again_s < first_s  # no frame went to the model (process start-up dominates both)

    undo = subprocess.run([sys.executable, "-m", "app", "review", "--undo-sidecars"], cwd=ROOT, env=_env(home),
                          capture_output=True, text=True, timeout=300)
    assert undo.returncode == 0, undo.stderr
    assert "refused" not in undo.stdout and not (shoot / "IMG_0001.xmp").exists()  # created by Mondrian: gone
    assert (shoot / "IMG_0002.xmp").read_text(encoding="utf-8") == GRANDMA  # byte for byte as before
    bad = _review([str(shoot), "--overwrite"], home, tiny_model_dir)
    assert bad.returncode == 2 and "--set and --overwrite need --write-sidecars" in bad.stderr


def test_ctrl_c_stops_cleanly_and_the_next_run_continues(tiny_model_dir: Path, tmp_path: Path) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    home = tmp_path / "home"
    proc = subprocess.Popen([sys.executable, "-m", "app", "review", str(shoot), "--advisor", "ansel", "--mode",
                             "baseline", "--model", str(tiny_model_dir)], cwd=ROOT, env=_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a signal ignored here would stay ignored in the child: give it Ctrl-C as a shell would
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    db = home / "data" / "mondrian.db"
    deadline = time.monotonic() + 300
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    done = conn.execute("SELECT COUNT(*) FROM jobs WHERE review_id IS NOT NULL "
                                        "AND status = 'completed'").fetchone()[0]
            except sqlite3.OperationalError:
                done = 0  # not migrated yet
        if done >= 2:
            break
        time.sleep(0.1)
    assert done >= 2 and proc.poll() is None
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted: run the same command again to continue" in stderr and "Traceback" not in stderr
    with sqlite3.connect(db) as conn:
        state, reviewed = conn.execute("SELECT state, done FROM reviews").fetchone()
        running = conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'running'").fetchone()[0]
    assert state == "cancelled" and 2 <= reviewed < 10 and running == 0
    resumed = _review([str(shoot)], home, tiny_model_dir)
    assert resumed.returncode == 1 and "completed, " in resumed.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'completed'").fetchone()[0] == 10
