"""Who may read what Mondrian writes: files beside the user's photos (sidecars, crops, exports) get
the umask's mode like the photos themselves; everything in the data folder stays private."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.engine import atomic, paths


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_new_files_beside_photos_follow_the_umask(tmp_path: Path, home: Path, umask_022: None) -> None:
    photos = tmp_path / "shoot"
    photos.mkdir()
    atomic.write_bytes(photos / "IMG_1.xmp", b"x")
    atomic.write_new_bytes(photos / "IMG_1-crop.jpg", b"y")
    assert _mode(photos / "IMG_1.xmp") == 0o644 and _mode(photos / "IMG_1-crop.jpg") == 0o644
    os.umask(0o027)
    atomic.write_text(photos / "report.html", "z")
    assert _mode(photos / "report.html") == 0o640
    os.chmod(photos / "IMG_1.xmp", 0o664)  # a replaced file keeps its own mode
    atomic.write_bytes(photos / "IMG_1.xmp", b"xx")
    assert _mode(photos / "IMG_1.xmp") == 0o664
    assert not paths.is_private_path(photos / "IMG_1.xmp")


def test_files_in_the_data_folder_are_private(home: Path, umask_022: None) -> None:
    target = paths.data_dir() / "reviews" / "r1" / "ratings.csv"
    assert paths.is_private_path(target)
    atomic.write_text(target, "a,b\n")
    assert _mode(target) == 0o600 and _mode(target.parent) == 0o700


def test_data_folder_insides_are_tightened_links_never_followed(tmp_path: Path, home: Path,
                                                              umask_022: None) -> None:
    data = home / "data"
    checkpoints = data / "training" / "ansel" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "adapters.safetensors").write_bytes(b"w")
    (data / "datasets" / "ansel").mkdir(parents=True)
    (data / "datasets" / "ansel" / "train.jsonl").write_text("{}")
    original = tmp_path / "original.jpg"
    original.write_bytes(b"photo")
    (data / "references").mkdir()
    (data / "references" / "linked.jpg").symlink_to(original)
    assert _mode(checkpoints) == 0o755 and _mode(checkpoints / "adapters.safetensors") == 0o644
    paths._tightened.discard(data)
    paths.data_dir()
    for path in (data / "training", checkpoints, data / "datasets" / "ansel", data / "references"):
        assert _mode(path) == 0o700, path
    assert _mode(checkpoints / "adapters.safetensors") == 0o600
    assert _mode(data / "datasets" / "ansel" / "train.jsonl") == 0o600
    assert _mode(original) == 0o644  # the user's photo behind a link is not ours to change


def test_training_commands_write_privately_and_restore_the_umask(tmp_path: Path, home: Path,
                                                                 umask_022: None) -> None:
    with paths.private_umask():  # what train_lora / prepare_dataset run under (mlx, PIL write their own files)
        (tmp_path / "checkpoints").mkdir()
        (tmp_path / "checkpoints" / "adapters.safetensors").write_bytes(b"w")
    assert _mode(tmp_path / "checkpoints") == 0o700 and _mode(tmp_path / "checkpoints" / "adapters.safetensors") == 0o600
    (tmp_path / "after.txt").write_text("x")
    assert _mode(tmp_path / "after.txt") == 0o644
