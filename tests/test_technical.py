"""Technical analysis on real photographs (scikit-image's bundled photos): properties, not magic numbers.

Each test changes one thing about a real photo (blur, exposure, tint, rotation, orientation) and
checks the matching measurement moves the right way, or builds a scene where the answer is known
by construction (a pasted sharp patch, a rotated horizon).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from app.engine.photos.decode import load_photo
from app.engine.technical import Measurement, TechnicalAnalysis, analyze_photo
from app.engine.technical.measure import FOCUS_GRID
from app.engine.technical.readings import region_name

skdata = pytest.importorskip("skimage.data")

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "rocket")


def photo(name: str) -> Image.Image:
    """A real photograph from scikit-image, as 8-bit RGB."""
    a = getattr(skdata, name)()
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return Image.fromarray(a)


def scaled(img: Image.Image, gain: float, offset: float = 0.0) -> Image.Image:
    a = np.asarray(img, dtype=np.float64) * gain + offset
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def tinted(img: Image.Image, gains: tuple[float, float, float]) -> Image.Image:
    a = np.asarray(img, dtype=np.float64) * np.array(gains)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def horizon_scene(width: int = 900, height: int = 600, at: float = 0.55, seed: int = 0) -> Image.Image:
    """Sky gradient over darker, textured ground with sensor-like noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(height)[:, None] * np.ones((1, width))
    sky = 205 - 50 * y / height
    ground = 75 + 12 * np.sin(np.arange(width)[None, :] / 13.0) + rng.normal(0, 6, (height, width))
    lum = np.where(y < at * height, sky, ground) + rng.normal(0, 3, (height, width))
    rgb = np.stack([lum * 0.92, lum * 0.97, lum * 1.06], axis=-1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def real_horizon() -> Image.Image:
    """Two real photographs joined at a straight line: the dusk sky of `rocket` over the `grass` texture
    (scikit-image has no landscape with a clean horizon)."""
    w, h = 640, 427
    sky = Image.fromarray(skdata.rocket()[:200]).resize((w, h // 2))
    grass = np.stack([skdata.grass()] * 3, axis=-1) * np.array([0.45, 0.6, 0.3])
    ground = Image.fromarray(grass.astype(np.uint8)).resize((w, h - h // 2))
    scene = Image.new("RGB", (w, h))
    scene.paste(sky, (0, 0))
    scene.paste(ground, (0, h // 2))
    return scene


def rotated(img: Image.Image, degrees: float, margin: float = 0.15) -> Image.Image:
    """Rotate counter-clockwise by ``degrees`` and crop away the filled corners (their edges would
    otherwise be straight lines at exactly that angle)."""
    r = img.rotate(degrees, Image.Resampling.BICUBIC)
    w, h = r.size
    return r.crop((int(w * margin), int(h * margin), int(w * (1 - margin)), int(h * (1 - margin))))


@pytest.fixture(scope="module")
def analyses() -> dict[str, TechnicalAnalysis]:
    return {name: analyze_photo(photo(name)) for name in PHOTOS}


# --- shape of the result ------------------------------------------------------------------------


def test_every_measurement_has_value_unit_and_reading(analyses):
    for name, a in analyses.items():
        assert (a.width, a.height) == photo(name).size
        for key, (label, m) in a.measurements().items():
            assert isinstance(m, Measurement), key
            assert label and m.unit and m.reading, (name, key)
            assert m.value is None or isinstance(m.value, float), (name, key, type(m.value))


def test_to_dict_is_json_and_histograms_are_lists(analyses):
    a = analyses["coffee"]
    data = json.loads(json.dumps(a.to_dict()))
    hist = data["histograms"]
    for channel in ("luminance", "red", "green", "blue"):
        assert isinstance(hist[channel], list) and len(hist[channel]) == 256
        assert sum(hist[channel]) == a.width * a.height
    assert data["sharpness"]["sharpest_region"] == a.sharpness.sharpest_region
    assert len(data["sharpness"]["focus_map"]) == FOCUS_GRID
    assert data["clipping"]["highlights"]["unit"] == "% of frame"


def test_luminance_histogram_is_the_photos(analyses):
    img = photo("chelsea")
    assert analyses["chelsea"].histograms.luminance == img.convert("L").histogram()


def test_analysis_is_deterministic_and_leaves_the_photo_alone():
    img = photo("rocket")
    before = img.tobytes()
    first = analyze_photo(img).to_dict()
    assert img.tobytes() == before and img.mode == "RGB"
    assert analyze_photo(img).to_dict() == first


# --- exposure and tones --------------------------------------------------------------------------


@pytest.mark.parametrize("name", PHOTOS)
def test_over_exposed_copy_clips_more_highlights(name):
    img = photo(name)
    base, over = analyze_photo(img), analyze_photo(scaled(img, 1.8, 20))
    assert over.clipping.highlights.value > base.clipping.highlights.value
    assert over.exposure.mean.value > base.exposure.mean.value
    assert over.exposure.ev_offset.value > base.exposure.ev_offset.value


@pytest.mark.parametrize("name", PHOTOS)
def test_under_exposed_copy_clips_more_shadows(name):
    img = photo(name)
    base, under = analyze_photo(img), analyze_photo(scaled(img, 0.35))
    assert under.clipping.shadows.value > base.clipping.shadows.value
    assert under.exposure.mean.value < base.exposure.mean.value
    assert under.exposure.ev_offset.value < base.exposure.ev_offset.value


@pytest.mark.parametrize("name", PHOTOS)
def test_flattened_copy_uses_less_tonal_range(name):
    img = photo(name)
    base, flat = analyze_photo(img), analyze_photo(scaled(img, 0.4, 90))
    assert flat.dynamic_range.used.value < base.dynamic_range.used.value
    assert flat.dynamic_range.stops.value < base.dynamic_range.stops.value
    assert flat.exposure.contrast.value < base.exposure.contrast.value


# --- sharpness, focus map, noise ------------------------------------------------------------------


@pytest.mark.parametrize("name", PHOTOS)
def test_blurred_copy_is_less_sharp(name):
    img = photo(name)
    base = analyze_photo(img).sharpness
    soft = analyze_photo(img.filter(ImageFilter.GaussianBlur(1.5))).sharpness
    softer = analyze_photo(img.filter(ImageFilter.GaussianBlur(3))).sharpness
    assert base.overall.value > soft.overall.value > softer.overall.value
    assert base.peak.value > soft.peak.value > softer.peak.value


@pytest.mark.parametrize("cell", [(0, 0), (1, 4), (3, 3), (5, 1), (4, 5)])
def test_focus_map_finds_a_sharp_patch_in_a_blurred_frame(cell):
    frame = photo("chelsea").filter(ImageFilter.GaussianBlur(4))
    w, h = frame.size
    row, col = cell
    # one focus-map cell's worth of sharp, detailed photo (the saucer, spoon and table of `coffee`)
    pw, ph = w // FOCUS_GRID - 8, h // FOCUS_GRID - 8
    patch = photo("coffee").crop((330, 180, 330 + pw, 180 + ph))
    x0 = int(w * col / FOCUS_GRID) + 4
    y0 = int(h * row / FOCUS_GRID) + 4
    frame.paste(patch, (x0, y0))
    s = analyze_photo(frame).sharpness
    assert s.sharpest_cell == cell
    assert s.sharpest_region == region_name((x0 + pw / 2) / w, (y0 + ph / 2) / h)
    assert s.spread > 4  # the rest of the frame is much softer


def test_region_names_follow_the_thirds():
    assert region_name(0.1, 0.1) == "upper left third"
    assert region_name(0.5, 0.5) == "centre"
    assert region_name(0.9, 0.5) == "right middle"
    assert region_name(0.5, 0.95) == "bottom centre"
    assert region_name(1.0, 1.0) == "lower right third"


@pytest.mark.parametrize("name", PHOTOS)
def test_noisier_copy_measures_more_noise(name):
    img = photo(name)
    rng = np.random.default_rng(3)
    noisy = np.asarray(img, dtype=np.float64) + rng.normal(0, 8, (img.height, img.width, 1))
    noisy_img = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    base, more = analyze_photo(img).noise.sigma.value, analyze_photo(noisy_img).noise.sigma.value
    assert more > base + 3  # luminance noise of 8 levels added to every channel equally


# --- colour -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket"])
def test_greyscale_copy_has_near_zero_saturation(name):
    img = photo(name)
    grey = img.convert("L").convert("RGB")
    colour, mono = analyze_photo(img).colour, analyze_photo(grey).colour
    assert mono.saturation.value < 1.0 < colour.saturation.value
    assert mono.colourfulness.value < 1.0 < colour.colourfulness.value
    assert mono.monochrome and not colour.monochrome
    assert mono.dominant_hues == [] and colour.dominant_hues
    assert mono.cast.reading == "neutral"


def test_camera_is_monochrome(analyses):
    assert analyses["camera"].colour.monochrome
    assert analyses["camera"].colour.saturation.value == 0.0


def test_dominant_hues_name_the_photos_colours(analyses):
    assert analyses["rocket"].colour.dominant_hues[0].name in ("azure", "blue")  # dusk sky
    assert {h.name for h in analyses["coffee"].colour.dominant_hues} <= {"red", "orange"}
    for a in analyses.values():
        shares = [h.share for h in a.colour.dominant_hues]
        assert shares == sorted(shares, reverse=True)
        assert sum(shares) + a.colour.neutral_share <= 100.5


def test_warm_and_cool_tints_move_the_colour_balance():
    img = photo("astronaut")  # white backdrop: plenty of neutral tones
    base = analyze_photo(img).colour
    warm = analyze_photo(tinted(img, (1.12, 1.0, 0.88))).colour
    cool = analyze_photo(tinted(img, (0.88, 1.0, 1.12))).colour
    green = analyze_photo(tinted(img, (0.92, 1.08, 0.92))).colour
    assert warm.warmth > base.warmth + 5 and "warm" in warm.cast.reading
    assert cool.warmth < base.warmth - 1
    assert green.tint > base.tint + 5 and "green" in green.cast.reading
    assert base.cast.reading == "neutral"


# --- horizon ------------------------------------------------------------------------------------


@pytest.mark.parametrize("degrees", [-6.0, -2.5, -1.0, 1.0, 2.5, 6.0])
def test_rotated_horizon_is_measured_with_its_sign(degrees):
    tilt = analyze_photo(rotated(horizon_scene(), degrees)).horizon.tilt
    assert tilt.value is not None
    assert math.copysign(1, tilt.value) == math.copysign(1, degrees)
    assert tilt.value == pytest.approx(degrees, abs=0.3)
    side = "rises to the right" if degrees > 0 else "falls to the right"
    assert side in tilt.reading


def test_level_horizon_reads_level():
    horizon = analyze_photo(rotated(horizon_scene(seed=1), 0.0)).horizon
    assert horizon.tilt.value == pytest.approx(0.0, abs=0.3)
    assert horizon.tilt.reading == "level"
    assert horizon.line_position == pytest.approx(0.55 + (0.55 - 0.5) * 0.15 / 0.35, abs=0.05)


@pytest.mark.parametrize("degrees", [-3.0, 3.0])
def test_rotated_real_horizon_is_measured_with_its_sign(degrees):
    scene = real_horizon()
    level = analyze_photo(scene).horizon.tilt.value
    tilt = analyze_photo(rotated(scene, degrees)).horizon.tilt.value
    assert level == pytest.approx(0.0, abs=0.3)
    assert tilt == pytest.approx(degrees, abs=0.4)


def test_no_dominant_line_means_no_tilt():
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (400, 600, 3), dtype=np.uint8))
    stripes = Image.fromarray(np.tile((np.arange(600) // 20 % 2 * 200).astype(np.uint8), (400, 1))).convert("RGB")
    for img in (noise, stripes, photo("chelsea"), photo("coffee")):
        horizon = analyze_photo(img).horizon
        assert horizon.tilt.value is None and horizon.coverage is None
        assert "no dominant" in horizon.tilt.reading


# --- placement and balance ------------------------------------------------------------------------


def _object_on_plain_ground(cx: float, cy: float) -> Image.Image:
    rng = np.random.default_rng(5)
    ground = np.clip(rng.normal(120, 2, (480, 720, 3)), 0, 255).astype(np.uint8)
    frame = Image.fromarray(ground)
    subject = photo("coffee").crop((180, 20, 420, 220)).resize((110, 92))  # the cup
    frame.paste(subject, (int(cx * 720 - 55), int(cy * 480 - 46)))
    return frame


@pytest.mark.parametrize(("where", "name"), [((1 / 3, 1 / 3), "upper left"), ((2 / 3, 2 / 3), "lower right"),
                                            ((2 / 3, 1 / 3), "upper right")])
def test_subject_on_a_thirds_intersection(where, name):
    p = analyze_photo(_object_on_plain_ground(*where)).placement
    assert p.kind == "thirds_point" and p.nearest_thirds_name == name
    assert p.thirds_offset.value < 8
    assert p.subject == pytest.approx(where, abs=0.08)


def test_centred_subject_and_visual_weight():
    centred = analyze_photo(_object_on_plain_ground(0.5, 0.5)).placement
    assert centred.kind == "centre" and centred.thirds_offset.reading == "centred"
    assert 42 < centred.balance.value < 58
    left = analyze_photo(_object_on_plain_ground(0.22, 0.5)).placement
    right = analyze_photo(_object_on_plain_ground(0.78, 0.5)).placement
    assert left.balance.value > 70 and "left" in left.balance.reading
    assert right.balance.value < 30 and "right" in right.balance.reading


# --- orientation, input, speed ---------------------------------------------------------------------


def test_exif_orientation_is_respected(tmp_path):
    """A camera stores a portrait shot sideways with Orientation=6; measurements follow the display."""
    displayed = photo("chelsea").filter(ImageFilter.GaussianBlur(4)).resize((300, 450))
    displayed.paste(photo("coffee").crop((330, 180, 400, 240)), (10, 10))  # sharp detail, top left
    stored = displayed.transpose(Image.Transpose.ROTATE_90)  # what the sensor wrote (450 x 300)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "portrait.jpg"
    stored.save(path, quality=95, exif=exif)

    loaded = load_photo(path, max_edge=None)
    assert loaded.size == (300, 450)
    a = analyze_photo(loaded)
    assert (a.width, a.height) == (300, 450)
    assert a.sharpness.sharpest_region == "upper left third"
    with Image.open(path) as raw:  # ignoring the tag puts the detail elsewhere
        assert analyze_photo(raw.convert("RGB")).sharpness.sharpest_region == "lower left third"


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_other_image_modes_are_measured(mode):
    img = photo("astronaut")
    other = Image.fromarray(np.asarray(img.convert("L"), dtype=np.uint16) * 257) if mode == "I;16" \
        else img.convert(mode)
    a = analyze_photo(other)
    assert (a.width, a.height) == img.size
    assert a.exposure.mean.value == pytest.approx(analyze_photo(img).exposure.mean.value, abs=3)


def test_bad_input_gets_a_clear_error():
    with pytest.raises(TypeError, match="PIL.Image.Image"):
        analyze_photo("photo.jpg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"too small .*20x500"):
        analyze_photo(Image.new("RGB", (20, 500)))


def test_uniform_frames_do_not_crash_or_invent():
    for colour in ((0, 0, 0), (128, 128, 128), (255, 255, 255)):
        a = analyze_photo(Image.new("RGB", (320, 240), colour))
        assert a.horizon.tilt.value is None
        assert a.placement.kind == "none" and a.placement.thirds_offset.value is None
        assert a.sharpness.peak.value == 0.0
        json.dumps(a.to_dict())
    assert analyze_photo(Image.new("RGB", (320, 240))).clipping.shadows.value == 100.0
    assert analyze_photo(Image.new("RGB", (320, 240), (255,) * 3)).clipping.highlights.value == 100.0


def test_a_24_megapixel_photo_is_measured_quickly():
    big = photo("coffee").resize((6000, 4000), Image.Resampling.BILINEAR)
    analyze_photo(big)  # warm-up
    start = time.perf_counter()
    a = analyze_photo(big)
    elapsed = time.perf_counter() - start
    assert (a.width, a.height) == (6000, 4000)
    assert a.sharpness.working_size[0] <= 1600
    assert elapsed < 3.0  # generous: the benchmark shows ~0.15 s on this machine


def test_importing_the_analysis_pulls_in_no_test_or_gui_dependency():
    code = ("import sys, app.engine.technical\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('skimage', 'scipy', 'PySide6', 'mlx')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
