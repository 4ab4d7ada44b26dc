"""The photo at full size: fit the window or 100 % (one image pixel per screen pixel), zoom with
Ctrl/⌘ + wheel, a pinch or Ctrl/⌘ +/-, drag or scroll to pan, and the focus map from the measurements as an optional overlay.

The viewer opens at once on the report's preview and swaps in the full-resolution photo when the
quick-query worker has decoded it (a 48 MP file takes a moment; the UI thread never decodes it).
The focus map is the measured sharpness grid (``technical.sharpness.focus_map``, variance of the
Laplacian per cell of the upright photo): the softest cell is left clear and the sharpest is the
brightest, on a log scale because the values span orders of magnitude; the sharpest is outlined.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import cast

from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QKeySequence,
    QNativeGestureEvent,
    QPainter,
    QPen,
    QPixmap,
    QResizeEvent,
    QShortcut,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QGraphicsItemGroup,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..common import theme
from ..common.bridge import InferenceBridge, Request, TaskContext, TaskFn
from ..common.pixmaps import load_full

ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.02, 16.0


def full_photo_task(path: Path) -> TaskFn:
    def run(ctx: TaskContext) -> QImage:
        image = load_full(path)
        if image is None:
            raise ValueError(f"{path.name} could not be read at full size")
        return image

    return run


class ZoomView(QGraphicsView):
    """A QGraphicsView whose scale is the zoom (1.0 = 100 %)."""

    def __init__(self, scene: QGraphicsScene, parent: QWidget | None = None):
        super().__init__(scene, parent)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QColor("#2b2b2b"))

    @property
    def scale_factor(self) -> float:
        return self.transform().m11()

    def set_scale(self, value: float) -> None:
        value = max(MIN_SCALE, min(MAX_SCALE, value))
        self.resetTransform()
        self.scale(value, value)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        """Ctrl (⌘ on a Mac) + wheel zooms; the plain wheel or a two-finger swipe pans."""
        steps = event.angleDelta().y() / 120
        if steps and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_scale(self.scale_factor * ZOOM_STEP ** steps)
            event.accept()
            return
        super().wheelEvent(event)

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """A trackpad pinch (macOS delivers it as a native zoom gesture)."""
        if event.type() == QEvent.Type.NativeGesture:
            gesture = cast(QNativeGestureEvent, event)
            if gesture.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
                self.set_scale(self.scale_factor * (1.0 + gesture.value()))
                return True
        return super().viewportEvent(event)


class PhotoViewer(QDialog):
    def __init__(self, preview: QImage | None, path: Path | None, focus_map: list[list[float]] | None,
                 title: str, queries: InferenceBridge | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(900, 640)
        self.path = path
        self.full_size = False  # the full-resolution photo is shown (not the preview)
        self.scene = QGraphicsScene(self)
        self.pixmap_item = QGraphicsPixmapItem()
        self.pixmap_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene.addItem(self.pixmap_item)
        self.overlay = QGraphicsItemGroup()
        self.overlay.setZValue(1)
        self.scene.addItem(self.overlay)
        self.focus_map = focus_map if _is_grid(focus_map) else None
        self.cells: list[QGraphicsRectItem] = []
        self.view = ZoomView(self.scene)

        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("The whole photo in the window (Ctrl+0)")
        self.fit_button.clicked.connect(self.fit)
        self.actual_button = QPushButton("100 %")
        self.actual_button.setToolTip("One photo pixel per screen pixel (Ctrl+1)")
        self.actual_button.clicked.connect(self.actual_size)
        self.focus_check = QCheckBox("Focus map")
        self.focus_check.setToolTip("The measured sharpness per cell: brighter is sharper; the sharpest cell is "
                                    "outlined")
        self.focus_check.setEnabled(self.focus_map is not None)
        self.focus_check.toggled.connect(self.overlay.setVisible)
        self.zoom_label = QLabel()
        self.zoom_label.setObjectName("muted")
        self.status = QLabel()
        self.status.setObjectName("muted")
        for widget in (self.fit_button, self.actual_button, self.focus_check, self.zoom_label):
            bar.addWidget(widget)
        bar.addStretch(1)
        bar.addWidget(self.status)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        QShortcut(QKeySequence("Ctrl+0"), self, self.fit)
        QShortcut(QKeySequence("Ctrl+1"), self, self.actual_size)
        QShortcut(QKeySequence.StandardKey.ZoomIn, self, lambda: self.zoom(ZOOM_STEP))
        QShortcut(QKeySequence.StandardKey.ZoomOut, self, lambda: self.zoom(1 / ZOOM_STEP))

        self._fitted = True
        if preview is not None and not preview.isNull():
            self.set_image(preview, full_size=False)
        self.overlay.setVisible(False)
        if self.focus_map is None:
            self.focus_check.setToolTip("No measurements for this photo")
        self.request: Request | None = None
        if path is not None and queries is not None and path.is_file():
            self.status.setText("Loading the full-size photo…")
            self.request = queries.run("photo", full_photo_task(path))
            self.request.result.connect(lambda image: self.set_image(image, full_size=True))
            self.request.failed.connect(self.status.setText)
        elif path is not None and not path.is_file():
            self.status.setText(f"{path.name} is no longer at {path.parent}: showing the preview")

    # ---- image and overlay ------------------------------------------------------------------------
    def set_image(self, image: object, *, full_size: bool) -> None:
        if not isinstance(image, QImage) or image.isNull():
            return
        self.full_size = full_size
        self.pixmap_item.setPixmap(QPixmap.fromImage(image))
        self.scene.setSceneRect(QRectF(0, 0, image.width(), image.height()))
        self._draw_focus_map(image.width(), image.height())
        if full_size:
            self.status.setText(f"{image.width()} × {image.height()} px")
        if self._fitted:
            self.fit()
        self._show_zoom()

    def _draw_focus_map(self, width: int, height: int) -> None:
        for cell in self.cells:
            self.overlay.removeFromGroup(cell)
            self.scene.removeItem(cell)
        self.cells = []
        grid = self.focus_map
        if grid is None:
            return
        rows, cols = len(grid), len(grid[0])
        logs = [[math.log1p(max(v, 0.0)) for v in row] for row in grid]
        low, high = min(min(row) for row in logs), max(max(row) for row in logs)
        best = max(((r, c) for r in range(rows) for c in range(cols)), key=lambda rc: grid[rc[0]][rc[1]])
        for r in range(rows):
            for c in range(cols):
                rect = QRectF(width * c / cols, height * r / rows, width / cols, height / rows)
                item = QGraphicsRectItem(rect)
                share = (logs[r][c] - low) / (high - low) if high > low else 1.0  # 0 the softest cell, 1 the sharpest
                item.setBrush(QBrush(QColor(255, 214, 0, int(8 + 150 * share))))
                best_cell = (r, c) == best
                item.setPen(QPen(QColor(theme.RED), 0 if not best_cell else max(2.0, width / 300)) if best_cell
                            else QPen(QColor(0, 0, 0, 60), 0))
                item.setToolTip(f"sharpness {grid[r][c]:g}" + (" (sharpest)" if best_cell else ""))
                self.overlay.addToGroup(item)
                self.cells.append(item)

    # ---- zoom ---------------------------------------------------------------------------------------
    @property
    def zoom_factor(self) -> float:
        """1.0 is 100 %."""
        return self.view.scale_factor

    def fit(self) -> None:
        self._fitted = True
        self.view.resetTransform()
        self.view.fitInView(self.scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._show_zoom()

    def actual_size(self) -> None:
        """One photo pixel per device pixel (on a Retina display a point is two)."""
        self._fitted = False
        self.view.set_scale(1.0 / max(1.0, self.view.devicePixelRatioF()))
        self._show_zoom()

    def zoom(self, factor: float) -> None:
        self._fitted = False
        self.view.set_scale(self.view.scale_factor * factor)
        self._show_zoom()

    def _show_zoom(self) -> None:
        device = self.view.scale_factor * max(1.0, self.view.devicePixelRatioF())  # photo px per device px
        self.zoom_label.setText(f"{100 * device:.0f} %" if self.full_size else "preview")

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self._fitted:
            self.fit()


def _is_grid(value: object) -> bool:
    return (isinstance(value, list) and bool(value) and all(isinstance(row, list) and row for row in value)
            and len({len(row) for row in value}) == 1
            and all(isinstance(v, (int, float)) for row in value for v in row))


def focus_map_of(technical: dict[str, object] | None) -> list[list[float]] | None:
    """The measured focus map of a result's ``technical`` dict, when it has one."""
    sharpness = technical.get("sharpness") if isinstance(technical, dict) else None
    grid = sharpness.get("focus_map") if isinstance(sharpness, dict) else None
    return grid if _is_grid(grid) else None
