"""Folder review benchmark: frames per minute, RAW preview vs demosaic, re-run cost, memory over a run.

Run: ``.venv/bin/python bench/review.py [--frames 40] [--model DIR]``.

* **Throughput**: a folder of ``--frames`` frames (half JPEG, half DNG, a third of the DNGs
  without an embedded preview) reviewed through ``critique_many`` (the engine's one entry point
  for many photos, batched: ``batched`` says so), and 8 of its frames through ``critique_many``
  at batch 4 against batch 1 (target: >= 2x).
* **RAW decode**: per-frame time to prepare a DNG through its embedded preview vs a LibRaw
  demosaic (the preparation the critique does).
* **Re-run**: the same review again (every frame skipped by content hash): target < 5 % of the
  first run.
* **Memory**: the process's resident set size after each quarter of the frames (flat = no growth
  per frame).

Without ``--model`` a tiny random model is built (offline). Prints one table and writes
``bench/results/review.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MONDRIAN_HOME", tempfile.mkdtemp(prefix="mondrian-bench-review-"))

TARGET_RERUN = 0.05
TARGET_BATCHED = 2.0


def batched_vs_one(service, frames: list[Path]) -> float:
    """Frames per second of ``critique_many`` at batch 4 over batch 1 on the same frames, each run
    from empty caches (best of two, the machine may be shared)."""
    from app.engine.review.runner import critique_many

    def clear(loaded) -> None:
        if "caches" in loaded.state:
            loaded.state["caches"].clear()

    def timed(size: int) -> float:
        best = float("inf")
        for _ in range(2):
            service.run_on_model(clear).result()
            t0 = time.perf_counter()
            critique_many(service, frames, "ansel", "baseline", batch_size=size)
            best = min(best, time.perf_counter() - t0)
        return best

    one = timed(1)
    return round(one / timed(4), 2)


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:  # Linux; on macOS fall back to the peak
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def current_rss_mb() -> float:
    try:
        return rss_mb()
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # bytes on macOS


def make_folder(folder: Path, frames: int) -> Path:
    import numpy as np
    from PIL import Image
    from skimage import data

    from app.testing.dng import write_dng

    folder.mkdir(parents=True, exist_ok=True)
    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
    for i in range(frames):
        img = Image.fromarray(sources[i % len(sources)]).convert("RGB")
        img.thumbnail((512, 512))
        arr = np.asarray(img.rotate(i * 7 % 360))
        if i % 2 == 0:
            Image.fromarray(arr).save(folder / f"IMG_{i:04d}.jpg", quality=90)
        else:
            write_dng(folder / f"IMG_{i:04d}.dng", arr, preview=None if i % 3 == 0 else arr)
    return folder


def decode_times(folder: Path, settings) -> dict:
    from app.engine.photos.prepare import prepare_photo

    out: dict[str, list[float]] = {"embedded_preview": [], "demosaic": []}
    for path in sorted(folder.glob("*.dng")):
        t0 = time.perf_counter()
        prepared = prepare_photo(path, settings)
        method = prepared.source.raw.method if prepared.source and prepared.source.raw else "?"
        out.setdefault(method, []).append(time.perf_counter() - t0)
    return {k: round(sum(v) / len(v) * 1000, 1) for k, v in out.items() if v}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--model", help="model folder or repo id (default: a tiny random model)")
    args = parser.parse_args()

    from app.engine.review.folder_review import run_review, start_review
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.store.database import open_default_store
    from app.testing.tiny_model import build_tiny_model

    model = args.model or str(build_tiny_model(Path(tempfile.mkdtemp(prefix="mondrian-bench-model-")) / "tiny"))
    folder = make_folder(Path(tempfile.mkdtemp(prefix="mondrian-bench-shoot-")) / "shoot", args.frames)
    settings = Settings(model=model, max_text_chars=24 if not args.model else 400, max_tokens=2000)
    store = open_default_store()
    service = MondrianService(settings, store=store)
    service.critique(next(iter(sorted(folder.glob("*.jpg")))), "ansel", "baseline")  # load the model (not timed)

    decode = decode_times(folder, settings)
    memory: list[float] = [round(current_rss_mb(), 1)]
    quarter = max(1, args.frames // 4)

    def on_progress(p) -> None:
        if p.path and p.finished % quarter == 0:
            memory.append(round(current_rss_mb(), 1))

    batch_ratio = batched_vs_one(service, sorted(folder.glob("*.jpg"))[:8])
    t0 = time.perf_counter()
    review = start_review(service, store, folder, "ansel", "baseline")
    review = run_review(service, store, review.id, on_progress=on_progress)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = start_review(service, store, folder, "ansel", "baseline")
    again = run_review(service, store, again.id)
    rerun_s = time.perf_counter() - t0
    service.close()
    store.close()

    from app.engine.review import runner
    batched = runner.BATCHED
    result = {
        "model": args.model or "tiny (random weights)", "frames": review.total, "critiqued": review.done,
        "batched": batched, "first_run_s": round(first_s, 2), "batched_vs_one_at_a_time": batch_ratio,
        "frames_per_min": round(review.done / first_s * 60, 1), "rerun_s": round(rerun_s, 3),
        "rerun_ratio": round(rerun_s / first_s, 4), "rerun_reviewed_again": again.done - review.done,
        "decode_ms_per_frame": decode, "rss_mb_by_quarter": memory,
        "targets": {"rerun_ratio": TARGET_RERUN, "batched_speedup": TARGET_BATCHED},
    }
    print(f"\nMondrian review benchmark ({result['model']}; {review.total} frames, half DNG)\n")
    path = "batched" if batched else "one at a time (the batched path is not in this build)"
    print(f"first run      {first_s:8.1f} s   {result['frames_per_min']:.1f} frames/min   path: {path}")
    ok = "ok" if batch_ratio >= TARGET_BATCHED else "UNDER"
    print(f"batched        {batch_ratio:8.2f} x   frames/min at batch 4 / one at a time, same frames  "
          f"[{ok}, target >= {TARGET_BATCHED:g}]")
    ok = "ok" if result["rerun_ratio"] < TARGET_RERUN else "OVER"
    print(f"re-run         {rerun_s:8.3f} s   {result['rerun_ratio'] * 100:.2f} % of the first run  "
          f"[{ok}, target < {TARGET_RERUN * 100:g} %]")
    print("RAW prepare    " + ", ".join(f"{k} {v} ms" for k, v in decode.items()) + " per frame")
    print(f"RSS (MB)       start, then after each quarter: {memory}")
    out = ROOT / "bench" / "results" / "review.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
