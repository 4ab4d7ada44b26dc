"""The training section of bench/faults.py: full/read-only disks, kills inside a publish and a dataset
swap, broken ``active`` pointers and bad settings, replayed against the training commands.

Run: ``.venv/bin/python bench/faults.py --section training [--root CHECKOUT]``. The commands run in
their own processes from ``--root`` (default: this checkout; an older checkout gives the "before"
column) on the tiny random model, each case in a throwaway MONDRIAN_HOME. The faults are real
(``app.testing.faults``): a small tmpfs or a read-only bind mount in a private mount namespace where
the machine allows it (Linux as root), else RLIMIT_FSIZE; kill -9 at an exact function.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.testing.faults import Fault, mounts_available, run  # noqa: E402

ADVISOR = "bench_faults"
Row = tuple[str, str, bool]


class Case:
    """A throwaway MONDRIAN_HOME and the commands of ``root`` run on it."""

    def __init__(self, root: Path, work: Path, name: str):
        self.root, self.home = root, work / name / "home"
        self.home.mkdir(parents=True)
        self.env = {**os.environ, "MONDRIAN_HOME": str(self.home), "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1",
                    "TRANSFORMERS_OFFLINE": "1"}

    def run(self, module: str, *args: str, fault: Fault | None = None) -> subprocess.CompletedProcess[str]:
        return run([sys.executable, "-m", module, *args], fault, env=self.env, cwd=self.root, timeout=900)

    @property
    def data(self) -> Path:
        return self.home / "data"


def clean_error(proc: subprocess.CompletedProcess[str], *needles: str, event: bool = True) -> bool:
    """One ``error:`` line, no traceback, naming what it must; the JSON-lines error event says the same."""
    lines = [ln[7:] for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    ok = proc.returncode not in (0, 1) and "Traceback" not in proc.stderr and len(lines) == 1 \
        and all(n in lines[0] for n in needles)
    if ok and event:
        try:
            last = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return False
        ok = last.get("event") == "error" and last.get("message") == lines[0]
    return ok


def _portfolio(work: Path) -> tuple[Path, Path]:
    """Four distinct small JPEGs and a targets file scoring them."""
    import numpy as np
    from PIL import Image

    from app.engine.critique.report import DIMENSIONS

    folder = work / "portfolio"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(4):
        arr = np.zeros((96, 128, 3), np.uint8)
        arr[..., 0] = np.linspace(0, 255, 128)[None, :]
        arr[..., 2] = i * 60
        Image.fromarray(arr // 2 + rng.integers(0, 60, arr.shape, dtype=np.uint8)).save(folder / f"p{i}.jpg")
    target = {"dimensional_analysis": {d: {"score": 7, "comment": "Ok.", "recommendation": "Keep."} for d in DIMENSIONS},
              "overall_grade": "B", "summary": "Fine."}
    targets = work / "targets.json"
    targets.write_text(json.dumps({f"p{i}.jpg": target for i in range(4)}))
    return folder, targets


def _prepare(case: Case, portfolio: tuple[Path, Path], *extra: str, fault: Fault | None = None,
             ) -> subprocess.CompletedProcess[str]:
    return case.run("training.prepare_dataset", "--advisor", ADVISOR, "--portfolio", str(portfolio[0]), "--targets",
                    str(portfolio[1]), "--val-fraction", "0.25", *extra, fault=fault)


def _publish(case: Case, adapter: Path, model: Path) -> Path:
    folder = case.data / "adapters" / ADVISOR / "v1"
    folder.mkdir(parents=True)
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(adapter / name, folder / name)
    (folder / "manifest.json").write_text(json.dumps({"advisor_id": ADVISOR, "version": "v1",
                                                      "base_model": str(model)}))
    (folder.parent / "active").write_text("v1\n")
    return folder


def disk_cases(root: Path, work: Path, model: Path, adapter: Path, portfolio: tuple[Path, Path]) -> list[Row]:
    rows: list[Row] = []
    mounts = mounts_available()
    train = ["--model", str(model), "--epochs", "1", "--rank", "4"]

    case = Case(root, work, "prep-full")
    datasets = case.data / "datasets"
    datasets.mkdir(parents=True)
    fault = Fault.full(datasets, free=16 << 10) if mounts else Fault.file_size(64 << 10)
    proc = _prepare(case, portfolio, "--jsonl", fault=fault)
    rows.append((f"prepare_dataset, {'full disk' if mounts else 'ulimit -f'}", "one line: folder + space needed, "
                 "same in the error event", clean_error(proc, str(datasets), "needed")))
    if mounts:
        case = Case(root, work, "prep-ro")
        (case.data / "datasets").mkdir(parents=True)
        proc = _prepare(case, portfolio, "--jsonl", fault=Fault.read_only(case.data / "datasets"))
        rows.append(("prepare_dataset, read-only folder", "one line: folder + space needed, same in the event",
                     clean_error(proc, str(case.data / "datasets"), "read-only", "needed")))

    case = Case(root, work, "train-full")
    assert _prepare(case, portfolio).returncode == 0
    if mounts:
        (case.data / "training").mkdir(parents=True, exist_ok=True)
        proc = case.run("training.train_lora", "--advisor", ADVISOR, *train,
                        fault=Fault.full(case.data / "training", free=16 << 10))
        rows.append(("train_lora, full disk", "refused before step 1: folder + space needed, same in the event",
                     clean_error(proc, str(case.data / "training"), "needed")
                     and '"event": "step"' not in proc.stdout))
    proc = case.run("training.train_lora", "--advisor", ADVISOR, *train, fault=Fault.file_size(20_000))
    rows.append(("train_lora, ulimit -f at the checkpoint (MLX)", "one line naming the checkpoint, same in the event",
                 clean_error(proc, "checkpoint", "needed")))

    case = Case(root, work, "activate")
    _publish(case, adapter, model)
    folder = case.data / "adapters" / ADVISOR
    fault = Fault.read_only(folder) if mounts else Fault.file_size(0)
    proc = case.run("training.versions", "activate", "--advisor", ADVISOR, "v1", fault=fault)
    rows.append((f"versions activate, {'read-only' if mounts else 'ulimit -f'}", "one line naming the folder",
                 clean_error(proc, str(folder), event=False)))

    case = Case(root, work, "evaluate")
    assert _prepare(case, portfolio).returncode == 0
    version = _publish(case, adapter, model)
    fault = Fault.read_only(version) if mounts else Fault.file_size(2048)
    proc = case.run("training.evaluate", "--advisor", ADVISOR, "--max-tokens", "8", "--limit", "1", "--jsonl",
                    fault=fault)
    rows.append((f"evaluate, {'read-only version folder' if mounts else 'ulimit -f'}",
                 "one line: folder + space needed, same in the event", clean_error(proc, str(version), "needed")))
    return rows


def kill_cases(root: Path, work: Path, model: Path, adapter: Path, portfolio: tuple[Path, Path]) -> list[Row]:
    rows: list[Row] = []
    case = Case(root, work, "kill-publish")
    assert _prepare(case, portfolio).returncode == 0
    killed = case.run("training.train_lora", "--advisor", ADVISOR, "--model", str(model), "--epochs", "1", "--rank",
                      "4", fault=Fault.kill_at("app.engine.adapters.versions:set_active"))
    resumed = case.run("training.train_lora", "--advisor", ADVISOR, "--resume")
    folder = case.data / "adapters" / ADVISOR
    versions = sorted(p.name for p in folder.iterdir() if p.name.startswith("v")) if folder.is_dir() else []
    active = (folder / "active").read_text().strip() if (folder / "active").is_file() else None
    rows.append(("kill -9 after the version rename, before activation",
                 f"--resume: versions {','.join(versions) or '-'}, active {active or '-'} (want v1, v1)",
                 killed.returncode == -9 and resumed.returncode == 0 and versions == ["v1"] and active == "v1"))

    case = Case(root, work, "kill-swap")
    assert _prepare(case, portfolio).returncode == 0
    killed = _prepare(case, portfolio, "--seed", "1", fault=Fault.kill_at("shutil:rmtree"))
    datasets = case.data / "datasets"
    left_before = [p.name for p in datasets.iterdir() if p.name.startswith(".old-")]
    again = _prepare(case, portfolio, "--seed", "2")
    left = [p.name for p in datasets.iterdir() if p.name.startswith((".old-", ".staging-"))]
    rows.append(("kill -9 at the dataset swap", f"next prepare: {len(left_before)} .old- left by the kill, "
                 f"{len(left)} after", killed.returncode == -9 and bool(left_before) and again.returncode == 0
                 and not left))
    return rows


def pointer_cases(root: Path, work: Path, model: Path, adapter: Path) -> list[Row]:
    from PIL import Image

    rows: list[Row] = []
    photo = work / "photo.jpg"
    Image.new("RGB", (96, 64), (40, 90, 160)).save(photo)
    from app.engine.advisors import Advisor

    advisor = Advisor(id=ADVISOR, name="Bench", bio="A personal advisor.").to_dict()
    advisor.pop("builtin", None)
    cases = (("../../../etc", b"../../../etc\n"), ("v99", b"v99\n"), ("garbage bytes", bytes(range(256))))
    for i, (label, content) in enumerate(cases):
        case = Case(root, work, f"pointer-{i}")
        (case.data / "advisors").mkdir(parents=True)
        (case.data / "advisors" / f"{ADVISOR}.json").write_text(json.dumps(advisor))
        pointer = _publish(case, adapter, model).parent / "active"
        pointer.write_bytes(content)
        auto = case.run("app", "critique", str(photo), "--advisor", ADVISOR, "--mode", "auto", "--model", str(model),
                        "--max-tokens", "40", "--json")
        try:
            reason = json.loads(auto.stdout.strip().splitlines()[-1]).get("fallback_reason") or ""
        except (ValueError, IndexError):
            reason = ""
        lora = case.run("app", "critique", str(photo), "--advisor", ADVISOR, "--mode", "lora", "--model", str(model),
                        "--max-tokens", "40")
        held = str(pointer) in reason and lora.returncode == 2 and str(pointer) in lora.stderr \
            and "Traceback" not in lora.stderr + auto.stderr
        rows.append((f"active pointer = {label}", "auto falls back naming file+problem; lora by name: exit 2", held))
    return rows


def settings_cases(root: Path, work: Path) -> list[Row]:
    rows: list[Row] = []
    commands = {"prepare_dataset": ["--advisor", ADVISOR, "--portfolio", str(work)],
                "train_lora": ["--advisor", ADVISOR], "evaluate": ["--advisor", ADVISOR],
                "distributed": ["check", "--advisor", ADVISOR, "--hosts", "localhost"]}
    for module, argv in commands.items():
        case = Case(root, work, f"settings-{module}")
        (case.home / "config").mkdir(parents=True)
        (case.home / "config" / "settings.json").write_text(json.dumps({"max_image_edge": 0}))
        proc = case.run(f"training.{module}", *argv)
        rows.append((f"bad settings.json: training.{module}", "error: naming the key, exit 2",
                     proc.returncode == 2 and "Traceback" not in proc.stderr and "max_image_edge" in proc.stderr))
    return rows


def training_section(args: argparse.Namespace) -> list[Row]:
    from app.testing.tiny_adapter import train_tiny_adapter
    from app.testing.tiny_model import build_tiny_model

    root = Path(getattr(args, "root", None) or ROOT).resolve()
    work = Path(tempfile.mkdtemp(prefix="mondrian-training-faults-"))
    try:
        model = build_tiny_model(work / "tiny-model")
        adapter = train_tiny_adapter(model, work / "adapter", seed=1)
        portfolio = _portfolio(work)
        steps: list[Callable[[], list[Row]]] = [
            lambda: disk_cases(root, work, model, adapter, portfolio),
            lambda: kill_cases(root, work, model, adapter, portfolio),
            lambda: pointer_cases(root, work, model, adapter),
            lambda: settings_cases(root, work),
        ]
        rows: list[Row] = []
        for step in steps:
            rows += [(f"training {case}", tried, held) for case, tried, held in step()]
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose training commands are tried")
    args: Any = parser.parse_args(argv)
    rows = training_section(args)
    print(f"checkout: {args.root}")
    for case, tried, held in rows:
        print(f"{case:<58}  {tried:<72}  {'yes' if held else 'NO'}")
    return 0 if all(r[2] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
