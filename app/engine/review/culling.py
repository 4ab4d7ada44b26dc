"""The user's cull of a review as a journal: every pick / reject / star / colour-label change is one
undoable step, and the steps survive a restart of the window.

Flags and stars live on the review's frame rows (``store.reviews.update_frame``); colour labels (Lightroom's
Red / Yellow / Green / Blue, keys 6-9) have no column there, so they live in this journal beside the
undo and redo stacks, in ``<data>/reviews/<review id>/culling.json`` (written atomically). The window,
the CLI and the API all cull through :class:`CullJournal`, so an undo is the same everywhere.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine import atomic
from app.engine.review.export import export_dir
from app.engine.store.reviews import ReviewNotFoundError

if TYPE_CHECKING:
    from app.engine.store.database import Store

log = logging.getLogger(__name__)

LABELS = ("Red", "Yellow", "Green", "Blue")  # keys 6, 7, 8, 9 as in Lightroom
FIELDS = ("flag", "stars", "label")
MAX_STEPS = 500  # undo depth kept on disk


@dataclass(frozen=True)
class Change:
    path: str
    field: str  # one of FIELDS
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "field": self.field, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class Step:
    """One user action (it may touch several frames: a multi-selection, "reject the rest of the burst")."""

    description: str
    changes: tuple[Change, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "changes": [c.to_dict() for c in self.changes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        return cls(str(data["description"]), tuple(Change(str(c["path"]), str(c["field"]), c["before"], c["after"])
                                                   for c in data["changes"] if c.get("field") in FIELDS))


def journal_path(review_id: str) -> Path:
    return export_dir(review_id) / "culling.json"


class CullJournal:
    """The cull of one review: apply a step, undo, redo; persisted after each."""

    def __init__(self, store: Store, review_id: str, path: Path | None = None):
        self.store, self.review_id = store, review_id
        self.path = path or journal_path(review_id)
        self.labels: dict[str, str] = {}
        self.undo_stack: list[Step] = []
        self.redo_stack: list[Step] = []
        self._load()

    # ---- persistence ---------------------------------------------------------------------------
    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.labels = {str(k): str(v) for k, v in data.get("labels", {}).items() if v in LABELS}
            self.undo_stack = [Step.from_dict(s) for s in data.get("undo", [])]
            self.redo_stack = [Step.from_dict(s) for s in data.get("redo", [])]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # the cull itself (flags, stars) is in the database: only the undo history is lost
            log.warning("%s: the culling journal is unreadable (%s); starting a new one", self.path, exc)
            self.labels, self.undo_stack, self.redo_stack = {}, [], []

    def _save(self) -> None:
        atomic.write_json(self.path, {"labels": self.labels,
                                      "undo": [s.to_dict() for s in self.undo_stack[-MAX_STEPS:]],
                                      "redo": [s.to_dict() for s in self.redo_stack[-MAX_STEPS:]]})

    # ---- reading -------------------------------------------------------------------------------
    def value(self, path: str, field: str) -> Any:
        if field == "label":
            return self.labels.get(path)
        row = self.store.reviews.get_frame(self.review_id, path)
        return getattr(row, field)

    def _write(self, path: str, field: str, value: Any) -> None:
        if field == "label":
            if value:
                self.labels[path] = value
            else:
                self.labels.pop(path, None)
        else:
            try:
                self.store.reviews.update_frame(self.review_id, path, **{field: value})
            except ReviewNotFoundError:  # the file left the folder since: nothing to undo there
                log.info("%s is no longer in review %s", path, self.review_id)

    # ---- acting --------------------------------------------------------------------------------
    def apply(self, description: str, paths: Iterable[str], field: str, value: Any) -> Step | None:
        """Set ``field`` to ``value`` on every path (a label toggles off when all already have it).
        Returns the step, or None when nothing changed."""
        if field not in FIELDS:
            raise ValueError(f"a culling change sets one of {', '.join(FIELDS)}, not {field!r}")
        if field == "label" and value is not None and value not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)}, not {value!r}")
        paths = list(dict.fromkeys(paths))
        befores = {p: self.value(p, field) for p in paths}
        if field == "label" and value is not None and all(b == value for b in befores.values()):
            value = None  # pressing 6 again removes red, as in Lightroom
        changes = tuple(Change(p, field, befores[p], value) for p in paths if befores[p] != value)
        if not changes:
            return None
        for c in changes:
            self._write(c.path, field, c.after)
        step = Step(description, changes)
        self.undo_stack.append(step)
        self.redo_stack.clear()
        self._save()
        return step

    def undo(self) -> Step | None:
        if not self.undo_stack:
            return None
        step = self.undo_stack.pop()
        for c in reversed(step.changes):
            self._write(c.path, c.field, c.before)
        self.redo_stack.append(step)
        self._save()
        return step

    def redo(self) -> Step | None:
        if not self.redo_stack:
            return None
        step = self.redo_stack.pop()
        for c in step.changes:
            self._write(c.path, c.field, c.after)
        self.undo_stack.append(step)
        self._save()
        return step
