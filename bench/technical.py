"""Technical-analysis benchmark: time per measurement on a 24 MP photo.

Run: ``.venv/bin/python bench/technical.py [--repeats 5] [--megapixels 24]``. The photo is the
bundled sample (a real 600x400 JPEG) upscaled to 24 MP with mild noise added so the pixel-level
measurements have something real to chew on. Each row's ratio is against a baseline measured in
the same process: ``np.asarray`` of the RGB image plus a 256-bin ``np.bincount`` of it, i.e. the
cheapest thing any NumPy analysis of the full frame must do. Target: the whole analysis well under
a second (and within a few baselines).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from app.engine.technical import analyze_photo, geometry, grounding_facts, measure, technical_report  # noqa: E402

SAMPLE = ROOT / "resources" / "samples" / "sample.jpg"


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out  # min: robust against other load on the machine


def make_photo(megapixels: float) -> Image.Image:
    """A real photo upscaled to ``megapixels`` (3:2), with sensor-like noise (sigma 2 levels)."""
    with Image.open(SAMPLE) as src:
        base = src.convert("RGB")
    width = int(round(math.sqrt(megapixels * 1e6 * 3 / 2)))
    height = int(round(width * 2 / 3))
    big = np.asarray(base.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    noise = np.random.default_rng(0).integers(-3, 4, size=big.shape, dtype=np.int16)
    return Image.fromarray(np.clip(big + noise, 0, 255).astype(np.uint8))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--megapixels", type=float, default=24.0)
    args = parser.parse_args()

    photo = make_photo(args.megapixels)
    print(f"photo: {photo.width}x{photo.height} ({photo.width * photo.height / 1e6:.1f} MP), "
          f"best of {args.repeats}")

    def baseline() -> object:
        return np.bincount(np.asarray(photo).ravel(), minlength=256)

    base, _ = best_time(baseline, args.repeats)
    prep = measure.prepare(photo)
    rows: list[tuple[str, Callable[[], object]]] = [
        ("prepare: luminance (full res)", lambda: photo.convert("L")),
        ("prepare: histograms (full res)", lambda: (photo.histogram(), prep.luma.histogram())),
        ("prepare: working copy (<=1600 px)", lambda: measure.downscale(prep.luma, measure.WORK_LONG_SIDE)),
        ("prepare: colour copy (<=320 px)", lambda: measure.downscale(photo, measure.COLOUR_LONG_SIDE)),
        ("prepare: all", lambda: measure.prepare(photo)),
        ("histograms", lambda: measure.measure_histograms(prep)),
        ("clipping", lambda: measure.measure_clipping(prep)),
        ("exposure", lambda: measure.measure_exposure(prep)),
        ("dynamic range", lambda: measure.measure_dynamic_range(prep)),
        ("sharpness + focus map", lambda: measure.measure_sharpness(prep)),
        ("noise", lambda: measure.measure_noise(prep)),
        ("colour", lambda: measure.measure_colour(prep)),
        ("horizon", lambda: geometry.measure_horizon(prep)),
        ("subject placement + balance", lambda: geometry.measure_placement(prep)),
    ]
    results = [(name, best_time(fn, args.repeats)[0]) for name, fn in rows]
    total, analysis = best_time(lambda: analyze_photo(photo), args.repeats)
    results.append(("analyze_photo (total)", total))
    results.append(("grounding_facts", best_time(lambda: grounding_facts(analysis), args.repeats)[0]))
    results.append(("technical_report", best_time(lambda: technical_report(analysis), args.repeats)[0]))

    width = max(len(name) for name, _ in results) + 2
    print(f"{'step':<{width}}{'ms':>9}{'x baseline':>12}")
    print(f"{'baseline: np.asarray + bincount':<{width}}{base * 1000:>9.2f}{1.0:>12.2f}")
    for name, seconds in results:
        print(f"{name:<{width}}{seconds * 1000:>9.2f}{seconds / base:>12.2f}")
    verdict = "OK" if total < 1.0 else "TOO SLOW"
    print(f"\nanalyze_photo on {photo.width * photo.height / 1e6:.0f} MP: {total * 1000:.0f} ms ({verdict}; "
          f"target well under 1000 ms)")
    return 0 if total < 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
