"""User settings, declared in one typed place, persisted as versioned JSON with upgrades.

Unknown keys from a newer version are kept out of the dataclass but not fatal; a value of the
wrong type is replaced by the default and reported, so a hand-edited file never stops the app.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from app.engine import atomic, paths

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1
DEFAULT_MODEL = "mlx-community/Qwen3-VL-4B-Instruct-4bit"


@dataclass
class Settings:
    model: str = field(default=DEFAULT_MODEL, metadata={"help": "Hugging Face repo id or local model folder"})
    max_image_edge: int = field(default=1024, metadata={"help": "long edge in px the photo is scaled to"})
    constrained_decoding: bool = field(default=True, metadata={"help": "force schema-valid JSON output"})
    grounding: bool = field(default=True, metadata={"help": "put measured photo facts into the prompt"})
    max_tokens: int = field(default=1500, metadata={"help": "generation limit per report"})
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy (reproducible)"})
    max_text_chars: int = field(default=400, metadata={"help": "longest comment the schema allows"})
    default_advisor: str = "ansel"
    default_mode: str = "auto"
    ab_test_enabled: bool = False
    ab_test_split: float = field(default=0.5, metadata={"help": "share of blind A/B runs on fine-tuned"})
    max_upload_mb: int = field(default=50, metadata={"help": "largest photo the local HTTP API accepts"})
    version: int = SETTINGS_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], problems: list[str] | None = None) -> Settings:
        data = upgrade(dict(data))
        defaults = cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value, default = data[f.name], getattr(defaults, f.name)
            ok = isinstance(value, type(default)) and not (isinstance(value, bool) and not isinstance(default, bool))
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value, ok = float(value), True
            if ok:
                values[f.name] = value
            elif problems is not None:
                problems.append(f"setting '{f.name}' has the wrong type ({type(value).__name__}); using default")
        values["version"] = SETTINGS_VERSION
        return cls(**values)


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older settings dict up to :data:`SETTINGS_VERSION` (one step per version)."""
    version = data.get("version", 0)
    if not isinstance(version, int) or version < 1:
        # v0 (no version key) called the model field "model_path".
        if "model_path" in data and "model" not in data:
            data["model"] = data.pop("model_path")
        data["version"] = 1
    return data


def settings_path() -> Path:
    return paths.config_dir() / "settings.json"


def load_settings(problems: list[str] | None = None) -> Settings:
    path = settings_path()
    if not path.exists():
        return Settings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"{path}: settings file is unreadable ({exc}); using defaults"
        log.warning(msg)
        if problems is not None:
            problems.append(msg)
        return Settings()
    return Settings.from_dict(data, problems)


def save_settings(settings: Settings) -> Path:
    path = settings_path()
    atomic.write_json(path, settings.to_dict())
    return path
