"""Advisors: the critic personas a report is written in the voice of.

Built-ins are TOML files in ``resources/advisors/``; user advisors (personal advisors created in
the Training tab, or hand-written) are ``.toml`` or ``.json`` files in ``<data>/advisors/``. A user
advisor with the same id as a built-in overrides it. Ids become folder names (references,
adapters, datasets), so they are restricted to safe names.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.engine import atomic, paths
from app.engine.resources import resource_path

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class AdvisorError(ValueError):
    """An advisor id or file is not valid; the message names which and why."""


class UnknownAdvisorError(AdvisorError, KeyError):
    def __str__(self) -> str:  # KeyError would add quotes
        return str(self.args[0])


def validate_advisor_id(advisor_id: Any) -> str:
    """Return the id if it is a safe name, else raise :class:`AdvisorError` saying why."""
    if not isinstance(advisor_id, str) or not advisor_id.strip():
        raise AdvisorError("advisor id is empty")
    if "/" in advisor_id or "\\" in advisor_id or os_sep_in(advisor_id):
        raise AdvisorError(f"advisor id {advisor_id!r} contains a path separator")
    if ".." in advisor_id:
        raise AdvisorError(f"advisor id {advisor_id!r} contains '..'")
    if not _ID_RE.match(advisor_id):
        raise AdvisorError(
            f"advisor id {advisor_id!r} must be 1-64 characters of lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return advisor_id


def os_sep_in(text: str) -> bool:
    import os

    return any(sep and sep in text for sep in (os.sep, os.altsep))


def slugify(name: str) -> str:
    """A safe advisor id derived from a display name ("Jane Doe" -> "jane_doe")."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:64]
    return slug or "advisor"


@dataclass
class Advisor:
    id: str
    name: str
    bio: str
    looks_for: list[str] = field(default_factory=list)
    prompt: str = ""
    builtin: bool = False
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("source")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "", builtin: bool = False) -> Advisor:
        where = f" in {source}" if source else ""
        if not isinstance(data, dict):
            raise AdvisorError(f"advisor file{where} does not hold a table/object")
        for key in ("id", "name"):
            if not isinstance(data.get(key), str) or not data[key].strip():
                raise AdvisorError(f"advisor field '{key}'{where} is missing or not text")
        try:
            validate_advisor_id(data["id"])
        except AdvisorError as exc:
            raise AdvisorError(f"{exc}{where}") from None
        looks_for = data.get("looks_for", [])
        if isinstance(looks_for, str):
            looks_for = [looks_for]
        if not isinstance(looks_for, list) or not all(isinstance(x, str) for x in looks_for):
            raise AdvisorError(f"advisor field 'looks_for'{where} must be a list of text")
        for key in ("bio", "prompt"):
            if key in data and not isinstance(data[key], str):
                raise AdvisorError(f"advisor field '{key}'{where} must be text")
        return cls(
            id=data["id"], name=data["name"].strip(), bio=str(data.get("bio", "")).strip(),
            looks_for=[x.strip() for x in looks_for if x.strip()], prompt=str(data.get("prompt", "")).strip(),
            builtin=builtin, source=source,
        )


def _read_file(path: Path, builtin: bool) -> Advisor:
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdvisorError(f"{path}: not a valid advisor file ({exc})") from exc
    advisor = Advisor.from_dict(data, source=str(path), builtin=builtin)
    if advisor.id != path.stem:
        raise AdvisorError(f"{path}: advisor id {advisor.id!r} does not match the file name")
    return advisor


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".toml", ".json") and not p.name.startswith("."))


def load_advisors(*, errors: list[str] | None = None) -> dict[str, Advisor]:
    """All advisors by id, built-ins first. A broken user file is skipped and reported in ``errors``."""
    found: dict[str, Advisor] = {}
    for path in _files(resource_path("advisors")):
        advisor = _read_file(path, builtin=True)  # a broken built-in is a packaging bug: raise
        found[advisor.id] = advisor
    for path in _files(paths.advisors_dir()):
        try:
            advisor = _read_file(path, builtin=False)
        except AdvisorError as exc:
            if errors is not None:
                errors.append(str(exc))
            continue
        found[advisor.id] = advisor
    return found


def get_advisor(advisor_id: str) -> Advisor:
    validate_advisor_id(advisor_id)
    advisors = load_advisors()
    if advisor_id not in advisors:
        raise UnknownAdvisorError(
            f"unknown advisor {advisor_id!r}; available: {', '.join(sorted(advisors))}"
        )
    return advisors[advisor_id]


def save_user_advisor(advisor: Advisor) -> Path:
    """Write a user advisor as JSON (atomically) and return its path."""
    validate_advisor_id(advisor.id)
    target = paths.advisors_dir() / f"{advisor.id}.json"
    data = advisor.to_dict()
    data.pop("builtin", None)
    atomic.write_json(target, data)
    return target
