"""Colours, fonts and the application style sheet, in one place (a Mondrian palette)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QGuiApplication

RED = "#d52b1e"
BLUE = "#1f4e9e"
YELLOW = "#f2c80f"
INK = "#161616"
PAPER = "#fbfaf7"
CARD = "#ffffff"
LINE = "#e3e0d8"
MUTED = "#6b6860"
GOOD = "#2e7d32"
BAD = "#c62828"


def score_color(score: float | None) -> QColor:
    """Blue for strong, yellow for middling, red for weak: the painter's three primaries."""
    if score is None:
        return QColor(LINE)
    if score >= 7:
        return QColor(BLUE)
    if score >= 5:
        return QColor(YELLOW)
    return QColor(RED)


def delta_color(delta: float) -> str:
    if delta > 0.05:
        return GOOD
    if delta < -0.05:
        return BAD
    return MUTED


def title_font(size: int = 15, bold: bool = True) -> QFont:
    font = QFont(QGuiApplication.font())
    font.setPointSize(size)
    font.setBold(bold)
    return font


STYLE_SHEET = f"""
QMainWindow, QDialog {{ background: {PAPER}; }}
QWidget#page {{ background: {PAPER}; }}
QFrame#card {{ background: {CARD}; border: 1px solid {LINE}; border-radius: 8px; }}
QFrame#sidebar {{ background: #f3f1ec; border-right: 1px solid {LINE}; }}
QLabel#muted {{ color: {MUTED}; }}
QLabel#grade {{ color: {INK}; }}
QLabel#banner {{ background: #fff6d6; border: 1px solid {YELLOW}; border-radius: 6px; padding: 6px 10px; }}
QLabel#error {{ background: #fdecea; border: 1px solid {RED}; border-radius: 6px; padding: 6px 10px; color: #7a1a12; }}
QPushButton#primary {{ background: {INK}; color: white; border-radius: 6px; padding: 6px 14px; }}
QPushButton#primary:disabled {{ background: #9a978f; }}
QProgressBar {{ border: 1px solid {LINE}; border-radius: 4px; background: white; text-align: center; height: 14px; }}
QProgressBar::chunk {{ background: {BLUE}; border-radius: 3px; }}
QTabWidget::pane {{ border: none; }}
QTextEdit#muted {{ color: {MUTED}; background: transparent; }}
QTextEdit#banner {{ background: #fff6d6; border: 1px solid {YELLOW}; border-radius: 6px; padding: 4px 8px; }}
QFrame#notice {{ background: #fdecea; border: 1px solid {RED}; border-radius: 6px; }}
QFrame#notice[kind="cancelled"], QFrame#notice[kind="info"] {{ background: #fff6d6; border: 1px solid {YELLOW}; }}
QFrame#notice QTextEdit {{ background: transparent; color: {INK}; }}
QScrollBar:vertical {{ background: {PAPER}; width: 10px; margin: 0; border: none; }}
QScrollBar:horizontal {{ background: {PAPER}; height: 10px; margin: 0; border: none; }}
QScrollBar::handle:vertical, QScrollBar::handle:horizontal {{ background: #c9c5bb; border-radius: 4px;
    min-height: 24px; min-width: 24px; }}
QScrollBar::handle:hover {{ background: {MUTED}; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; border: none; background: none; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
QPlainTextEdit#stream {{ background: #111; color: #e8e6df; border-radius: 8px; padding: 8px;
    font-family: "DejaVu Sans Mono", "Menlo", monospace; }}
"""
