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


# ---- one call for every front end --------------------------------------------------------------------
FLAG_VALUES = ("pick", "reject", "none")


class CullError(ValueError):
    """A cull the engine refuses: names the file or field and what is wrong."""


def describe(field: str, value: Any, count: int) -> str:
    """A step's name, as the window's undo button and the CLI say it: "Pick", "3 stars on 4 frames"."""
    if field == "flag":
        text = {"pick": "Pick", "reject": "Reject", "none": "Unflag"}[str(value)]
    elif field == "stars":
        text = f"{value} star{'s' if value != 1 else ''}"
    else:
        text = f"{value} label" if value else "No label"
    return text + (f" on {count} frames" if count > 1 else "")


def frames_named(store: Store, review_id: str, names: Iterable[str]) -> list[str]:
    """The review's frame paths for what a user typed: a frame's full path, a path relative to the
    review's folder, or a file name that only one frame has. A name that matches no frame, or
    several, is a :class:`CullError` naming it."""
    review = store.reviews.get_review(review_id)
    frames = [f.path for f in store.reviews.list_frames(review_id)]
    exact = set(frames)
    by_name: dict[str, list[str]] = {}
    for path in frames:
        by_name.setdefault(Path(path).name, []).append(path)
    folder = Path(review.folder) if review.folder and not review.folder.startswith("files:") else None
    out = []
    for name in names:
        candidates = [name] if name in exact else []
        if not candidates and folder is not None and str(folder / name) in exact:
            candidates = [str(folder / name)]
        if not candidates:
            candidates = by_name.get(Path(name).name, []) if Path(name).name == name else []
        if not candidates:
            raise CullError(f"{name}: not a frame of review {review_id}")
        if len(candidates) > 1:
            raise CullError(f"{name}: {len(candidates)} frames of review {review_id} have this name "
                            "(in different subfolders): give its path")
        out.append(candidates[0])
    return list(dict.fromkeys(out))


def cull(store: Store, review_id: str, names: Iterable[str], *, flag: str | None = None,
         stars: int | None = None, label: str | None = None) -> list[Step]:
    """Set the flag (pick/reject/none), stars (0-5) and colour label (or ``"none"``) of the named
    frames, one undoable step per field, through the same journal as the window's keys."""
    if flag is not None and flag not in FLAG_VALUES:
        raise CullError(f"flag: one of {', '.join(FLAG_VALUES)}, not {flag!r}")
    if stars is not None and (isinstance(stars, bool) or not isinstance(stars, int) or not 0 <= stars <= 5):
        raise CullError(f"stars: a whole number from 0 to 5, not {stars!r}")
    if label is not None and label != "none" and label not in LABELS:
        raise CullError(f"label: one of {', '.join(LABELS)} or none, not {label!r}")
    if flag is None and stars is None and label is None:
        raise CullError("nothing to set: give a flag, stars or a label")
    paths = frames_named(store, review_id, names)
    if not paths:
        raise CullError("no frames named: give the files to cull")
    journal = CullJournal(store, review_id)
    steps = []
    for field, value in (("flag", flag), ("stars", stars), ("label", label)):
        if value is None:
            continue
        if field == "label" and value == "none":
            value = None
        elif field == "label" and all(journal.labels.get(p) == value for p in paths):
            continue  # setting a label that is there already: no toggle off (that is the key's habit only)
        step = journal.apply(describe(field, value, len(paths)), paths, field, value)
        if step is not None:
            steps.append(step)
    return steps


def undo_cull(store: Store, review_id: str, *, redo: bool = False) -> Step | None:
    """Undo (or redo) the review's last cull step, wherever it was made; None when there is none."""
    journal = CullJournal(store, review_id)
    return journal.redo() if redo else journal.undo()


def cull_state(store: Store, review_id: str) -> list[dict[str, Any]]:
    """Every frame's decision in Mondrian (flag, stars, label), in the review's order."""
    labels = CullJournal(store, review_id).labels
    return [{"path": f.path, "flag": f.flag, "stars": f.stars, "label": labels.get(f.path)}
            for f in store.reviews.list_frames(review_id)]
