"""The measurement-only report and the prompt facts: rule-based, honest about what needs a model."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image, ImageFilter

from app.engine.critique.report import DIMENSIONS, Report, grade_for_score
from app.engine.technical import analyze_photo, grounding_facts, technical_report
from app.engine.technical.readings import pct
from app.engine.technical.technical_report import NOT_MEASURABLE, TECHNICAL_ONLY_NOTE, palette_scheme

skdata = pytest.importorskip("skimage.data")

PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "rocket")
MEASURED = ("composition", "lighting", "focus_sharpness", "visual_balance")


def photo(name: str) -> Image.Image:
    a = getattr(skdata, name)()
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return Image.fromarray(a)


def brighter(img: Image.Image, gain: float, offset: float = 0.0) -> Image.Image:
    a = np.asarray(img, dtype=np.float64) * gain + offset
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def horizon_scene(degrees: float) -> Image.Image:
    rng = np.random.default_rng(0)
    w, h = 900, 600
    y = np.arange(h)[:, None] * np.ones((1, w))
    lum = np.where(y < 0.55 * h, 205 - 50 * y / h, 75 + rng.normal(0, 6, (h, w))) + rng.normal(0, 3, (h, w))
    img = Image.fromarray(np.clip(np.stack([lum * 0.92, lum * 0.97, lum * 1.06], -1), 0, 255).astype(np.uint8))
    r = img.rotate(degrees, Image.Resampling.BICUBIC)
    return r.crop((135, 90, 765, 510))


@pytest.fixture(scope="module")
def reports() -> dict[str, tuple[object, Report]]:
    out = {}
    for name in PHOTOS:
        analysis = analyze_photo(photo(name))
        out[name] = (analysis, technical_report(analysis))
    return out


@pytest.mark.parametrize("name", PHOTOS)
def test_report_never_invents_what_needs_a_model(reports, name):
    _, report = reports[name]
    assert list(report.dimensions) == list(DIMENSIONS)
    for key in NOT_MEASURABLE:
        dim = report.dimensions[key]
        assert dim.score is None
        assert dim.comment.startswith("Needs a vision model")
        assert dim.recommendation == ""
    for key in MEASURED:
        dim = report.dimensions[key]
        assert dim.score is not None and 1 <= dim.score <= 10 and dim.score == int(dim.score)
        assert dim.comment and dim.recommendation


@pytest.mark.parametrize("name", PHOTOS)
def test_grade_is_the_mean_of_the_scored_dimensions(reports, name):
    _, report = reports[name]
    scored = [d.score for d in report.dimensions.values() if d.score is not None]
    mean = sum(scored) / len(scored)
    assert report.overall_grade == grade_for_score(mean)
    assert report.overall_score == pytest.approx(mean, abs=0.01)
    assert report.notes == [TECHNICAL_ONLY_NOTE]
    assert report.summary.startswith("Measurement-only report")
    assert f"{len(scored)} of {len(DIMENSIONS)} dimensions" in report.summary
    json.loads(report.to_json())


def test_colour_harmony_is_not_scored_for_a_monochrome_photo(reports):
    dim = reports["camera"][1].dimensions["color_harmony"]
    assert dim.score is None and "Monochrome" in dim.comment
    assert reports["coffee"][1].dimensions["color_harmony"].score is not None


def test_comments_quote_the_measurements(reports):
    analysis, report = reports["astronaut"]
    focus = report.dimensions["focus_sharpness"].comment
    assert analysis.sharpness.sharpest_region in focus
    lighting = report.dimensions["lighting"].comment
    assert f"shadows clipped on {pct(analysis.clipping.shadows.value)} of the frame" in lighting
    assert "Partly measured" in report.dimensions["composition"].comment


def test_blurred_copy_scores_lower_on_focus():
    img = photo("astronaut")
    sharp = technical_report(analyze_photo(img)).dimensions["focus_sharpness"]
    soft = technical_report(analyze_photo(img.filter(ImageFilter.GaussianBlur(3)))).dimensions["focus_sharpness"]
    assert soft.score < sharp.score
    assert "soft" in soft.recommendation.lower()


def test_over_exposed_copy_scores_lower_on_lighting():
    img = photo("coffee")
    normal = technical_report(analyze_photo(img)).dimensions["lighting"]
    over = technical_report(analyze_photo(brighter(img, 1.8, 30))).dimensions["lighting"]
    assert over.score < normal.score
    assert "highlights" in over.recommendation.lower()


def test_tilted_horizon_costs_composition_and_says_which_way_to_turn():
    level = technical_report(analyze_photo(horizon_scene(0))).dimensions["composition"]
    ccw = technical_report(analyze_photo(horizon_scene(4))).dimensions["composition"]
    cw = technical_report(analyze_photo(horizon_scene(-4))).dimensions["composition"]
    assert ccw.score < level.score and cw.score < level.score
    turn = re.compile(r"Rotate (\d+\.\d)° (clockwise|counter-clockwise) to level the horizon")
    for dim, direction in ((ccw, "clockwise"), (cw, "counter-clockwise")):
        match = turn.match(dim.recommendation)
        assert match and match.group(2) == direction
        assert float(match.group(1)) == pytest.approx(4.0, abs=0.3)


def test_palette_schemes():
    assert palette_scheme([20.0]) == "analogous"
    assert palette_scheme([10.0, 40.0]) == "analogous"
    assert palette_scheme([350.0, 20.0]) == "analogous"  # across 0 degrees
    assert palette_scheme([30.0, 210.0]) == "complementary"
    assert palette_scheme([0.0, 120.0, 240.0]) == "triadic"
    assert palette_scheme([20.0, 40.0, 215.0]) == "complementary"  # split: two close, one opposite
    assert palette_scheme([0.0, 90.0]) == "mixed"


# --- grounding facts ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PHOTOS)
def test_facts_are_short_single_lines(reports, name):
    analysis, _ = reports[name]
    facts = grounding_facts(analysis)
    assert len(facts) >= 8
    for fact in facts:
        assert isinstance(fact, str) and fact.strip() == fact and fact
        assert "\n" not in fact and not fact.endswith(".") and len(fact) <= 140
    assert f"Sharpest region: {analysis.sharpness.sharpest_region}" in "\n".join(facts)


def test_facts_agree_with_the_measurements():
    over = analyze_photo(brighter(photo("coffee"), 1.8, 30))
    facts = grounding_facts(over)
    assert f"Highlights clipped on {pct(over.clipping.highlights.value)} of the frame" in facts
    grey = grounding_facts(analyze_photo(photo("camera")))
    assert "Colour: monochrome (no colour)" in grey
    assert not any(f.startswith("Colour balance") for f in grey)


def test_facts_state_the_horizon_direction():
    tilt = re.compile(r"Horizon tilted (\d+\.\d)° \((rises|falls) to the right\)")
    for degrees, way in ((3, "rises"), (-3, "falls")):
        matches = [m for f in grounding_facts(analyze_photo(horizon_scene(degrees))) if (m := tilt.fullmatch(f))]
        assert len(matches) == 1 and matches[0].group(2) == way
        assert float(matches[0].group(1)) == pytest.approx(3.0, abs=0.3)
    assert any(f.startswith("Horizon: level") for f in grounding_facts(analyze_photo(horizon_scene(0))))
    assert "Horizon: no dominant horizontal line detected" in grounding_facts(analyze_photo(photo("chelsea")))


@pytest.mark.parametrize("gain", [0.45, 0.6, 0.75, 0.9, 1.0, 1.15, 1.3])
@pytest.mark.parametrize("name", ["coffee", "camera"])
def test_lighting_score_comment_and_advice_never_contradict(name, gain):
    """One rule: a problem the comment names costs the score and leads the advice; 10 and "keep it"
    only with a balanced exposure and nothing clipped (issue 23: 10.0 beside "slightly dark")."""
    from app.engine.technical.technical_report import lighting_findings

    analysis = analyze_photo(brighter(photo(name), gain))
    dim = technical_report(analysis).dimensions["lighting"]
    clean = ("Exposure balanced" in dim.comment and "no highlights clipped" in dim.comment
             and "no shadows clipped" in dim.comment and "narrow" not in dim.comment)
    keep = "keep it" in dim.recommendation
    assert clean == keep == (dim.score == 10.0) == (not lighting_findings(analysis)), (dim.score, dim.comment,
                                                                                        dim.recommendation)


def test_the_sample_photo_report_does_not_contradict_itself():
    from app.engine.resources import resource_path

    dim = technical_report(analyze_photo(Image.open(resource_path("samples", "sample.jpg")))).dimensions["lighting"]
    assert ("keep it" in dim.recommendation) == (dim.score == 10.0) == ("Exposure balanced" in dim.comment)
