"""Folder review benchmark: the two stages (issue 21), frames per minute, RAW preview vs demosaic,
re-run cost, memory over a run.

Run: ``.venv/bin/python bench/review.py [--frames 40] [--model DIR] [--section all|stages|memory|folder]``.

* **Two stages** (issue 21's Measure table): per frame, for the full-critique review and for
  triage: prompt tokens computed after the caches, image tokens at the review's edge (the default
  model's by Qwen3-VL's processor arithmetic), generated tokens and forward passes (walked through
  the grammar with a ~150k-token byte-level BPE trained locally on English text, as
  ``bench/triage.py`` does: its pieces are reused here), and an ESTIMATE of seconds per frame and
  minutes per 1,000 frames on an M3 Pro and an M4 Max from those counts, the vision tower's cost,
  the preparation time measured here on a 24 MP JPEG and the published rates in
  ``bench/triage.py``'s ``RATES`` (sources there). Measured here on the tiny model: what the
  prefetch thread saves (triage of 24 MP frames, prepared ahead vs in series) and what batching
  gives each stage.
* **Memory over a 200-frame review** (both stages: triage of every frame, then ``top:20``): peak
  RSS growth per 100 frames after a 50-frame warm-up (target < 5 MB).

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
TARGET_RSS_MB_PER_100 = 5.0
WARM_UP = 50
FULL_SHARE = 0.1  # the estimate's second stage: full critiques for a tenth of the shoot (top:100 of 1,000)


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


def big_frames(folder: Path, count: int) -> list[Path]:
    """``count`` 24 MP 3:2 JPEGs (a smooth scene with texture: the size a camera writes, ~5 MB)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:4000, 0:6000].astype(np.float32)
    out = []
    for i in range(count):
        base = np.stack([x / 6000 * 200 + 20 * i, y / 4000 * 180, (x + y) / 10000 * 160], axis=-1)
        noise = rng.normal(0, 6, size=(4000, 6000, 1)).astype(np.float32)
        path = folder / f"DSC_{i:04d}.jpg"
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path, quality=90)
        out.append(path)
    return out


def prepare_seconds(frames: list[Path], settings) -> float:
    """Mean time to prepare a 24 MP JPEG as a review does (decode, measure, EXIF) plus its hash and
    thumbnail (the preparation the overlap hides)."""
    from app.engine.jobs import thumbnail_from_image
    from app.engine.photos.files import file_sha256
    from app.engine.photos.prepare import prepare_photo

    times = []
    for path in frames:
        t0 = time.perf_counter()
        file_sha256(path)
        prepared = prepare_photo(path, settings)
        thumbnail_from_image(prepared.image, Path(tempfile.mkdtemp()) / "t.jpg")
        times.append(time.perf_counter() - t0)
    return sum(times) / len(times)


def overlap_ratio(service, frames: list[Path], size: int) -> dict:
    """Triage of ``frames`` with the next batch prepared ahead vs prepared in series (one call per
    batch: nothing ahead), seconds per frame; best of two each."""
    from app.engine.review.triage import triage_many

    def timed(overlap: bool) -> float:
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            if overlap:
                triage_many(service, frames, "ansel", "baseline", batch_size=size)
            else:
                for start in range(0, len(frames), size):
                    triage_many(service, frames[start:start + size], "ansel", "baseline", batch_size=size)
            best = min(best, time.perf_counter() - t0)
        return best / len(frames)

    serial, ahead = timed(False), timed(True)
    return {"serial_s_per_frame": round(serial, 3), "overlapped_s_per_frame": round(ahead, 3),
            "speedup": round(serial / ahead, 2)}


def triage_batching(service, frames: list[Path], size: int) -> dict:
    """Triage frames per second at the review's batch size over batch 1 (same frames, best of two)."""
    from app.engine.review.triage import triage_many

    def timed(rows: int) -> float:
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            results = triage_many(service, frames, "ansel", "baseline", batch_size=rows)
            best = min(best, time.perf_counter() - t0)
        assert all(not isinstance(r, Exception) for r in results), results
        return best

    one, many = timed(1), timed(size)
    passes = [r.stats for r in triage_many(service, frames[:size], "ansel", "baseline", batch_size=size)]
    per_token = sum(s.forward_passes for s in passes) / max(1, sum(s.generation_tokens for s in passes))
    return {"batch": size, "speedup": round(one / many, 2), "passes_per_token_tiny": round(per_token, 3)}


def stages_section(model: str | None) -> dict:
    """Issue 21's Measure table: realistic counts (bench/triage.py's pieces), the estimate with the
    preparation measured here, and the overlap and batching measured on the tiny model."""
    sys.path.insert(0, str(ROOT / "bench"))
    import triage as triage_bench

    from app.engine.review.stages import TRIAGE, review_batch_size
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.testing.tiny_model import build_tiny_model

    real = triage_bench.realistic_counts()
    shoot = Path(tempfile.mkdtemp(prefix="mondrian-bench-24mp-"))
    frames = big_frames(shoot, 8)
    model = model or str(build_tiny_model(Path(tempfile.mkdtemp(prefix="mondrian-bench-model-")) / "tiny"))
    settings = Settings(model=model, max_text_chars=24, max_tokens=2000)
    prepare_s = prepare_seconds(frames[:3], settings)
    service = MondrianService(settings)
    small = sorted(make_folder(shoot / "small", 16).glob("*"))
    try:
        service.critique(small[0], "ansel", "baseline")  # load the model (not timed)
        rows = review_batch_size(service, TRIAGE)
        overlap = overlap_ratio(service, frames, rows)
        batching = triage_batching(service, small, rows)
        crit = batched_vs_one(service, [p for p in small if p.suffix == ".jpg"][:8])
    finally:
        service.close()
    out: dict = {"realistic": real, "prepare_s_24mp": round(prepare_s, 3), "overlap": overlap,
                 "triage_batching": batching, "critique_batching_4_vs_1": crit, "estimate": {}}
    for mac in triage_bench.RATES:
        full = real["full"]["estimate"][mac]["s_per_frame"]
        full_one = real["full"]["estimate_one_pass_per_token"][mac]["s_per_frame"]
        tri = real["triage"]["estimate"][mac]["s_per_frame"]
        issue_prepare = triage_bench.PREPARE_S  # the issue's figure for this CPU, unloaded
        out["estimate"][mac] = {
            "now_full_one_at_a_time_min": round((full_one + prepare_s) * 1000 / 60, 1),  # serial, one pass/token
            "triage_model_min": round(tri * 1000 / 60, 1),
            "triage_min": round(max(tri, prepare_s) * 1000 / 60, 1),  # preparation overlapped
            "triage_min_issue_prepare": round(max(tri, issue_prepare) * 1000 / 60, 1),
            "two_stage_min": round((max(tri, prepare_s) + FULL_SHARE * max(full, prepare_s)) * 1000 / 60, 1),
            "triage_s_per_frame": tri, "full_s_per_frame": full}
    return out


def print_stages(result: dict) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import triage as triage_bench

    real, est = result["realistic"], result["estimate"]
    print(f"\nTwo stages (issue 21). Counts: the default model (Qwen3-VL-4B's image arithmetic), text with a "
          f"{real['vocab']:,}-token byte-level BPE trained here; a 24 MP 3:2 frame. ESTIMATE: published rates "
          f"(bench/triage.py RATES), preparation {result['prepare_s_24mp']:.2f} s a frame measured here "
          f"(overlapped with the model in the review), two-stage = triage of every frame + full critiques "
          f"for {FULL_SHARE:.0%} of them.\n")
    print("| measurement | now (full critique of every frame, one at a time) | two-stage review | target |")
    print("|---|---|---|---|")
    tri, full = real["triage"], real["full"]
    print(f"| forward passes / generated tokens, triage JSON | 1.0 | {tri['passes_per_token']} "
          f"({tri['forward_passes']} / {tri['generated_tokens']}) | <= 0.25 |")
    print(f"| forward passes / generated tokens, full report | 1.0 | {full['passes_per_token']} "
          f"({full['forward_passes']} / {full['generated_tokens']}) | <= 0.85 |")
    print(f"| prompt tokens computed per triage frame, image tokens included | {full['computed']} (full critique, "
          f"{full['image_tokens']} image tokens at {full['edge']} px) | {tri['computed']} ({tri['image_tokens']} "
          f"image tokens at {tri['edge']} px) | <= 400 |")
    for mac, target in (("M3 Pro", 15), ("M4 Max", 6)):
        e = est[mac]
        print(f"| estimated minutes per 1,000 frames, {mac} class | {e['now_full_one_at_a_time_min']} | "
              f"triage {e['triage_model_min']} model time; {e['triage_min']} with preparation overlapped at "
              f"{result['prepare_s_24mp']:.2f} s ({e['triage_min_issue_prepare']} at the issue's "
              f"{triage_bench.PREPARE_S} s); {e['two_stage_min']} with {FULL_SHARE:.0%} also fully critiqued | "
              f"<= {target} |")
    o, b = result["overlap"], result["triage_batching"]
    print(f"\nMeasured here (tiny model, 2 shared cores): triage of 24 MP JPEGs {o['serial_s_per_frame']} s/frame "
          f"prepared in series, {o['overlapped_s_per_frame']} s/frame prepared ahead ({o['speedup']}x); "
          f"triage at batch {b['batch']} (the memory estimate's size) / batch 1: {b['speedup']}x; full critiques "
          f"at batch 4 / 1: {result['critique_batching_4_vs_1']}x; forward passes per generated token in "
          f"triage on the tiny model: {b['passes_per_token_tiny']}.")


def memory_section(frames: int = 200) -> dict:
    """A review of ``frames`` small frames (half DNG) with both stages (triage every frame, then
    top:20): RSS after each frame; growth of the peak per 100 frames after the warm-up."""
    from app.engine.review.folder_review import run_review, start_review
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.store.database import open_default_store
    from app.testing.tiny_model import build_tiny_model

    model = str(build_tiny_model(Path(tempfile.mkdtemp(prefix="mondrian-bench-model-")) / "tiny"))
    folder = make_folder(Path(tempfile.mkdtemp(prefix="mondrian-bench-200-")) / "shoot", frames)
    store = open_default_store()
    service = MondrianService(Settings(model=model, max_text_chars=24, max_tokens=2000), store=store)
    samples: list[float] = []

    def on_progress(p) -> None:
        if p.path and p.stage == "triage":
            samples.append(current_rss_mb())

    t0 = time.perf_counter()
    try:
        review = start_review(service, store, folder, "ansel", "baseline", critique="top:20")
        review = run_review(service, store, review.id, on_progress=on_progress)
    finally:
        service.close()
        store.close()
    seconds = time.perf_counter() - t0
    warm = max(samples[:WARM_UP]) if samples else 0.0
    peak = max(samples) if samples else 0.0
    per_100 = (peak - warm) / max(1, len(samples) - WARM_UP) * 100
    return {"frames": len(samples), "critiqued": review.done, "seconds": round(seconds, 1),
            "rss_after_warm_up_mb": round(warm, 1), "rss_peak_mb": round(peak, 1),
            "peak_growth_mb_per_100_frames": round(per_100, 2),
            "rss_every_25_frames": [round(v, 1) for v in samples[::25]]}


def print_memory(m: dict) -> None:
    ok = "ok" if m["peak_growth_mb_per_100_frames"] < TARGET_RSS_MB_PER_100 else "OVER"
    print(f"\nMemory over a {m['frames']}-frame review (triage of every frame, then top:20: {m['critiqued']} "
          f"critiqued, {m['seconds']} s): peak RSS {m['rss_after_warm_up_mb']} MB after {WARM_UP} frames, "
          f"{m['rss_peak_mb']} MB at most after: {m['peak_growth_mb_per_100_frames']} MB per 100 frames  "
          f"[{ok}, target < {TARGET_RSS_MB_PER_100:g}]; RSS every 25 frames: {m['rss_every_25_frames']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--model", help="model folder or repo id (default: a tiny random model)")
    parser.add_argument("--section", choices=("all", "stages", "memory", "folder"), default="all")
    args = parser.parse_args()
    results: dict = {}
    if args.section in ("all", "stages"):
        results["stages"] = stages_section(args.model)
        print_stages(results["stages"])
    if args.section in ("all", "memory"):
        results["memory"] = memory_section()
        print_memory(results["memory"])
    if args.section in ("all", "folder"):
        results["folder"] = folder_section(args)
    out = ROOT / "bench" / "results" / "review.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:  # one section run keeps the others' last results
        earlier = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        earlier = {}
    earlier = earlier if isinstance(earlier, dict) and set(earlier) <= {"stages", "memory", "folder"} else {}
    out.write_text(json.dumps(earlier | results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten {out.relative_to(ROOT)}")
    return 0


def folder_section(args: argparse.Namespace) -> dict:
    """The folder review: throughput (both stages, every frame critiqued), re-run, RAW decode, RSS."""

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
    review = start_review(service, store, folder, "ansel", "baseline", critique="all")
    review = run_review(service, store, review.id, on_progress=on_progress)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = start_review(service, store, folder, "ansel", "baseline", critique="all")
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
    return result


if __name__ == "__main__":
    sys.exit(main())
