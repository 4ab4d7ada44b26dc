"""Training under real faults (issue 11, items 8 and 9): a full, read-only or size-limited disk in
every command, kill -9 inside a publish and inside the dataset swap, broken ``active`` pointers, and
a bad settings file. The disks are real: a tiny tmpfs or a read-only bind mount in a private mount
namespace (Linux as root; skipped elsewhere) and RLIMIT_FSIZE (everywhere)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from app.engine.adapters import versions as adapter_versions
from app.engine.adapters.versions import ActivePointerError, AdapterManifest
from app.testing.faults import Fault, mounts_available, run
from tests.training_helpers import ROOT, env_for, events, make_portfolio, write_targets

ADVISOR = "faulty"
needs_mounts = pytest.mark.skipif(not mounts_available(), reason="needs unshare -m and tmpfs (Linux, as root)")


def _run(module: str, *args: str, home: Path, fault: Fault | None = None):
    return run([sys.executable, "-m", module, *args], fault, env=env_for(home), cwd=ROOT)


def _one_line(proc, code: int = 5) -> str:
    """The command's single ``error:`` line (no traceback), checked against its exit code."""
    assert proc.returncode == code, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0][len("error: "):]


def _same_in_event(proc, line: str) -> None:
    last = events(proc.stdout)[-1]
    assert last["event"] == "error" and last["message"] == line and last["code"] == proc.returncode


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MONDRIAN_HOME with ADVISOR's 4-photo dataset (3 train, 1 held out); copy it before changing it."""
    tmp = tmp_path_factory.mktemp("prepared")
    home, folder = tmp / "home", tmp / "portfolio"
    names = make_portfolio(folder, n=4, broken=False)
    proc = _run("training.prepare_dataset", "--advisor", ADVISOR, "--portfolio", str(folder), "--targets",
                str(write_targets(tmp / "t.json", names)), "--val-fraction", "0.25", home=home)
    assert proc.returncode == 0, proc.stderr
    return home


@pytest.fixture
def fresh(prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    shutil.copytree(prepared, home, symlinks=True)
    monkeypatch.setenv("MONDRIAN_HOME", str(home))
    return home


def _publish(adapter: Path, base_model: Path) -> adapter_versions.AdapterVersion:
    staged = adapter_versions.staging_dir(ADVISOR)
    for name in ("adapter_config.json", "adapters.safetensors"):
        shutil.copy(adapter / name, staged / name)
    return adapter_versions.publish(ADVISOR, staged, AdapterManifest(ADVISOR, "", base_model=str(base_model)))


# ---------------------------------------------------------------------------- item 8: disks

@pytest.mark.parametrize("kind", ["full", "read_only", "file_size"])
def test_prepare_dataset_on_a_bad_disk(kind: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    datasets = home / "data" / "datasets"
    datasets.mkdir(parents=True)
    # Larger photos for the size limit: the dataset's Arrow file passes it, the database does not.
    names = make_portfolio(tmp_path / "pf", n=4, broken=False, size=(512, 384) if kind == "file_size" else (128, 96))
    fault = {"full": lambda: Fault.full(datasets, free=16 << 10), "read_only": lambda: Fault.read_only(datasets),
             "file_size": lambda: Fault.file_size(600 << 10)}[kind]
    if kind != "file_size" and not mounts_available():
        pytest.skip("needs unshare -m and tmpfs (Linux, as root)")
    proc = _run("training.prepare_dataset", "--advisor", ADVISOR, "--portfolio", str(tmp_path / "pf"), "--targets",
                str(write_targets(tmp_path / "t.json", names)), "--jsonl", home=home, fault=fault())
    line = _one_line(proc)
    _same_in_event(proc, line)
    assert line.startswith(f"cannot write the dataset to {datasets}") and "needed" in line, line
    assert {"full": "the disk is full", "read_only": "read-only", "file_size": "ulimit -f"}[kind] in line, line
    assert not (datasets / ADVISOR / "dataset_dict.json").exists()  # nothing half-published


@needs_mounts
@pytest.mark.parametrize("where", ["training", "adapters"])
def test_train_lora_refuses_a_full_or_read_only_folder_before_training(where: str, fresh: Path,
                                                                        tiny_model_dir: Path) -> None:
    folder = fresh / "data" / ("training" if where == "training" else f"adapters/{ADVISOR}")
    fault = Fault.full(folder, free=16 << 10) if where == "training" else Fault.read_only(folder)
    proc = _run("training.train_lora", "--advisor", ADVISOR, "--model", str(tiny_model_dir), "--epochs", "1",
                "--rank", "4", home=fresh, fault=fault)
    line = _one_line(proc)
    _same_in_event(proc, line)
    assert not [e for e in events(proc.stdout) if e["event"] == "step"]  # refused before the first step
    if where == "training":
        assert line.startswith(f"cannot write the training checkpoints to {folder}") and "the disk is full" in line
        assert "free at least" in line and "needed" in line
    else:
        assert line.startswith(f"cannot write the new adapter version to {folder}") and "read-only" in line


def test_train_lora_file_size_limit_in_mlx_checkpoint_write(fresh: Path, tiny_model_dir: Path) -> None:
    """A write that fails inside MLX (C++, no errno): the checkpoint is named, no traceback, resumable."""
    proc = _run("training.train_lora", "--advisor", ADVISOR, "--model", str(tiny_model_dir), "--epochs", "1",
                "--rank", "4", home=fresh, fault=Fault.file_size(20_000))
    line = _one_line(proc)
    _same_in_event(proc, line)
    assert line.startswith("cannot write the checkpoint of epoch 1 to ") and "ulimit -f" in line, line
    assert adapter_versions.list_versions(ADVISOR) == []


@pytest.mark.parametrize("kind", ["full", "read_only", "file_size"])
def test_versions_activate_on_a_bad_disk(kind: str, fresh: Path, tiny_adapters: dict[str, Path],
                                         tiny_model_dir: Path) -> None:
    if kind != "file_size" and not mounts_available():
        pytest.skip("needs unshare -m and tmpfs (Linux, as root)")
    _publish(tiny_adapters["a"], tiny_model_dir)
    _publish(tiny_adapters["b"], tiny_model_dir)
    folder = adapter_versions.advisor_root(ADVISOR)
    fault = {"full": Fault.full(folder), "read_only": Fault.read_only(folder), "file_size": Fault.file_size(0)}[kind]
    proc = _run("training.versions", "activate", "--advisor", ADVISOR, "v1", home=fresh, fault=fault)
    line = _one_line(proc)
    assert line.startswith(f"cannot write the active pointer to {folder}"), line
    assert {"full": "the disk is full", "read_only": "read-only", "file_size": "ulimit -f"}[kind] in line
    assert adapter_versions.read_active(ADVISOR).version == "v2"  # type: ignore[union-attr]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["read_only", "file_size"])
def test_evaluate_on_a_bad_disk(kind: str, fresh: Path, tiny_adapters: dict[str, Path], tiny_model_dir: Path) -> None:
    if kind == "read_only" and not mounts_available():
        pytest.skip("needs unshare -m and tmpfs (Linux, as root)")
    version = _publish(tiny_adapters["a"], tiny_model_dir)
    fault = Fault.read_only(version.path) if kind == "read_only" else Fault.file_size(2048)  # the probe fits, eval.json not
    proc = _run("training.evaluate", "--advisor", ADVISOR, "--max-tokens", "8", "--limit", "1", "--jsonl",
                home=fresh, fault=fault)
    line = _one_line(proc)
    _same_in_event(proc, line)
    assert line.startswith(f"cannot write the evaluation results to {version.path}") and "needed" in line, line
    samples = [e for e in events(proc.stdout) if e["event"] == "sample"]
    if kind == "read_only":
        assert "read-only" in line and samples == []  # refused before minutes of generation
    else:
        assert "ulimit -f" in line and len(samples) == 2  # failed writing eval.json after the work
    assert not (version.path / "eval.json").exists()


# ---------------------------------------------------------------------------- item 9: kills, pointers

@pytest.mark.slow
@pytest.mark.parametrize("point", ["app.engine.adapters.versions:set_active", "training.run_state:discard_run"])
def test_a_kill_inside_the_publish_is_finished_by_resume(point: str, fresh: Path, tiny_model_dir: Path) -> None:
    from training.run_state import run_dir

    killed = _run("training.train_lora", "--advisor", ADVISOR, "--model", str(tiny_model_dir), "--epochs", "1",
                  "--rank", "4", home=fresh, fault=Fault.kill_at(point))
    assert killed.returncode == -9, killed.stderr[-2000:]
    [v1] = adapter_versions.list_versions(ADVISOR)
    assert v1.version == "v1" and (v1.path / "adapters.safetensors").is_file()
    assert (adapter_versions.active_version(ADVISOR) is None) == point.endswith("set_active")
    assert run_dir(ADVISOR).is_dir()  # the run is still there: --resume would have published v2

    resumed = _run("training.train_lora", "--advisor", ADVISOR, "--resume", home=fresh)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    evs = events(resumed.stdout)
    assert "finished the interrupted publish of v1" in evs[0]["message"]
    assert evs[-1]["event"] == "published" and evs[-1]["version"] == "v1" and evs[-1]["recovered"]
    assert evs[-1]["active"] and not [e for e in evs if e["event"] in ("start", "step")]
    assert [v.version for v in adapter_versions.list_versions(ADVISOR)] == ["v1"]
    assert adapter_versions.read_active(ADVISOR).version == "v1"  # type: ignore[union-attr]
    assert not run_dir(ADVISOR).exists() and not list(run_dir(ADVISOR).parent.glob(".finished-*"))


def test_a_kill_at_the_dataset_swap_is_cleaned_up_next_time(fresh: Path, tmp_path: Path) -> None:
    from training.dataset import dataset_dir, load_dataset

    names = make_portfolio(tmp_path / "pf", n=4, broken=False)
    targets = str(write_targets(tmp_path / "t.json", names))
    folder = dataset_dir(ADVISOR)
    first = load_dataset(ADVISOR).hash

    def prepare(seed: int, point: str) -> None:
        proc = _run("training.prepare_dataset", "--advisor", ADVISOR, "--portfolio", str(tmp_path / "pf"), "--targets",
                    targets, "--seed", str(seed), "--val-fraction", "0.5", home=fresh, fault=Fault.kill_at(point))
        assert proc.returncode == -9, proc.stderr[-2000:]

    def leftovers() -> list[str]:
        return sorted(p.name.split("-")[0][1:] for p in folder.parent.iterdir() if p.name.startswith((".old-", ".staging-")))

    prepare(1, "training.dataset:_remove")  # swapped in, the old one not yet deleted
    assert leftovers() == ["old"]
    second = load_dataset(ADVISOR).hash  # the next run's load cleans up
    assert second != first and leftovers() == []

    prepare(2, "training.dataset:_move_aside:after")  # between the two renames: no dataset in place
    assert not (folder / "dataset_dict.json").exists() and leftovers() == ["old", "staging"]
    staged = json.loads(next(folder.parent.glob(".staging-*/mondrian_dataset.json")).read_text())
    third = load_dataset(ADVISOR)  # the swap is finished with the fully written new dataset
    assert third.hash == staged["hash"] not in (first, second) and leftovers() == []


@pytest.mark.parametrize(("content", "problem"), [
    (b"../../../etc\n", "points outside the advisor's adapter folder"),
    (b"v99\n", "names v99, which does not exist (versions: v1)"),
    (bytes(range(256)) * 4, "bytes that are not a version name"),
    (b"", "is empty"),
    (None, "is not a plain file"),
])
def test_a_broken_active_pointer_is_named(content: bytes | None, problem: str, fresh: Path,
                                          tiny_adapters: dict[str, Path], tiny_model_dir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from training.common import run_main
    from training.versions import main as versions_main

    _publish(tiny_adapters["a"], tiny_model_dir)
    pointer = adapter_versions.advisor_root(ADVISOR) / "active"
    pointer.unlink()
    if content is None:
        pointer.mkdir()
    else:
        pointer.write_bytes(content)
    with pytest.raises(ActivePointerError) as caught:
        adapter_versions.read_active(ADVISOR)
    assert str(pointer) in str(caught.value) and problem in str(caught.value)
    assert adapter_versions.active_version(ADVISOR) is None  # displays: simply none
    assert run_main(versions_main, ["list", "--advisor", ADVISOR]) == 0
    assert f"warning: {pointer}: " in capsys.readouterr().out
    assert run_main(versions_main, ["rollback", "--advisor", ADVISOR]) == 2
    assert problem in capsys.readouterr().err
    if content is None:
        pointer.rmdir()
    assert run_main(versions_main, ["activate", "--advisor", ADVISOR, "v1"]) == 0  # the fix
    assert adapter_versions.read_active(ADVISOR).version == "v1"  # type: ignore[union-attr]


def test_critique_falls_back_with_the_pointer_problem(fresh: Path, tiny_adapters: dict[str, Path],
                                                     tiny_model_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    from app.engine.adapters.manager import AdapterError
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.store.database import Store

    _publish(tiny_adapters["a"], tiny_model_dir)
    pointer = adapter_versions.advisor_root(ADVISOR) / "active"
    pointer.write_text("../../../etc\n")
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (96, 64), (40, 90, 160)).save(photo)
    from app.engine.advisors import Advisor, save_user_advisor

    save_user_advisor(Advisor(id=ADVISOR, name="Faulty", bio="x"))
    with Store(tmp_path / "t.db") as store:
        service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=600), store=store)
        try:
            result = service.critique(photo, ADVISOR, "auto")
            assert result.effective_mode == "baseline" and result.adapter_version is None
            assert str(pointer) in (result.fallback_reason or "") and "points outside" in (result.fallback_reason or "")
            with pytest.raises(AdapterError) as caught:
                service.critique(photo, ADVISOR, "lora")
            assert caught.value.kind == "bad_pointer" and str(pointer) in str(caught.value)
        finally:
            service.close()


# ---------------------------------------------------------------------------- bad settings

def test_a_bad_settings_file_is_exit_2_in_every_entry_point(fresh: Path, tiny_adapters: dict[str, Path],
                                                            tiny_model_dir: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from app.engine.settings import settings_path
    from training import distributed, evaluate, prepare_dataset, train_lora, versions
    from training.common import run_main

    version = _publish(tiny_adapters["a"], tiny_model_dir)
    (version.path / "manifest.json").unlink()  # fuse then takes the base model from the settings
    text = json.dumps({"max_image_edge": 0})
    settings_path().write_text(text)
    calls = {
        prepare_dataset: ["--advisor", ADVISOR, "--portfolio", str(fresh), "--jsonl"],
        train_lora: ["--advisor", ADVISOR],
        evaluate: ["--advisor", ADVISOR, "--jsonl"],
        versions: ["fuse", "--advisor", ADVISOR, "v1"],
        distributed: ["check", "--advisor", ADVISOR, "--hosts", "localhost", "--jsonl"],
    }
    for module, argv in calls.items():
        assert run_main(module.main, argv) == 2, module.__name__
        out, err = capsys.readouterr()
        assert err.startswith("error: ") and "Traceback" not in err, (module.__name__, err)
        assert str(settings_path()) in err and "'max_image_edge'" in err, (module.__name__, err)
        if out.strip():  # the JSON-lines commands: the error event has the same text
            last = json.loads(out.strip().splitlines()[-1])
            assert last["event"] == "error" and "error: " + last["message"] == err.rstrip("\n"), module.__name__
            assert last["code"] == 2 and last["reason"] == "settings"
        else:
            assert module in (versions,), module.__name__
    assert settings_path().read_text() == text  # the user's file is left as it was
