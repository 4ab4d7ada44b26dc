"""The culling keys are listed from the one key map they are bound from (issue 22): every key that
does something in the grid, the loupe or the compare view is in the Help guide and the README,
and nothing listed is unbound. The grid and the loupe are driven with real key presses."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from test_ui_culling import _frames

from app.ui.help_dialog import HelpDialog
from app.ui.review.culling import (
    FLAG_KEYS,
    GRID_KEYS,
    LABEL_KEYS,
    LOUPE_KEYS,
    STAR_KEYS,
    cull_for_key,
    grid_action,
    key_name,
    keys_help,
    keys_markdown,
    loupe_action,
)
from app.ui.review.loupe import LoupeDialog
from app.ui.review.review_grid import ReviewGrid

ROOT = Path(__file__).resolve().parents[1]
SHIFTED_DIGITS = {Qt.Key.Key_Exclam, Qt.Key.Key_At, Qt.Key.Key_NumberSign, Qt.Key.Key_Dollar, Qt.Key.Key_Percent,
                  Qt.Key.Key_ParenRight, Qt.Key.Key_AsciiCircum, Qt.Key.Key_Ampersand, Qt.Key.Key_Asterisk,
                  Qt.Key.Key_ParenLeft}  # Shift+digit on a US keyboard: "Shift + any of those"
SWEEP = ([Qt.Key(k) for k in range(int(Qt.Key.Key_A), int(Qt.Key.Key_Z) + 1)]
         + [Qt.Key(k) for k in range(int(Qt.Key.Key_0), int(Qt.Key.Key_9) + 1)]
         + [Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape, Qt.Key.Key_Tab,
            Qt.Key.Key_Backspace, Qt.Key.Key_Delete, Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up,
            Qt.Key.Key_Down, Qt.Key.Key_Home, Qt.Key.Key_End, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown,
            Qt.Key.Key_Plus, Qt.Key.Key_Minus, Qt.Key.Key_Slash, Qt.Key.Key_Backslash, Qt.Key.Key_BracketLeft,
            Qt.Key.Key_BracketRight, Qt.Key.Key_Comma, Qt.Key.Key_Period, *SHIFTED_DIGITS])


def _press(key: Qt.Key, mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> QKeyEvent:
    return QKeyEvent(QKeyEvent.Type.KeyPress, key, mods)


def _listed_keys(rows: list[tuple[str, str]]) -> set[str]:
    """The key names in the help's first column ("Space, E or Esc" -> Space, E, Esc)."""
    return {word for keys, _what in rows for word in re.split(r"[\s,/]+|\bor\b", keys) if word}


def test_every_bound_key_is_in_the_help(qapp) -> None:
    listed = _listed_keys(keys_help())
    bound = []
    for key in SWEEP:
        for mods in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier):
            event = _press(key, mods)
            if cull_for_key(event, False) or grid_action(event) or loupe_action(event):
                bound.append(key)
    assert {Qt.Key.Key_P, Qt.Key.Key_X, Qt.Key.Key_5, Qt.Key.Key_9, Qt.Key.Key_C, Qt.Key.Key_Z} <= set(bound)
    missing = {key_name(k) for k in bound if k not in SHIFTED_DIGITS} - listed
    assert not missing, missing
    assert "Shift" in listed  # the shifted digits and Shift+key: "Shift + any of those"


def test_nothing_listed_is_unbound(qapp) -> None:
    tables = [FLAG_KEYS, STAR_KEYS, LABEL_KEYS, GRID_KEYS, LOUPE_KEYS]
    names = {key_name(k) for table in tables for k in table}
    extra = {"Shift", "+", "any", "of", "those", "Ctrl+Z", "Shift+Ctrl+Z", "(⌘", "on", "a", "Mac)", "Ctrl", "click"}
    assert _listed_keys(keys_help(native=False)) - names - extra == set()
    for key in (k for table in tables for k in table):  # and each one does something
        event = _press(key)
        assert cull_for_key(event, False) or grid_action(event) or loupe_action(event), key_name(key)


def test_the_help_guide_lists_every_row(qtbot) -> None:
    dialog = HelpDialog()
    qtbot.addWidget(dialog)
    text = dialog.browser.toPlainText()
    for keys, what in keys_help():
        assert keys in text and what in text, (keys, what)


def test_the_readme_table_is_the_key_map() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert keys_markdown() in readme
    check = subprocess.run([sys.executable, "scripts/culling_keys.py", "--check"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("key", list(GRID_KEYS))
def test_the_grid_does_what_the_map_says(qtbot, tmp_path: Path, key: Qt.Key) -> None:
    grid = ReviewGrid()
    qtbot.addWidget(grid)
    grid.show()
    grid.set_frames(_frames(tmp_path, [8.0, 6.0]), resort=True)
    grid.setCurrentRow(0)
    seen: list[str] = []
    grid.loupeRequested.connect(lambda _p: seen.append("loupe"))
    grid.compareRequested.connect(lambda _p: seen.append("compare"))
    grid.openRequested.connect(lambda _p: seen.append("open"))
    grid.toggle_stack = lambda _p: seen.append("stack")  # the stack key's effect is tested in test_ui_culling
    qtbot.keyClick(grid, key)
    assert seen == [GRID_KEYS[key]]


@pytest.mark.parametrize("key", list(LOUPE_KEYS))
def test_the_loupe_does_what_the_map_says(qtbot, tmp_path: Path, key: Qt.Key) -> None:
    frames = _frames(tmp_path, [8.0, 6.0, 5.0])
    paths = [f.path for f in frames]
    by_path = {f.path: f for f in frames}
    loupe = LoupeDialog(paths, paths[1], by_path.get, lambda _p: None)
    qtbot.addWidget(loupe)
    loupe.show()
    zoomed = loupe.zoomed
    qtbot.keyClick(loupe, key)
    effect = {"next": lambda: loupe.index == 2, "previous": lambda: loupe.index == 0,
              "zoom": lambda: loupe.zoomed != zoomed, "close": lambda: not loupe.isVisible()}
    assert effect[LOUPE_KEYS[key]](), key_name(key)
