"""Finding the vision-language model on disk, or downloading it on request.

Mondrian is offline-first: ordinary commands run with the Hugging Face offline switches set
(:func:`configure_offline` must run before transformers or huggingface_hub is imported, because
they read the switches at import time). Only ``mondrian download`` goes online, and only
when asked. A model reference is either a local folder or a Hugging Face repo id.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from app.engine.settings import DEFAULT_MODEL

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
ONLINE_ENV = "MONDRIAN_ONLINE"


class ModelNotAvailableError(RuntimeError):
    """The model is not on this machine (or a folder is not a usable model)."""

    def __init__(self, model_ref: str, message: str):
        self.model_ref = model_ref
        super().__init__(message)


def configure_offline(online: bool | None = None) -> bool:
    """Set the Hugging Face offline switches unless online use is asked for. Returns offline-ness.

    Call before importing transformers / huggingface_hub / mlx_vlm.
    """
    if online is None:
        online = os.environ.get(ONLINE_ENV, "") not in ("", "0")
    if not online:
        for var in OFFLINE_VARS:
            os.environ.setdefault(var, "1")
    return is_offline()


def is_offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0", "false", "False") for v in OFFLINE_VARS)


def looks_like_local(model_ref: str) -> bool:
    """A folder path rather than a repo id ("org/name")."""
    p = Path(model_ref).expanduser()
    return p.exists() or model_ref.startswith((".", "/", "~")) or model_ref.count("/") != 1


def _check_folder(model_ref: str, folder: Path) -> Path:
    if not folder.is_dir():
        raise ModelNotAvailableError(model_ref, f"model folder {folder} does not exist")
    if not (folder / "config.json").is_file():
        raise ModelNotAvailableError(model_ref, f"model folder {folder} has no config.json: not an mlx-vlm model")
    if not any(folder.glob("*.safetensors")):
        raise ModelNotAvailableError(model_ref, f"model folder {folder} has no *.safetensors weights")
    return folder


def _cached_snapshot(repo_id: str) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        return None
    return path if (path / "config.json").is_file() else None


def missing_model_message(model_ref: str) -> str:
    """What is missing and how to get it: a local folder names its problem (downloading a path is
    meaningless), a repo id the command that downloads it."""
    if looks_like_local(model_ref):
        try:
            _check_folder(model_ref, Path(model_ref).expanduser().resolve())
        except ModelNotAvailableError as exc:
            problem = str(exc)
        else:
            problem = f"model folder {model_ref} could not be read"
        return (f"The {problem}. Pass --model with a local mlx-vlm model folder (config.json, *.safetensors, "
                "tokenizer files), or get the default model once with `mondrian download` (needs internet).")
    return (
        f"The model '{model_ref}' is not on this machine"
        + (" and Mondrian is offline" if is_offline() else "")
        + f". Download it once with `mondrian download {model_ref}` (needs internet; about 3 GB for the "
        "default), or pass --model /path/to/a/local/mlx-vlm/model/folder."
    )


def resolve_model(model_ref: str | None = None) -> Path:
    """Local folder of ``model_ref`` (default model if None), without any network access."""
    model_ref = model_ref or DEFAULT_MODEL
    if looks_like_local(model_ref):
        return _check_folder(model_ref, Path(model_ref).expanduser().resolve())
    snapshot = _cached_snapshot(model_ref)
    if snapshot is None:
        raise ModelNotAvailableError(model_ref, missing_model_message(model_ref))
    return _check_folder(model_ref, snapshot)


def is_model_available(model_ref: str | None = None) -> bool:
    try:
        resolve_model(model_ref)
    except ModelNotAvailableError:
        return False
    return True


def download_model(model_ref: str | None = None, progress: Callable[[int, int], None] | None = None) -> Path:
    """Download a Hugging Face repo into the HF cache (online). ``progress(done_bytes, total_bytes)``."""
    model_ref = model_ref or DEFAULT_MODEL
    if looks_like_local(model_ref):
        return resolve_model(model_ref)
    if is_offline():
        raise ModelNotAvailableError(
            model_ref, f"cannot download '{model_ref}': offline mode is on (unset HF_HUB_OFFLINE / set {ONLINE_ENV}=1)"
        )
    from huggingface_hub import snapshot_download

    kwargs = {}
    if progress is not None:
        kwargs["tqdm_class"] = _progress_tqdm(progress)
    try:
        path = snapshot_download(model_ref, allow_patterns=["*.json", "*.safetensors", "*.jinja", "*.txt",
                                                            "*.model", "*.tiktoken"], **kwargs)
    except Exception as exc:  # network and hub errors come in many classes
        raise ModelNotAvailableError(model_ref, f"could not download '{model_ref}': {exc}") from exc
    return _check_folder(model_ref, Path(path))


def _progress_tqdm(progress: Callable[[int, int], None]):
    from tqdm.auto import tqdm

    class _Progress(tqdm):
        def update(self, n: float | None = 1) -> bool | None:
            out = super().update(n)
            if self.unit == "B" and self.total:
                progress(int(self.n), int(self.total))
            return out

    return _Progress
