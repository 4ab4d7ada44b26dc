"""Every command line in the README, training/README.md and docs/*.md runs as written.

``mondrian ...`` lines run the console script itself (``.venv/bin/mondrian``, what ``run.sh``
links into ``~/.local/bin``), not ``python -m app``. The fenced ``sh`` blocks are read from the files themselves; only the placeholders the README marks
(PHOTO.jpg, /path/to/model-folder, ~/Refs, ~/Portfolio, scores.csv, and the demo's /tmp folders)
are replaced by test files and the tiny model. Commands that need a display, the network or a Mac
are listed in SKIPPED with the reason, and show up as skipped tests.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MONDRIAN = Path(sys.executable).parent / "mondrian"
DOCS = [ROOT / "README.md", ROOT / "training" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

SKIPPED: dict[str, str] = {
    "./scripts/run.sh": "installs into .venv (network) and opens the window (display)",
    "./scripts/test.sh": "runs the whole test suite, this test included",
    "mondrian download": "downloads the real model (network, about 3 GB)",
    "python3.11 -m venv": "builds the Mac app's environment (network, macOS)",
    "pip install": "installs packages (network)",
    ".venv/bin/python setup.py py2app": "builds Mondrian.app (macOS only)",
    "python setup.py py2app": "builds Mondrian.app (macOS only)",
    "python scripts/make_icon.py": "renders the macOS .icns icon (macOS iconutil)",
    "open dist/Mondrian.app": "opens the Mac app (macOS, display)",
    "mondrian train distributed ": "needs the other Macs named in the command, reachable over ssh "
                                       "(tests/test_training_distributed.py runs it on loopback)",
    "curl ": "needs `serve` running; tests/test_api.py drives /analyze on a real loopback server",
}


def sh_commands(path: Path) -> list[str]:
    """Command lines of the fenced sh blocks: continuations joined, comments dropped."""
    commands, block, pending = [], False, ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            block = line.strip() == "```sh"
            continue
        if not block:
            continue
        line = pending + line.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1].strip() + " "
            continue
        code = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
        if code and not code.startswith("#"):
            commands.append(code)
    return commands


ALL = [(path.relative_to(ROOT).as_posix(), cmd) for path in DOCS for cmd in sh_commands(path)]


def test_the_docs_have_commands_and_each_is_run_or_skipped_for_a_reason() -> None:
    assert len(ALL) >= 15
    files = {f for f, _ in ALL}
    assert {"README.md", "training/README.md", "docs/MAC_APP.md"} <= files


def test_the_docs_say_mondrian_not_python_m_app() -> None:
    """Issue 23: `python -m app` fails outside an activated venv; the docs use the console script."""
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for bad in ("python -m app ", "python -m app`", "python -m training."):
            assert bad not in text, f"{path.relative_to(ROOT)} still says {bad!r}"
    assert MONDRIAN.is_file(), "the console script is installed with the package ([project.scripts])"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The files the placeholders stand for, a tiny model and a MONDRIAN_HOME shared by the commands."""
    from PIL import Image

    from app.testing.tiny_model import build_tiny_model
    from tests.training_helpers import make_portfolio, write_targets

    root = tmp_path_factory.mktemp("readme")
    model = build_tiny_model(root / "model")
    photo = root / "PHOTO.jpg"
    Image.open(ROOT / "resources" / "samples" / "sample.jpg").convert("RGB").resize((160, 120)).save(photo)
    refs = root / "Refs"
    refs.mkdir()
    for i in range(2):
        Image.new("RGB", (96, 64), (60 * i, 120, 200 - 60 * i)).save(refs / f"ref{i}.jpg")
    names = make_portfolio(root / "Portfolio", n=5, broken=False, size=(64, 48))
    targets = root / "scores.json"
    write_targets(targets, names)
    home = root / "home"
    (home / "config").mkdir(parents=True)
    # The tiny model stands in for the default one (as if downloaded); short comments keep the random
    # model quick (the token budget follows from this setting).
    (home / "config" / "settings.json").write_text(json.dumps({"model": str(model), "max_text_chars": 8,
                                                               "version": 2}))
    return {"PHOTO.jpg": str(photo), "/path/to/model-folder": str(model), "~/Refs": str(refs),
            "~/Portfolio": str(root / "Portfolio"), "scores.csv": str(targets),
            "/tmp/tiny-model": str(root / "tiny-model"), "/tmp/tiny-gemma": str(root / "tiny-gemma"),
            "HOME": str(home)}


def substitute(command: str, files: dict[str, str]) -> list[str]:
    words = shlex.split(command)
    for i, word in enumerate(words):
        for placeholder, real in files.items():
            if placeholder != "HOME" and placeholder in word:
                word = word.replace(placeholder, real)
        words[i] = word
    if words[0] in ("python", ".venv/bin/python"):
        words[0] = sys.executable
    elif words[0] == "mondrian":  # the console script, as a user types it after run.sh
        words[0] = str(MONDRIAN)
    return words


@pytest.mark.slow
@pytest.mark.parametrize(("doc", "command"), ALL, ids=[f"{f}: {c[:60]}" for f, c in ALL])
def test_command_runs_as_written(doc: str, command: str, workspace: dict[str, str]) -> None:
    for prefix, reason in SKIPPED.items():
        if command.startswith(prefix):
            pytest.skip(f"{doc}: {reason}")
    words = substitute(command, workspace)
    env = {**os.environ, "MONDRIAN_HOME": workspace["HOME"], "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(words, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{doc}: `{command}` exited {proc.returncode}\n{proc.stderr[-3000:]}"


def test_the_example_scores_csv_in_the_training_readme_is_a_valid_targets_file(tmp_path: Path) -> None:
    from training.targets import load_targets_file

    text = (ROOT / "training" / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```csv\n(.*?)```", text, re.S)
    assert block is not None
    path = tmp_path / "scores.csv"
    path.write_text(block.group(1), encoding="utf-8")
    targets = load_targets_file(path)
    assert sorted(targets.entries) == ["IMG_0001.jpg", "IMG_0002.jpg"]
    assert targets.entries["IMG_0001.jpg"]["dimensional_analysis"]["lighting"]["comment"].startswith("Highlights")
