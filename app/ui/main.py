"""GUI entry point (the full window arrives with the desktop-app issue)."""

from __future__ import annotations

from collections.abc import Sequence


def run_gui(argv: Sequence[str]) -> int:
    from PySide6.QtWidgets import QApplication, QLabel

    from app import __version__

    app = QApplication.instance() or QApplication(list(argv) or ["mondrian"])
    label = QLabel(f"Mondrian {__version__}: drop a photo (the critique window is coming)")
    label.resize(480, 120)
    label.show()
    return app.exec()
