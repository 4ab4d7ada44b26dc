"""The suggested crop under the thread: the box over the photo, a before/after preview, export.

The card shows one :class:`~app.engine.conversation.crop.CropSuggestion`: the overlay (the whole
photo with the box and its handles: *before*), the cropped part (*after*), the model's reason and
where the box is. Every adjustment is checked with the engine's
:func:`~app.engine.conversation.crop.check_box` (inside the photo, big enough to critique, the
aspect asked); an unusable box says why and cannot be exported. "Export crop" and "Critique the
crop" are requests to the thread, which runs them on the worker.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.engine.conversation.coordinates import Box
from app.engine.conversation.crop import CropError, CropSuggestion, check_box, parse_aspect

from ..common import theme
from ..common.pixmaps import fit
from ..common.qt_compat import emit
from ..common.wrap_text import WrapLabel
from .crop_overlay import CropOverlay

HAND = "adjusted by hand"


class CropCard(QFrame):
    exportRequested = Signal(object)  # the CropSuggestion to write (the box as adjusted)
    critiqueRequested = Signal(object)  # Path of the exported crop

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.suggestion: CropSuggestion | None = None
        self.exported: Path | None = None
        self._image: QImage | None = None
        root = QVBoxLayout(self)
        root.setContentsMargins(12, 10, 12, 10)
        title = QLabel("Suggested crop")
        title.setFont(theme.title_font(11))
        root.addWidget(title)
        self.reason = WrapLabel()
        root.addWidget(self.reason)
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        before = QLabel("Before: drag the box or its handles")
        before.setObjectName("muted")
        after = QLabel("After")
        after.setObjectName("muted")
        grid.addWidget(before, 0, 0)
        grid.addWidget(after, 0, 1)
        self.overlay = CropOverlay()
        self.overlay.boxChanged.connect(self._box_changed)
        grid.addWidget(self.overlay, 1, 0)
        self.after = QLabel()
        self.after.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.after.setMinimumSize(120, 120)
        grid.addWidget(self.after, 1, 1, Qt.AlignmentFlag.AlignTop)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        root.addLayout(grid)
        self.info = WrapLabel(object_name="muted")
        root.addWidget(self.info)
        buttons = QHBoxLayout()
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the box the advisor suggested")
        self.reset_button.clicked.connect(self.reset)
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        self.export_button = QPushButton("Export crop")
        self.export_button.setToolTip("Save the crop as a new file beside the original (the original is never changed)")
        self.export_button.clicked.connect(self._export)
        buttons.addWidget(self.export_button)
        self.critique_button = QPushButton("Critique the crop")
        self.critique_button.setObjectName("primary")
        self.critique_button.setToolTip("Export the crop, then critique it as a new photo")
        self.critique_button.clicked.connect(self._critique)
        buttons.addWidget(self.critique_button)
        root.addLayout(buttons)
        self.saved = WrapLabel(object_name="muted")
        root.addWidget(self.saved)
        self._critique_after_export = False
        self._exported_box: Box | None = None
        self.hide()

    # ---- showing a suggestion -------------------------------------------------------------------
    def set_suggestion(self, suggestion: CropSuggestion, image: QImage | None) -> None:
        """Show ``suggestion`` over ``image`` (a preview of the photo, any size)."""
        self.suggestion, self._image, self.exported = suggestion, image, None
        self._critique_after_export = False
        notes = [n for n in suggestion.adjustments if n != HAND]
        self.reason.setText((suggestion.reason or "No reason given.") + (f" ({'; '.join(notes)})" if notes else ""))
        self.saved.setText("")
        self.overlay.set_crop(image, suggestion.original_size, suggestion.box, parse_aspect(suggestion.aspect))
        self._box_changed(suggestion.box)
        self.show()

    def reset(self) -> None:
        if self.suggestion is not None:
            self.overlay.set_box(self.suggestion.box)

    def current(self) -> CropSuggestion:
        """The suggestion with the box as adjusted; raises CropError when that box is unusable."""
        if self.suggestion is None or self.overlay.box is None:
            raise CropError("there is no crop to use")
        box = self.overlay.box
        check_box(box, self.suggestion.original_size, parse_aspect(self.suggestion.aspect))
        if box == self.suggestion.box:
            return self.suggestion
        return dataclasses.replace(self.suggestion, box=box, adjustments=[*self.suggestion.adjustments, HAND])

    def _box_changed(self, box: Box) -> None:
        if self.suggestion is None:
            return
        x0, y0, x1, y1 = box
        w, h = self.suggestion.original_size
        try:
            self.current()
        except CropError as exc:
            self.info.setText(f"This box cannot be used: {exc}.")
            ok = False
        else:
            aspect = f", {self.suggestion.aspect}" if self.suggestion.aspect else ""
            edited = " (adjusted)" if box != self.suggestion.box else ""
            self.info.setText(f"x {x0}–{x1}, y {y0}–{y1} of {w}x{h} px: {x1 - x0}x{y1 - y0} px{aspect}{edited}")
            ok = True
        self.export_button.setEnabled(ok)
        self.critique_button.setEnabled(ok)
        self.reset_button.setEnabled(box != self.suggestion.box)
        self._update_after(box)

    def _update_after(self, box: Box) -> None:
        image = self._image
        if image is None or image.isNull() or self.suggestion is None:
            self.after.setPixmap(fit(None, 1, 1))
            self.after.setText("(no preview)")
            return
        w, h = self.suggestion.original_size
        sx, sy = image.width() / w, image.height() / h
        part = image.copy(QRect(int(box[0] * sx), int(box[1] * sy), max(1, round((box[2] - box[0]) * sx)),
                                max(1, round((box[3] - box[1]) * sy))))
        self.after.setPixmap(fit(part, 220, 220))

    # ---- export and critique ----------------------------------------------------------------------
    def _export(self) -> None:
        self._request_export(critique=False)

    def _critique(self) -> None:
        if self.exported is not None and self.overlay.box == self._exported_box:
            emit(self.critiqueRequested, self.exported)
            return
        self._request_export(critique=True)

    def _request_export(self, *, critique: bool) -> None:
        try:
            suggestion = self.current()
        except CropError as exc:
            self.info.setText(f"This box cannot be used: {exc}.")
            return
        self._critique_after_export = critique
        self._exported_box = suggestion.box
        self.export_button.setEnabled(False)
        self.critique_button.setEnabled(False)
        self.saved.setText("Writing the crop…")
        emit(self.exportRequested, suggestion)

    def export_done(self, path: Path | None, error: str = "") -> None:
        """The thread's answer to ``exportRequested``: where the file went, or why it did not."""
        self.export_button.setEnabled(True)
        self.critique_button.setEnabled(True)
        if path is None:
            self.saved.setText(f"The crop was not saved: {error}")
            self._critique_after_export = False
            return
        self.exported = path
        self.saved.setText(f"Saved as {path} (the original is unchanged).")
        if self._critique_after_export:
            self._critique_after_export = False
            emit(self.critiqueRequested, path)
