"""Progress on long work (issue 23): bars and a summary on a terminal, JSON lines otherwise, and
mlx-vlm's own metric dumps kept off the user's terminal; ``train lora --max-steps``."""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli_support import MONDRIAN, ROOT
from tests.training_helpers import env_for, make_portfolio, write_targets
from training import events as ev
from training.console import Console, Ticker, duration, wants_json

ADVISOR = "console"


def run_in_terminal(argv: list[str], env: dict[str, str], timeout: float = 600) -> tuple[int, str]:
    """``argv`` with a pseudo-terminal as stdin/stdout/stderr, as a user's shell runs it."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120-column window
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def test_the_rule_json_when_asked_or_not_a_terminal():
    assert wants_json(False, io.StringIO()) and wants_json(True, io.StringIO())

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert not wants_json(False, Tty()) and wants_json(True, Tty())


def test_console_shows_bars_epochs_and_a_closing_summary():
    err, out = io.StringIO(), io.StringIO()
    console = Console(err=err, out=out)
    t0 = 1000.0
    lines = [ev.Start(advisor_id="me", epochs=2, steps_per_epoch=2, train_rows=2, val_rows=1, time=t0),
             *[ev.Step(step=i, total_steps=4, epoch=1 + (i - 1) // 2, epochs=2, loss=3.0 - i / 4, time=t0 + i)
               for i in range(1, 5)],
             ev.Epoch(epoch=1, epochs=2, train_loss=2.6, val_loss=1.82, best_val_loss=1.82, improved=True),
             ev.Epoch(epoch=2, epochs=2, train_loss=2.1, val_loss=1.41, best_val_loss=1.41, improved=True),
             ev.Published(advisor_id="me", version="v3", active=True, time=t0 + 360)]
    for e in lines:
        console.write(e.to_json() + "\n")
    assert out.getvalue().strip() == "v3 published and activated: validation loss 1.82 -> 1.41, 6 min"
    shown = err.getvalue()
    assert "epoch 1/2: training loss 2.600, validation loss 1.820 (best so far)" in shown
    assert "4/4" in shown and "{" not in shown  # a bar, no JSON
    assert duration(45) == "45 s" and duration(4000) == "1 h 7 min"


def test_ticker_gives_an_eta_and_counts_skipped_items():
    seen: list[dict] = []
    ticker = Ticker(lambda kind, **v: seen.append(ev.make(kind, **v).to_dict()), "drafts", 3)
    for i in ticker.each(range(3), str):
        if i == 1:
            continue  # a skipped photo still moves the bar
    assert [e["done"] for e in seen] == [0, 1, 2, 3] and seen[-1]["eta_s"] == 0.0


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("console")
    names = make_portfolio(root / "portfolio", n=4, broken=False, size=(64, 48))
    return {"home": root / "home", "portfolio": root / "portfolio",
            "targets": write_targets(root / "t.json", names)}


def test_prepare_on_a_terminal_shows_bars_and_piped_prints_json_lines(prepared):
    args = ["train", "prepare", "--advisor", ADVISOR, "--advisor-name", "Console", "--portfolio",
            str(prepared["portfolio"]), "--targets", str(prepared["targets"]), "--val-fraction", "0.25"]
    env = env_for(prepared["home"])
    code, shown = run_in_terminal([str(MONDRIAN), *args], env)
    assert code == 0, shown
    assert "reading photos" in shown and "dataset rows" in shown and "Dataset for advisor 'console'" in shown
    assert '{"event"' not in shown
    piped = subprocess.run([str(MONDRIAN), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert piped.returncode == 0, piped.stderr
    kinds = [json.loads(line)["event"] for line in piped.stdout.splitlines()]
    assert "progress" in kinds and kinds[-1] == "saved"


@pytest.mark.slow
def test_train_lora_max_steps_on_a_terminal_is_readable(prepared, tiny_model_dir):
    env = env_for(prepared["home"])
    if not (prepared["home"] / "data" / "datasets" / ADVISOR).exists():
        test_prepare_on_a_terminal_shows_bars_and_piped_prints_json_lines(prepared)
    code, shown = run_in_terminal([str(MONDRIAN), "train", "lora", "--advisor", ADVISOR, "--model",
                                   str(tiny_model_dir), "--max-steps", "1", "--rank", "4"], env)
    assert code == 0, shown
    assert "1 epoch(s) × 1 steps" in shown  # --max-steps alone: one epoch of one step
    assert "v1 published and activated:" in shown and "loss" in shown
    assert '{"event"' not in shown
    assert "Training" not in shown and "Saved final trainable weights" not in shown  # mlx-vlm's own output
