"""What the Review grid shows and how it is culled: the grade of a frame, the filters, the sorts and
the key map (Lightroom's conventions), all in one place so the badges, filters, legend and star
mapping can never disagree.

The grade is :func:`app.engine.critique.report.grade_for_score` of the frame's mean score, the same
function the engine uses, and the stars follow :data:`app.engine.review.grading.STAR_BANDS`, which
are that function's bands (A grades 5 stars ... F 1 star). Nothing here defines a band.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QKeySequence

from app.engine.critique.report import DIMENSION_LABELS, DIMENSIONS, grade_for_score
from app.engine.review.culling import LABELS
from app.engine.review.culling import describe as describe_step
from app.engine.review.grading import PROBLEMS, STAR_BANDS
from app.engine.review.summary import FrameSummary

Predicate = Callable[[FrameSummary], bool]
WEAK_BELOW = 5.0  # "weak in <dimension>": a score under the middle of the scale
LABEL_COLOURS = {"Red": "#d52b1e", "Yellow": "#f2c80f", "Green": "#2e7d32", "Blue": "#1f4e9e"}


def frame_grade(frame: FrameSummary) -> str | None:
    """The letter shown on a tile and matched by the grade filters: from the mean score, never the
    model's own letter (which can contradict its scores)."""
    return grade_for_score(frame.overall) if frame.overall is not None else None


def grade_letter(frame: FrameSummary) -> str | None:
    grade = frame_grade(frame)
    return grade[0] if grade else None


def legend_text() -> str:
    """The star mapping under the grid, from the engine's bands."""
    return "Stars from the score (your own stars win): " + " · ".join(
        f"{stars}★ {'mean ≥ ' + format(floor, '.1f') if floor else 'below'} ({grades})"
        for floor, stars, grades in STAR_BANDS)


def short_legend_text() -> str:
    """The mapping in one short line (the full one is its tooltip): "5★ A · 4★ B ... 1★ F"."""
    return "Stars: " + " · ".join(f"{stars}★ {grades[0]}" for _f, stars, grades in STAR_BANDS)


def _grade(letter: str) -> Predicate:
    return lambda f: grade_letter(f) == letter


def _problem(kind: str) -> Predicate:
    return lambda f: any(p.kind == kind for p in f.problems)


def _weak(dim: str) -> Predicate:
    def weak(f: FrameSummary) -> bool:
        score = f.scores.get(dim)
        return score is not None and score < WEAK_BELOW
    return weak


def _user_stars_at_least(n: int) -> Predicate:
    return lambda f: f.user_stars is not None and f.user_stars >= n


def _filters() -> list[tuple[str, Predicate]]:
    out: list[tuple[str, Predicate]] = [
        ("All frames", lambda f: True),
        ("Picks", lambda f: f.flag == "pick"),
        ("Rejects", lambda f: f.flag == "reject"),
        ("Unflagged", lambda f: f.flag == "none"),
        ("Not rejected", lambda f: f.flag != "reject"),
    ]
    out += [(f"Your rating ≥ {'★' * n}", _user_stars_at_least(n)) for n in range(1, 6)]
    out.append(("Unrated by you", lambda f: f.user_stars is None))
    out += [(f"Grade {grades[0]} ({stars}★)", _grade(grades[0])) for _floor, stars, grades in STAR_BANDS]
    out.append(("Any technical problem", lambda f: bool(f.problems)))
    out += [(kind.capitalize(), _problem(kind)) for kind in PROBLEMS]
    out += [("In a burst", lambda f: f.burst is not None), ("Best of each burst", lambda f: f.best_in_burst)]
    out.append(("Exact duplicates", lambda f: f.duplicate_of is not None))
    out += [(f"Weak {DIMENSION_LABELS[d].lower()} (< {WEAK_BELOW:g})", _weak(d)) for d in DIMENSIONS]
    out.append(("Not reviewed", lambda f: not f.reviewed))
    return out


FILTERS = _filters()
SORTS: list[tuple[str, str]] = [("Overall", "overall")] + [(DIMENSION_LABELS[d], d) for d in DIMENSIONS] + [
    ("Your rating", "user_stars"), ("Flag (picks first)", "flag"), ("Name", "name"), ("Capture time", "time")]
FLAG_ORDER = {"pick": 0, "none": 1, "reject": 2}


def order_key(frame: FrameSummary, sort_key: str) -> tuple[float, str]:
    """Best first for scores and ratings; then by name, so equal frames keep a fixed order."""
    name = frame.name.lower()
    if sort_key == "name":
        return (0.0, name)
    if sort_key == "time":
        return (0.0, (frame.taken_at or "~") + name)
    if sort_key == "user_stars":
        return (-(frame.user_stars if frame.user_stars is not None else -1), name)
    if sort_key == "flag":
        return (FLAG_ORDER.get(frame.flag, 1), name)
    value = frame.overall if sort_key == "overall" else frame.scores.get(sort_key)
    return (-(value if value is not None else -1.0), name)


# ---- keys ------------------------------------------------------------------------------------------
# The one key map: the grid, the loupe and the compare view dispatch through these tables, and the
# Help guide, the grid's tooltip and the README's table are written from them (scripts/culling_keys.py),
# so what is listed is what is bound.
FLAG_KEYS: dict[Qt.Key, str] = {Qt.Key.Key_P: "pick", Qt.Key.Key_X: "reject", Qt.Key.Key_U: "none"}
STAR_KEYS: dict[Qt.Key, int] = {Qt.Key(int(Qt.Key.Key_0) + n): n for n in range(6)}
LABEL_KEYS: dict[Qt.Key, str] = {Qt.Key(int(Qt.Key.Key_6) + i): label for i, label in enumerate(LABELS)}
GRID_KEYS: dict[Qt.Key, str] = {Qt.Key.Key_Space: "loupe", Qt.Key.Key_E: "loupe", Qt.Key.Key_C: "compare",
                                Qt.Key.Key_S: "stack", Qt.Key.Key_Return: "open", Qt.Key.Key_Enter: "open"}
LOUPE_KEYS: dict[Qt.Key, str] = {Qt.Key.Key_Right: "next", Qt.Key.Key_Down: "next", Qt.Key.Key_Left: "previous",
                                 Qt.Key.Key_Up: "previous", Qt.Key.Key_Z: "zoom", Qt.Key.Key_Space: "close",
                                 Qt.Key.Key_E: "close", Qt.Key.Key_Escape: "close"}
ACTION_HELP: dict[str, str] = {
    "pick": "pick", "reject": "reject", "none": "unflag",
    "loupe": "loupe: the frame large with its report",
    "compare": "compare the selected frames (or the frame's burst) side by side",
    "stack": "expand or collapse the burst stack (Stack bursts on)",
    "open": "open the full report",
    "next": "in the loupe or compare view: the next frame", "previous": "in the loupe or compare view: the previous frame",
    "zoom": "in the loupe: 100 % and back", "close": "in the loupe or compare view: back to the grid",
}


@dataclass(frozen=True)
class Cull:
    """What a key asks for: set ``field`` to ``value`` (``advance``: then move to the next frame)."""

    field: str  # "flag" | "stars" | "label"
    value: object
    advance: bool


_SHIFTED_DIGITS = {Qt.Key.Key_Exclam: 1, Qt.Key.Key_At: 2, Qt.Key.Key_NumberSign: 3, Qt.Key.Key_Dollar: 4,
                   Qt.Key.Key_Percent: 5, Qt.Key.Key_ParenRight: 0, Qt.Key.Key_AsciiCircum: 6,
                   Qt.Key.Key_Ampersand: 7, Qt.Key.Key_Asterisk: 8, Qt.Key.Key_ParenLeft: 9}
_DIGIT_KEYS = {**{k: n for k, n in STAR_KEYS.items()}, **{k: 6 + i for i, k in enumerate(LABEL_KEYS)}}


def _mods(event: QKeyEvent) -> Qt.KeyboardModifier:
    return event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier


def _digit(event: QKeyEvent) -> tuple[int, bool] | None:
    key, mods = event.key(), _mods(event)
    if key in _DIGIT_KEYS and mods in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier):
        return _DIGIT_KEYS[Qt.Key(key)], mods == Qt.KeyboardModifier.ShiftModifier
    if key in _SHIFTED_DIGITS and mods in (Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.NoModifier):
        return _SHIFTED_DIGITS[Qt.Key(key)], True
    return None


def cull_for_key(event: QKeyEvent, auto_advance: bool) -> Cull | None:
    """Lightroom's culling keys: P pick, X reject, U unflag, 0-5 stars, 6-9 colour labels. Shift+key
    (or the auto-advance setting, Lightroom's Caps Lock) moves on to the next frame after it."""
    digit = _digit(event)
    if digit is not None:
        n, shifted = digit
        advance = shifted or auto_advance
        if n <= 5:
            return Cull("stars", n, advance)
        return Cull("label", LABELS[n - 6], advance)
    mods = _mods(event)
    if mods not in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier):
        return None
    flag = FLAG_KEYS.get(Qt.Key(event.key())) if event.key() in FLAG_KEYS else None
    if flag is None:
        return None
    return Cull("flag", flag, mods == Qt.KeyboardModifier.ShiftModifier or (auto_advance and flag != "none"))


def _plain_action(event: QKeyEvent, table: dict[Qt.Key, str]) -> str | None:
    if _mods(event) != Qt.KeyboardModifier.NoModifier or event.key() not in table:
        return None
    return table[Qt.Key(event.key())]


def grid_action(event: QKeyEvent) -> str | None:
    """The grid's own keys (a name from :data:`GRID_KEYS`), culling keys aside."""
    return _plain_action(event, GRID_KEYS)


def loupe_action(event: QKeyEvent) -> str | None:
    """The loupe's and compare view's own keys (:data:`LOUPE_KEYS`), culling keys aside."""
    return _plain_action(event, LOUPE_KEYS)


def is_undo(event: QKeyEvent) -> bool:
    return event.matches(QKeySequence.StandardKey.Undo)


def is_redo(event: QKeyEvent) -> bool:
    return event.matches(QKeySequence.StandardKey.Redo)


def describe(cull: Cull, count: int) -> str:
    """The undo step's name: "Pick", "3 stars on 4 frames", "Red label" (the engine's, as the CLI says it)."""
    return describe_step(cull.field, cull.value, count)


def key_name(key: Qt.Key) -> str:
    """A key as the help writes it ("P", "Space", "Return", "Left")."""
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.PortableText)


def _names(keys: list[Qt.Key]) -> str:
    names = [key_name(k) for k in keys]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _grouped(table: dict[Qt.Key, str]) -> list[tuple[str, str]]:
    by_action: dict[str, list[Qt.Key]] = {}
    for key, action in table.items():
        by_action.setdefault(action, []).append(key)
    return [(_names(keys), ACTION_HELP[action]) for action, keys in by_action.items()]


def _undo_redo(native: bool) -> str:
    if native:  # this platform's own (Cmd on a Mac)
        fmt = QKeySequence.SequenceFormat.NativeText
        return " / ".join(QKeySequence(k).toString(fmt) for k in (QKeySequence.StandardKey.Undo,
                                                                  QKeySequence.StandardKey.Redo))
    return "Ctrl+Z / Shift+Ctrl+Z (⌘ on a Mac)"


def keys_help(*, native: bool = True) -> list[tuple[str, str]]:
    """Every culling key as (keys, what they do), from the tables above (``native``: this platform's
    undo/redo, as the window shows it; otherwise the README's words for every platform)."""
    rows = [(key_name(k), ACTION_HELP[flag]) for k, flag in FLAG_KEYS.items()]
    rows.append((" ".join(key_name(k) for k in STAR_KEYS), "your stars (0: none)"))
    rows.append((" ".join(key_name(k) for k in LABEL_KEYS),
                 "colour label " + ", ".join(label.lower() for label in LABEL_KEYS.values()) + " (again: off)"))
    rows.append(("Shift + any of those", "then move to the next frame (or turn on Auto-advance)"))
    rows.append((_undo_redo(native), "undo / redo any culling action, also after a restart"))
    rows += _grouped(GRID_KEYS)
    rows += _grouped(LOUPE_KEYS)
    rows.append(("Shift/Ctrl + click", "select several frames: the keys rate them all"))
    return rows


def keys_line() -> str:
    """The keys in one short line for under the grid (the whole list is its tooltip and the guide)."""
    flags = " ".join(key_name(k) for k in FLAG_KEYS)
    stars, labels = list(STAR_KEYS), list(LABEL_KEYS)
    loupe = "/".join(key_name(k) for k, a in GRID_KEYS.items() if a == "loupe")
    compare = next(key_name(k) for k, a in GRID_KEYS.items() if a == "compare")
    return (f"Keys: {flags} · {key_name(stars[0])}-{key_name(stars[-1])} · {key_name(labels[0])}-{key_name(labels[-1])}"
            f" · {loupe} · {compare}")


def loupe_hint() -> str:
    """The loupe's one-line reminder: "Z 100 % · Left/Right next · P X U 0-5 6-9 · Esc back"."""
    def first(action: str) -> str:
        return next(key_name(k) for k, a in LOUPE_KEYS.items() if a == action)

    flags, stars, labels = " ".join(key_name(k) for k in FLAG_KEYS), list(STAR_KEYS), list(LABEL_KEYS)
    return (f"{first('zoom')} 100 % · {first('previous')}/{first('next')} move · {flags} "
            f"{key_name(stars[0])}-{key_name(stars[-1])} {key_name(labels[0])}-{key_name(labels[-1])} · "
            f"{next(key_name(k) for k, a in LOUPE_KEYS.items() if a == 'close' and k == Qt.Key.Key_Escape)} back")


def keys_html() -> str:
    """The keys as the Help guide's table."""
    from html import escape

    cells = "".join(f"<tr><td><b>{escape(k)}</b></td><td>{escape(what)}</td></tr>" for k, what in keys_help())
    return f"<table cellpadding=\"3\">{cells}</table>"


def keys_markdown() -> str:
    """The keys as the README's table (the same rows, every platform's words)."""
    lines = ["| Keys | What they do |", "|---|---|"]
    lines += [f"| {k.replace('|', chr(92) + '|')} | {what} |" for k, what in keys_help(native=False)]
    return "\n".join(lines)
