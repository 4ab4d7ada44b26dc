"""User settings, declared in one typed place, persisted as versioned JSON with upgrades.

Every field carries its help text and its allowed values (:class:`Rule`): the same rule checks a
value read from ``settings.json``, a value a front end assigns (``Settings.__setattr__``) and a
command-line option (:func:`cli_type`), so there are no ad-hoc checks spread around. A file with
a bad value is never silently replaced: :func:`load_settings` raises :class:`SettingsError`
naming the file, the key, the value and what is allowed, and leaves the file as it is (the CLI
prints the message and exits with status 2; the GUI shows the same text). Unknown keys (from a
newer version, or a typo) are reported as problems but are not fatal.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from app.engine import atomic, paths

log = logging.getLogger(__name__)

SETTINGS_VERSION = 3
DEFAULT_MODEL = "mlx-community/Qwen3-VL-4B-Instruct-4bit"
MAX_SETTINGS_BYTES = 100 << 20  # a settings file is a few hundred bytes: far above that it is not ours
MODES = ("auto", "baseline", "rag", "lora", "technical")


@dataclass(frozen=True)
class Rule:
    """What a setting accepts: its type, a numeric range, a length bound, a pattern or a choice."""

    kind: type
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    max_length: int | None = None
    pattern: str | None = None
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """The allowed values in words (used in every error message)."""
        if self.kind is bool:
            return "true or false"
        if self.kind is list:
            return (f"a list of at most {_number(self.maximum or 0)} texts of 1 to {self.max_length} characters "
                    "without spaces")
        if self.kind is dict:
            return "a table of values"
        if self.kind is str:
            if self.choices:
                return "one of " + ", ".join(self.choices)
            text = f"text of 1 to {self.max_length} characters"
            return text + (f" matching {self.pattern}" if self.pattern else "")
        noun = "a whole number" if self.kind is int else "a finite number"
        low = _number(self.minimum) if self.minimum is not None else None
        high = _number(self.maximum) if self.maximum is not None else None
        if low is not None and high is not None:
            if self.exclusive_minimum:
                return f"{noun} above {low} and at most {high}"
            return f"{noun} from {low} to {high}"
        return noun

    def check(self, value: Any) -> Any:
        """Return the value (an int widened to float for a float setting) or raise ValueError."""
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError(self.describe())
            return value
        if self.kind is list:
            if not isinstance(value, (list, tuple)) or (self.maximum is not None and len(value) > self.maximum):
                raise ValueError(self.describe())
            for item in value:
                if not isinstance(item, str) or not item or len(item) > (self.max_length or 0) \
                        or any(c.isspace() or not c.isprintable() for c in item):
                    raise ValueError(self.describe())
            return tuple(value)
        if self.kind is dict:
            if not isinstance(value, dict):
                raise ValueError(self.describe())
            return value
        if self.kind is str:
            if not isinstance(value, str):
                raise ValueError(self.describe())
            if self.choices:
                if value not in self.choices:
                    raise ValueError(self.describe())
                return value
            if not value.strip() or (self.max_length is not None and len(value) > self.max_length) \
                    or "\x00" in value or (self.pattern and not re.fullmatch(self.pattern, value)):
                raise ValueError(self.describe())
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(self.describe())
        if self.kind is int:
            if isinstance(value, float):
                raise ValueError(self.describe())
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(self.describe())
        too_low = self.minimum is not None and (value <= self.minimum if self.exclusive_minimum
                                                else value < self.minimum)
        if too_low or (self.maximum is not None and value > self.maximum):
            raise ValueError(self.describe())
        return value


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def setting(default: Any, help: str, rule: Rule) -> Any:
    """A dataclass field with its help text and rule (mlx-lm's ``metadata={"help": ...}`` habit)."""
    return field(default=default, metadata={"help": help, "rule": rule})


def show_value(value: Any, limit: int = 60) -> str:
    """A value as the user wrote it, shortened (a 60 MB string is not printed whole)."""
    if isinstance(value, str) and len(value) > limit:
        return f"{json.dumps(value[:limit], ensure_ascii=False)}… ({len(value):,} characters)"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, float) or math.isfinite(value) \
        else str(value)
    if len(text) > limit:
        return f"{text[:limit]}… ({len(text):,} characters)"
    return text


class SettingValueError(ValueError):
    """One setting's value is not allowed; the message names the key, the value and the rule."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"setting '{key}' is {show_value(value)}; allowed: {allowed}")


class SettingsError(ValueError):
    """The settings file cannot be used as it is; the message names the file and every bad key."""

    def __init__(self, path: Path, problems: list[str]):
        self.path, self.problems = path, problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{path}: the settings file is not valid (it was left unchanged; fix or delete it):\n"
                         f"{lines}")


def _rule_of(name: str) -> Rule:
    rule = _RULES.get(name)
    if rule is None:
        raise AttributeError(f"there is no setting '{name}'")
    return rule


@dataclass
class Settings:
    model: str = setting(DEFAULT_MODEL, "Hugging Face repo id or local model folder",
                         Rule(str, max_length=4096))
    max_image_edge: int = setting(1024, "long edge in px the photo is scaled to",
                                  Rule(int, minimum=32, maximum=16384))
    triage_image_edge: int = setting(0, "long edge in px of the photo for triage scores; 0 = derived from "
                                     "the model's patch size (a few hundred image tokens)",
                                     Rule(int, minimum=0, maximum=16384))
    constrained_decoding: bool = setting(True, "force schema-valid JSON output", Rule(bool))
    grounding: bool = setting(True, "put measured photo facts into the prompt", Rule(bool))
    max_tokens: int = setting(0, "cap on tokens per report; 0 = derived from the model so a report always completes",
                              Rule(int, minimum=0, maximum=1_048_576))
    temperature: float = setting(0.0, "0 = greedy (reproducible)", Rule(float, minimum=0.0, maximum=2.0))
    max_text_chars: int = setting(400, "longest comment the schema allows (the token budget follows from it)",
                                  Rule(int, minimum=1, maximum=20_000))
    default_advisor: str = setting("ansel", "advisor picked at start",
                                   Rule(str, max_length=64, pattern=r"[a-z0-9][a-z0-9_-]*"))
    default_mode: str = setting("auto", "mode picked at start", Rule(str, choices=MODES))
    ab_test_enabled: bool = setting(False, "blind A/B test in the GUI", Rule(bool))
    ab_test_split: float = setting(0.5, "share of blind A/B runs on fine-tuned",
                                   Rule(float, minimum=0.0, maximum=1.0))
    max_upload_mb: float = setting(50.0, "largest photo the local HTTP API accepts, in MB",
                                   Rule(float, minimum=0.0, exclusive_minimum=True, maximum=4096.0))
    backups_kept: int = setting(7, "daily database backups kept (0: none)", Rule(int, minimum=0, maximum=365))
    upload_thumbnail_days: int = setting(30, "days the HTTP API keeps the thumbnail of an uploaded photo (0: none)",
                                         Rule(int, minimum=0, maximum=36500))
    allowed_hosts: tuple[str, ...] = setting((), "extra Host names the HTTP API answers to (loopback always)",
                                             Rule(list, maximum=64, max_length=253))
    allowed_origins: tuple[str, ...] = setting((), "web origins allowed to call the HTTP API (loopback pages "
                                               "always; '*' for any)", Rule(list, maximum=64, max_length=2048))
    vision_cache_mb: float = setting(256.0, "memory for photos' vision features kept between passes, in MB (0: off)",
                                     Rule(float, minimum=0.0, maximum=65536.0))
    prefix_cache_mb: float = setting(1024.0, "memory for prompt K/V kept between passes on a photo, in MB (0: off)",
                                     Rule(float, minimum=0.0, maximum=65536.0))
    training_tab: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "the Training tab's last portfolio folder, hyperparameters and hosts (the tab owns its keys)",
        "rule": Rule(dict)})
    version: int = SETTINGS_VERSION

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "version":
            try:
                value = _rule_of(name).check(value)
            except ValueError as exc:
                raise SettingValueError(name, value, str(exc)) from None
        object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], problems: list[str] | None = None) -> Settings:
        """Settings from a (possibly older) dict; raises SettingValueError listing every bad key
        (as ``.problems`` of a :class:`SettingsError` when read from the file)."""
        data = upgrade(dict(data))
        values: dict[str, Any] = {}
        bad: list[str] = []
        for name, rule in _RULES.items():
            if name in data:
                try:
                    values[name] = rule.check(data[name])
                except ValueError as exc:
                    bad.append(str(SettingValueError(name, data[name], str(exc))))
        unknown = sorted(set(data) - set(_RULES) - {"version"})
        if unknown and problems is not None:
            problems.append(f"unknown setting(s) ignored: {', '.join(unknown)}")
        if bad:
            raise _FieldErrors(bad)
        return cls(**values)


class _FieldErrors(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


_RULES: dict[str, Rule] = {f.name: f.metadata["rule"] for f in fields(Settings) if "rule" in f.metadata}


def describe(name: str) -> str:
    """The allowed values of a setting, in words (for help texts)."""
    return _rule_of(name).describe()


def bounds(name: str) -> tuple[float, float]:
    """A numeric setting's (minimum, maximum), for spin boxes."""
    rule = _rule_of(name)
    if rule.minimum is None or rule.maximum is None:
        raise ValueError(f"setting '{name}' has no numeric range")
    return rule.minimum, rule.maximum


def check_setting(name: str, value: Any) -> Any:
    """``value`` checked against the setting's rule (raises :class:`SettingValueError`)."""
    try:
        return _rule_of(name).check(value)
    except ValueError as exc:
        raise SettingValueError(name, value, str(exc)) from None


def cli_type(name: str, option: str | None = None) -> Callable[[str], Any]:
    """An argparse ``type=`` for an option that overrides setting ``name`` (same rule as the file):
    ``--max_upload_mb nan`` is refused with the allowed range instead of crashing later."""
    rule = _rule_of(name)
    label = option or f"--{name}"

    def parse(text: str) -> Any:
        try:
            value: Any = text
            if rule.kind is int:
                value = int(text)
            elif rule.kind is float:
                value = float(text)
            return rule.check(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{label} {text!r}: allowed: {rule.describe()}") from None

    parse.__name__ = name  # argparse names the type in its own messages
    return parse


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older settings dict up to :data:`SETTINGS_VERSION` (one step per version, as
    Picard's ``config_upgrade`` does)."""
    version = data.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        # v0 (no version key) called the model field "model_path".
        if "model_path" in data and "model" not in data:
            data["model"] = data.pop("model_path")
        version = 1
    if version < 2:
        # v1 stored max_upload_mb as a whole number; v2 takes any positive size and adds backups_kept
        # (later fields such as the cache budgets have defaults: an older file needs no step).
        version = 2
    if version < 3:
        # v2 saved the fixed 1500-token limit; v3 derives the limit from the model (0) unless set.
        if data.get("max_tokens") == 1500:
            data["max_tokens"] = 0
        version = 3
    data["version"] = max(version, SETTINGS_VERSION)
    return data


def settings_path() -> Path:
    return paths.config_dir() / "settings.json"


def load_settings(problems: list[str] | None = None) -> Settings:
    """The saved settings (defaults when there is no file); raises :class:`SettingsError` when the
    file cannot be used, without touching it. Non-fatal notes go to ``problems``."""
    path = settings_path()
    if not path.exists() and not path.is_symlink():
        return Settings()
    if path.is_dir():
        raise SettingsError(path, ["it is a folder, not a file"])
    try:
        with path.open("rb") as handle:  # bounded read: a link to a device never ends
            raw = handle.read(MAX_SETTINGS_BYTES + 1)
        if len(raw) > MAX_SETTINGS_BYTES:
            raise SettingsError(path, [f"it is over {MAX_SETTINGS_BYTES:,} bytes: not a settings file"])
        data = json.loads(raw.decode("utf-8"))
    except SettingsError:
        raise
    except OSError as exc:
        raise SettingsError(path, [f"it cannot be read ({exc.strerror or exc})"]) from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(path, [f"it is not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc
    except ValueError as exc:
        raise SettingsError(path, [f"it is not valid JSON ({exc})"]) from exc
    if not isinstance(data, dict):
        raise SettingsError(path, [f"it holds a JSON {type(data).__name__}, not an object of settings"])
    try:
        settings = Settings.from_dict(data, problems)
    except _FieldErrors as exc:
        raise SettingsError(path, exc.problems) from None
    for problem in problems or ():
        log.warning("%s: %s", path, problem)
    return settings


def salvage_settings() -> tuple[Settings, list[str]]:
    """The usable part of a settings file that :func:`load_settings` refused: every valid setting
    kept (the model path above all), each invalid one back to its default. Returns the settings and
    the names of the settings that were reset (all of them when the file is not a JSON object)."""
    path = settings_path()
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SETTINGS_BYTES + 1)
        data = json.loads(raw.decode("utf-8")) if len(raw) <= MAX_SETTINGS_BYTES else None
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        return Settings(), ["all (the file is not readable as settings)"]
    data = upgrade(dict(data))
    values: dict[str, Any] = {}
    reset: list[str] = []
    for name, rule in _RULES.items():
        if name in data:
            try:
                values[name] = rule.check(data[name])
            except ValueError:
                reset.append(name)
    return Settings(**values), reset


def save_settings(settings: Settings) -> Path:
    path = settings_path()
    atomic.write_json(path, settings.to_dict())
    return path


def set_aside_settings() -> Path | None:
    """Rename an unusable settings file to ``settings.json.invalid-<time>`` (kept, never deleted)
    so the app can start on defaults; returns the new name."""
    path = settings_path()
    if not path.exists() and not path.is_symlink():
        return None
    kept = path.with_name(f"{path.name}.invalid-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    path.rename(kept)
    return kept
