"""A critique carries its photo's shooting data and notes, and a comparison's link, into the store
and back (history), the Markdown export and the measured-facts table (issue 12: expected and missing)."""

from __future__ import annotations

from ui_support import sample_photo, tiny_settings

from app.engine.critique.export import to_markdown, to_text
from app.engine.critique.result import CritiqueResult
from app.engine.photos.decode import load_photo
from app.engine.service import MondrianService
from app.engine.store.database import Store
from app.engine.technical import analyze_photo
from app.engine.technical.results import measurements_of
from app.testing.dng import add_shooting_data


def test_measured_facts_read_back_from_the_stored_analysis(tmp_path):
    analysis = analyze_photo(load_photo(sample_photo(tmp_path)))
    live = [(label, m) for label, m in analysis.measurements().values()]
    assert measurements_of(analysis.to_dict()) == live and len(live) == 16
    assert measurements_of(None) == [] and measurements_of({"exposure": "garbage"}) == []


def test_shooting_data_notes_and_pair_travel_through_the_store(tiny_model_dir, home, tmp_path):
    photo = add_shooting_data(sample_photo(tmp_path, "night.jpg"), exposure=(1, 30), iso=3200, focal_mm=200)
    store = Store(tmp_path / "jobs.db")
    service = MondrianService(tiny_settings(tiny_model_dir), store=store)
    try:
        pair = service.new_pair_id()
        base = service.critique(photo, "ansel", "baseline", pair_id=pair)
        plain = service.critique(photo, "ansel", "baseline")
        assert base.shooting is not None and base.shooting["iso"] == 3200 and base.shooting["lens"] == "70-200mm F2.8"
        assert base.pair_id == pair and plain.pair_id is None
        assert base.to_dict()["shooting"]["summary"].startswith("1/30 s at 200 mm")

        job = store.jobs.get_job(base.job_id)
        again = CritiqueResult.from_job(job)
        assert again.shooting == base.shooting and again.notes == base.notes and again.pair_id == pair
        assert [j.id for j in service.paired_jobs(job)] == [base.job_id]  # the other half is missing
        second = service.critique(photo, "ansel", "technical", pair_id=pair)
        assert [j.id for j in service.paired_jobs(job)] == [base.job_id, second.job_id]
        lone = store.jobs.get_job(plain.job_id)
        assert service.paired_jobs(lone) == [lone]

        md = to_markdown(again)
        assert "- Shot: 1/30 s at 200 mm, f/2.8, ISO 3200" in md and "70-200mm F2.8" in md and "06 May 2024" in md
        assert "Shot: 1/30 s" in to_text(again)
    finally:
        service.close()
        store.close()


def test_notes_about_the_pixels_are_kept(home, tmp_path):
    from PIL import Image

    gif = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (96, 96), (40 * i, 90, 160)) for i in range(3)]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    store = Store(tmp_path / "jobs.db")
    service = MondrianService(tiny_settings(tmp_path / "no-model"), store=store)
    try:
        result = service.critique(gif, "ansel", "technical")
        assert result.notes and "first" in result.notes[0].lower()
        assert CritiqueResult.from_job(store.jobs.get_job(result.job_id)).notes == result.notes
        assert f"- Note: {result.notes[0]}" in to_markdown(result)
    finally:
        service.close()
        store.close()
