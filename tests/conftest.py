"""Shared test set-up: offline, headless, a throwaway MONDRIAN_HOME, and a tiny real model.

The environment is set at import, before anything imports transformers, huggingface_hub or Qt:
they read these variables at import time.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

# The checkout root, so `app` and `training` import without an editable install.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["QT_QPA_PLATFORM"] = "offscreen"
# Never touch the real user folders, even if the developer has MONDRIAN_HOME set.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="mondrian-tests-"))
os.environ["MONDRIAN_HOME"] = str(_SESSION_HOME)

import pytest  # noqa: E402


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def mondrian_home() -> Path:
    """The session's MONDRIAN_HOME (shared by all tests; use tmp_path for per-test isolation)."""
    return _SESSION_HOME


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random qwen3_vl model folder, built once per session (well under a second)."""
    from app.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-qwen3-vl")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path):
    """``(model, processor)`` from the real ``mlx_vlm.load``, loaded once.

    MLX streams belong to the thread that made them: generate with it on the pytest main
    thread only. Tests that run a model thread must load their own model there.
    """
    import mlx_vlm

    return mlx_vlm.load(str(tiny_model_dir))


@pytest.fixture
def tiny_image():
    """A small RGB gradient photo (PIL), different on each axis so orientation shows."""
    from PIL import Image

    img = Image.new("RGB", (96, 64))
    img.putdata([(x * 255 // 95, y * 255 // 63, 128) for y in range(64) for x in range(96)])
    return img


@pytest.fixture(scope="session")
def tiny_adapters(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real adapters for the tiny model, a few steps of mlx-vlm's own trainer each (~2 s in all).

    ``a`` and ``b``: same layout (LoRA rank 4 on every text Linear), different weights.
    ``r2``: rank 2 on q_proj/v_proj only (another layout). ``dora``: a DoRA adapter.
    Trained on the main thread; treat the folders as read-only (copy one to damage it).
    """
    from app.testing.tiny_adapter import train_tiny_adapter

    root = tmp_path_factory.mktemp("adapters")
    return {
        "a": train_tiny_adapter(tiny_model_dir, root / "a", seed=1, iters=6, learning_rate=0.1),
        "b": train_tiny_adapter(tiny_model_dir, root / "b", seed=2, iters=6, learning_rate=0.1),
        "r2": train_tiny_adapter(tiny_model_dir, root / "r2", seed=3, rank=2, target_modules=["q_proj", "v_proj"]),
        "dora": train_tiny_adapter(tiny_model_dir, root / "dora", seed=4, train_type="dora"),
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MONDRIAN_HOME per test (an empty database and data folder)."""
    monkeypatch.setenv("MONDRIAN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def window(qtbot, tiny_model_dir: Path, home: Path):
    """The main window on the tiny model, shut down cleanly after the test."""
    from ui_support import make_window

    w = make_window(qtbot, tiny_model_dir, home)
    yield w
    w.shutdown()
