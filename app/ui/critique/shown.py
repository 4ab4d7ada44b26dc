"""What the report page shows, as one value, and exporting exactly that.

The photo, its file and the critique travel together from the moment a result arrives (or a
history entry is reopened) to the exported file: the suggested name, the embedded image and the
text can never come from different photos.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.engine.critique.result import CritiqueResult

from ..common import ui_state
from ..common.operations import BlindResult, Comparison, Item
from . import exporting

__all__ = ["Item", "Shown", "export_dialog", "export_shown"]
SUFFIXES = {"markdown": ".md", "json": ".json", "pdf": ".pdf"}


@dataclass
class Shown:
    """What the report page shows: exactly what Export writes."""

    item: Item
    photo: QImage | None
    photo_path: Path | None

    @property
    def result(self) -> CritiqueResult:
        """The single result (the fine-tuned side of a comparison)."""
        if isinstance(self.item, Comparison):
            return self.item.tuned
        return self.item.result if isinstance(self.item, BlindResult) else self.item

    @property
    def job_id(self) -> str | None:
        return self.result.job_id


def export_dialog(parent: QWidget, shown: Shown, kind: str) -> str | None:
    """Ask where to save; the name is the shown photo's, the folder the last one used."""
    suffix = SUFFIXES[kind]
    stem = shown.photo_path.stem if shown.photo_path else "critique"
    start = Path(ui_state.folder(ui_state.EXPORT_FOLDER)) / f"{stem}-critique{suffix}"
    path, _ = QFileDialog.getSaveFileName(parent, "Export critique", str(start))
    if not path:
        return None
    return path if path.lower().endswith(suffix) else path + suffix


def export_shown(parent: QWidget, shown: Shown, path: str | Path, turns: Sequence[Any] = ()) -> Path | None:
    try:
        target = exporting.export(shown.item, path, shown.photo, turns)
    except Exception as exc:  # noqa: BLE001 - tell the user, keep going
        QMessageBox.warning(parent, "Export failed", f"{path}: {exc}")
        return None
    ui_state.remember_folder(ui_state.EXPORT_FOLDER, target)
    return target
