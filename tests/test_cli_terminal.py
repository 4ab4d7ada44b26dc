"""The command line where a newcomer meets it (issue 23): no window without a display (no SIGABRT),
a closed pipe, settings from the command line, export, the training commands through `mondrian`,
and `run.sh`'s link that makes `mondrian` a command."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from app.commands.display import debian_package
from tests.cli_support import MONDRIAN, ROOT, home_with_settings, mondrian

SAMPLE = str(ROOT / "resources" / "samples" / "sample.jpg")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return home_with_settings(tmp_path / "home")


def _without_display() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}


def test_gui_without_a_display_says_so_and_does_not_abort(home):
    env = {**_without_display(), "MONDRIAN_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([str(MONDRIAN), "gui"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)  # not -6 (SIGABRT)
    assert "no display" in proc.stderr and "mondrian critique PHOTO" in proc.stderr


def test_gui_with_an_unusable_display_names_what_is_missing(home):
    env = {**_without_display(), "MONDRIAN_HOME": str(home), "PYTHONPATH": str(ROOT), "DISPLAY": ":97"}
    proc = subprocess.run([str(MONDRIAN), "gui"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "the window cannot open" in proc.stderr
    assert "apt-get install" in proc.stderr or "no X server is running on DISPLAY=:97" in proc.stderr


def test_bare_mondrian_without_a_display_critiques_the_sample(home):
    env = {**_without_display(), "MONDRIAN_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([str(MONDRIAN)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "critiquing the bundled sample photo" in proc.stdout and "Overall grade" in proc.stdout


def test_debian_package_names():
    assert debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"


def test_a_closed_pipe_ends_quietly(home):
    for _ in range(3):
        assert mondrian(["critique", SAMPLE, "--mode", "technical"], home).returncode == 0
    env = {**os.environ, "MONDRIAN_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([str(MONDRIAN), "history"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head -0`: the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_config_path_get_set_unset(home):
    path = mondrian(["config", "path"], home)
    assert path.returncode == 0 and path.stdout.strip() == str(home / "config" / "settings.json")
    assert mondrian(["config", "set", "max_text_chars", "12"], home).returncode == 0
    assert mondrian(["config", "get", "max_text_chars"], home).stdout.strip() == "12"
    assert json.loads((home / "config" / "settings.json").read_text())["max_text_chars"] == 12
    bad = mondrian(["config", "set", "max_text_chars", "lots"], home)
    assert bad.returncode == 2 and "max_text_chars" in bad.stderr and "whole number from 1" in bad.stderr
    assert mondrian(["config", "set", "ab_test_enabled", "true"], home).returncode == 0
    assert mondrian(["config", "set", "allowed_hosts", "a.local,b.local"], home).returncode == 0
    data = json.loads(mondrian(["config", "get", "--json"], home).stdout)
    assert data["ab_test_enabled"] is True and data["allowed_hosts"] == ["a.local", "b.local"]
    unknown = mondrian(["config", "set", "colour", "red"], home)
    assert unknown.returncode == 2 and "no setting 'colour'" in unknown.stderr
    gone = mondrian(["config", "set", "model", "/no/such/model"], home)
    assert gone.returncode == 0 and "does not exist" in gone.stderr  # saved, with a note that it is missing
    assert mondrian(["config", "unset", "model"], home).returncode == 0
    assert "Qwen3-VL" in mondrian(["config", "get", "model"], home).stdout


def test_export_a_measurement_only_job_as_md_json_and_pdf(home, tmp_path):
    done = mondrian(["critique", SAMPLE, "--mode", "technical", "--json"], home)
    job = json.loads(done.stdout)["job_id"]
    md = mondrian(["export", job[:8]], home)
    assert md.returncode == 0 and "**Overall grade:" in md.stdout and "| Lighting |" in md.stdout
    data = json.loads(mondrian(["export", job, "--format", "json"], home).stdout)
    assert data["job_id"] == job and data["report"] is not None and data["conversation"] == []
    pdf = tmp_path / "out.pdf"
    proc = mondrian(["export", job, "-o", str(pdf)], home, env={"QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr
    assert pdf.read_bytes().startswith(b"%PDF")
    missing = mondrian(["export", "nope", "--format", "md"], home)
    assert missing.returncode == 2 and "no job 'nope'" in missing.stderr


def test_training_commands_run_through_mondrian(home):
    helptext = mondrian(["train", "lora", "--help"], home)
    assert helptext.returncode == 0 and "usage: mondrian train lora" in helptext.stdout
    assert "--max-steps" in helptext.stdout
    listing = mondrian(["train", "versions", "list", "--advisor", "ansel"], home)
    assert listing.returncode == 0, listing.stderr


def test_run_sh_links_the_command_and_says_how_to_reach_it(tmp_path):
    script = ROOT / "scripts" / "link_command.sh"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    link = tmp_path / ".local" / "bin" / "mondrian"
    assert link.is_symlink() and Path(os.readlink(link)) == ROOT / ".venv" / "bin" / "mondrian"
    assert "is not on your PATH" in proc.stdout and "export PATH=" in proc.stdout
    on_path = {"HOME": str(tmp_path), "PATH": f"{link.parent}:/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    again = subprocess.run(["bash", str(script)], env=on_path, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout == ""  # already linked, already reachable: nothing to say
    version = subprocess.run(["mondrian", "--version"], env=on_path, cwd=tmp_path, capture_output=True, text=True,
                             timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("Mondrian ")
    link.unlink()
    link.write_text("someone else's")
    kept = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert kept.returncode == 0 and "left alone" in kept.stderr and link.read_text() == "someone else's"


def test_download_and_index_progress_is_json_lines_off_a_terminal_and_the_window_reads_it():
    import io

    from app.commands.progress import ProgressOut
    from app.ui.settings_dialog import _PROGRESS

    stream = io.StringIO()
    out = ProgressOut("downloading", "B", as_json=False, stream=stream)  # a StringIO is no terminal
    out.update(1_000_000, 4_000_000, "model.safetensors")
    out.update(4_000_000, 4_000_000)
    out.close()
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["progress", "progress"] and events[-1]["eta_s"] == 0.0
    assert _PROGRESS.findall(stream.getvalue())[-1] == ("4000000", "4000000")
