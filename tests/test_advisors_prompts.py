"""Advisors (built-in and user), id safety, and the shared prompt builder."""

from __future__ import annotations

import json
import os

import pytest

from app.engine import paths
from app.engine.advisors import (
    Advisor,
    AdvisorError,
    UnknownAdvisorError,
    get_advisor,
    load_advisors,
    save_user_advisor,
    slugify,
    validate_advisor_id,
)
from app.engine.critique.prompts import ReferenceContext, critique_prompt, profile_prompt
from app.engine.critique.report import DIMENSIONS


def test_builtins_ship_at_least_five():
    advisors = load_advisors()
    for needed in ("ansel", "fan_ho", "cartier_bresson"):
        assert needed in advisors and advisors[needed].builtin
    assert sum(a.builtin for a in advisors.values()) >= 5
    for a in advisors.values():
        assert a.name and a.bio and a.prompt and a.looks_for


@pytest.mark.parametrize("bad", ["", "  ", "../etc", "a/b", "a\\b", "..", "x..y", "Ansel", "a b", "é", "-x", None, 3])
def test_unsafe_ids_rejected(bad):
    with pytest.raises(AdvisorError):
        validate_advisor_id(bad)


def test_good_ids_and_slugify():
    for good in ("ansel", "my_advisor-2", "a"):
        assert validate_advisor_id(good) == good
    assert slugify("Jane Doe's Eye!") == "jane_doe_s_eye"
    assert validate_advisor_id(slugify("???")) == "advisor"


def test_user_advisor_round_trip_and_broken_file_reported():
    adv = Advisor(id="jane", name="Jane", bio="Me.", looks_for=["light"], prompt="Be kind.")
    save_user_advisor(adv)
    assert get_advisor("jane").prompt == "Be kind."
    broken = paths.advisors_dir() / "broken.json"
    broken.write_text("{not json")
    mismatch = paths.advisors_dir() / "other.json"
    mismatch.write_text(json.dumps({"id": "notother", "name": "X"}))
    errors: list[str] = []
    advisors = load_advisors(errors=errors)
    assert "jane" in advisors and "broken" not in advisors
    assert any("broken.json" in e for e in errors) and any("does not match" in e for e in errors)
    broken.unlink()
    mismatch.unlink()
    (paths.advisors_dir() / "jane.json").unlink()


def test_unknown_advisor_lists_choices():
    with pytest.raises(UnknownAdvisorError) as err:
        get_advisor("nobody")
    assert "ansel" in str(err.value)


def test_prompt_has_persona_facts_references_and_format():
    ansel = get_advisor("ansel")
    prompt = critique_prompt(ansel, facts=["highlights clipped on 3.1 % of the frame"],
                             references=[ReferenceContext("dunes.jpg", {"composition": 8.0})])
    # What is constant for the advisor sits before the photo (the system turn), the photo's own
    # facts and references after it, so the text before the photo is shared by all its photos.
    assert "Ansel Adams" in prompt.system and "Ansel Adams" not in prompt.user
    assert "highlights clipped on 3.1 %" in prompt.user
    assert "dunes.jpg: composition 8" in prompt.user
    for key in DIMENSIONS:
        assert key in prompt.system
    assert prompt.system == critique_prompt(ansel).system
    msgs = prompt.training_messages({"x": 1})
    assert msgs[:2] == prompt.messages() and msgs[2] == {"role": "assistant", "content": '{"x": 1}'}
    profile = profile_prompt()
    assert "Ansel" not in profile.system + profile.user
    # Every pass starts with the same role and format text (shared across advisors and RAG's passes).
    other = critique_prompt(Advisor(id="x", name="X", bio=""))
    shared = len(os.path.commonprefix([profile.system, prompt.system, other.system]))
    assert shared > 0.5 * len(profile.system)
