"""The Review tab after a restart: the last review the user worked on comes back as they left it
(frames, culls, undo history, Teach and Export offered), read off the UI thread.

The review id is remembered in the window's state (``ui_state``, ``<data>/window.ini``) when a
review opens; at start-up, a review that still exists in the store is shown again. A review that
was running when the window closed is shown as stored; reviewing its folder again continues it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine.review.summary import build_summary
from app.engine.store.path_text import display_text

from ..common import ui_state

if TYPE_CHECKING:
    from ..common.bridge import Request, TaskContext

LAST_REVIEW = "review/last"


class LastReview:
    """Remembers the review shown in ``view`` and shows it again at the next start."""

    def __init__(self, view: Any):  # the ReviewView that composes it (no import back: no cycle)
        self.view = view
        self.request: Request | None = None

    def remember(self, review_id: str) -> None:
        ui_state.set_str(LAST_REVIEW, review_id)

    def reopen(self) -> Request | None:
        """Show the remembered review (None when there is none, or it was deleted since)."""
        view, store = self.view, self.view.store
        review_id = ui_state.get_str(LAST_REVIEW)
        if store is None or not review_id or store.reviews.find_review(review_id) is None:
            return None

        def task(_ctx: TaskContext) -> tuple[Any, Any]:
            return store.reviews.get_review(review_id), build_summary(store, review_id)

        self.request = request = view.bridge.run("review-reopen", task)
        request.result.connect(self._shown)
        return request

    def _shown(self, value: object) -> None:
        view = self.view
        assert isinstance(value, tuple)
        review, summary = value
        if view.review_id is not None or (view.request is not None and view.request.live):
            return  # the user started a review meanwhile: theirs wins
        view.review_id, view.summary = review.id, summary
        view.culling.open_review(review.id)
        view.grid.set_frames(summary.frames, resort=True)
        view.show_empty_state()
        view.refresh_undo()
        view.export_button.setEnabled(True)
        view.teach_button.setEnabled(True)
        folder = review.folder if not review.folder.startswith("files:") else "a selection of files"
        view.status.setText(f"Last review: {display_text(Path(folder).name or folder)} · {review.total} frames · "
                            f"{review.state}. Choose a folder to review another.")
