"""A review's top-level progress tells the truth across both stages (issue 21 leftovers): what
GET /reviews/{id} and the Lightroom plug-in show while triage runs, then while critiques run.

A real tiny model, a real folder and SQLite; the payload read from each progress event, as a client
polling the server would see it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from review_support import BURST, PAIR_JPEG, make_shoot

from app.engine.review.folder_review import listed_review, review_folder, review_payload
from app.engine.review.progress import TRIAGE_SHARE, Progress
from app.engine.service import MondrianService
from app.engine.settings import Settings
from app.engine.store.database import Store


def _folder(tmp_path: Path, names: tuple[str, ...]) -> Path:
    full = make_shoot(tmp_path / "full")
    folder = tmp_path / "shoot"
    folder.mkdir()
    for name in names:
        shutil.copyfile(full / name, folder / name)
    return folder


def test_progress_moves_during_triage_then_through_the_critiques(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _folder(tmp_path, (*BURST, PAIR_JPEG))
    store = Store(tmp_path / "db.sqlite")
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000), store=store)
    seen: list[tuple[str, float, str | None, int]] = []

    def poll(event: Progress) -> None:  # what a client polling GET /reviews/{id} would read now
        review = review_payload(store, event.review_id)["review"]
        listed = listed_review(store.reviews.get_review(event.review_id))  # GET /reviews says the same
        assert (listed["progress"], listed["stage"]) == (review["progress"], review["stage"])
        seen.append((event.stage, review["progress"], review["stage"], review["finished"]))

    try:
        review = review_folder(service, store, folder, "ansel", "baseline", critique="top:2", on_progress=poll)
        assert review.state == "completed"
        final = review_payload(store, review.id)["review"]
    finally:
        service.close()
    triage = [s for s in seen if s[0] == "triage"]
    critique = [s for s in seen if s[0] == "critique"]
    assert triage and critique
    # during triage nothing is fully critiqued, yet the bar moves: up to the triage share, stage named
    assert all(finished == 0 and stage == "triage" for _, _, stage, finished in triage)
    assert max(p for _, p, _, _ in triage) == TRIAGE_SHARE and any(0 < p < TRIAGE_SHARE for _, p, _, _ in triage)
    assert all(TRIAGE_SHARE <= p <= 1 and stage == "critique" for _, p, stage, _ in critique)
    values = [p for _, p, _, _ in seen]
    assert values == sorted(values) and critique[-1][1] == 1.0  # never goes back; the last critique fills it
    assert final["progress"] == 1.0 and final["stage"] is None and final["stages"]["critique"]["critiqued"] == 2


def test_a_stopped_review_reports_its_stored_progress(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Not running here (another process ran it, or it was cancelled): from the stored counts."""
    folder = _folder(tmp_path, BURST)
    store = Store(tmp_path / "db.sqlite")
    service = MondrianService(Settings(model=str(tiny_model_dir), max_text_chars=24, max_tokens=2000), store=store)
    try:
        review = review_folder(service, store, folder, "ansel", "baseline", critique="none")
        store.reviews.set_review_state(review.id, "cancelled", "cancelled")  # as if stopped after its triage
        stopped = review_payload(store, review.id)["review"]
    finally:
        service.close()
    assert stopped["stage"] is None and stopped["finished"] == 0
    assert stopped["progress"] == 1.0  # triage only: every frame scored is the whole bar
