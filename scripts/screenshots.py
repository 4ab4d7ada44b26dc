"""Render the README screenshots into docs/screenshots/ (offscreen, no display needed).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

* ``main-report.png``: the main window with a report (history on the left);
* ``main-900x600.png``: the same report in the smallest window the layout is made for;
* ``photo-viewer.png``: the photo at full size with the measured focus map over it;
* ``ask.png``: the question thread under the report and a suggested 4:5 crop drawn over the photo;
* ``comparison.png``: base model and fine-tuned adapter side by side, with the deltas;
* ``training.png`` and ``training-versions.png``: the Training tab after a real training run.

The windows are the real ones over a real store and the real training commands, run on a tiny
random-weight model (built offline). Because random weights write meaningless text, the reports
shown in the Critique tab are written examples of what a real model produces for these photos
(``EXAMPLES`` below), stored and shown through the same code paths as real results; so are the
follow-up answers and the crop box of ``ask.png`` (``ASK_TURNS``, ``ASK_CROP``). The loss
curve, the versions table and the evaluation come from the actual training run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["MONDRIAN_HOME"] = tempfile.mkdtemp(prefix="mondrian-screenshots-")

SIZE = (1440, 900)

COFFEE = {
    "composition": (7, "The cup sits low and left of centre with the saucer's ellipse leading the eye around it; "
                       "the spoon's diagonal gives the frame its only movement.",
                    "Lower the camera a little so the rim does not touch the saucer's far edge."),
    "lighting": (8, "Soft window light from the upper left models the porcelain and puts a clean specular "
                    "highlight on the spoon without blocking up the crema.",
                 "Place the highlight on the rim one stop lower: it is close to losing texture."),
    "focus_sharpness": (7, "The crema and the near rim are crisp; the wood falls off gently, which suits the "
                           "intimacy of the subject.",
                        "Stop down one stop so the spoon's bowl is as sharp as the rim."),
    "color_harmony": (8, "Warm browns and the brick-red cup share one family; the white porcelain is the "
                         "only neutral and holds the palette together.",
                      "Keep the white balance warm but pull the reds down slightly in the print."),
    "subject_isolation": (8, "The cup separates cleanly from the table by tone and by the shallow focus.",
                          "Clone out the crumb near the lower edge; it competes with the subject."),
    "depth_perspective": (6, "The high viewpoint flattens the scene into a still life with little sense "
                             "of the table's depth.",
                          "Try a lower angle with the window visible as a soft glow behind."),
    "visual_balance": (7, "The dark wood mass on the right is countered by the bright cup on the left.",
                       "Give the cup a touch more room on the left edge."),
    "emotional_impact": (7, "Quiet and warm: a morning ritual seen with affection rather than spectacle.",
                         "A wisp of steam, caught against a dark ground, would make the moment."),
}
COFFEE_TUNED = {
    "composition": (8, "Cup and spoon form a compact triangle; the saucer's curve is echoed by the crema.",
                    "Crop a sliver from the top to tighten the triangle."),
    "lighting": (8, "The soft side light is exactly right for glazed porcelain; shadows keep detail.",
                 "Hold the highlight on the rim: meter it and place it on Zone VIII."),
    "focus_sharpness": (8, "Focus is placed on the crema, where the eye lands first.",
                        "A tripod would let you stop down without raising the ISO."),
    "color_harmony": (9, "A warm analogous palette, beautifully restrained.",
                      "Leave it: this is the strongest part of the picture."),
    "subject_isolation": (8, "Clear separation of the cup from the grain of the wood.",
                          "Darken the table corners a touch to close the frame."),
    "depth_perspective": (6, "Seen from above, the space stays shallow.",
                          "A lower camera would add the room behind."),
    "visual_balance": (8, "Balanced weight between the cup and the dark wood.",
                       "Keep the spoon's handle inside the frame."),
    "emotional_impact": (8, "Calm, tactile and inviting; you can almost feel the cup's warmth.",
                         "Shoot the next frame as the light turns golden."),
}

ASK_TURNS = [
    ("Why only 6 for depth and perspective?",
     "Because the camera looks almost straight down. The table becomes a flat plane and nothing recedes: there "
     "is no near, middle and far. Lower the camera to the height of the cup, let the window glow softly behind "
     "it, and the space opens without losing the quiet of the still life."),
    ("Would this work in black and white?",
     "It would, if you print for the porcelain. The warm palette carries much of the mood now; in monochrome the "
     "picture rests on tone alone, so place the cup's highlight on Zone VIII and keep the wood near Zone III, or "
     "the table turns to mud."),
]
ASK_CROP = ((140, 0, 460, 400), "4:5", "Close in on the cup and the spoon: a 4:5 frame drops the empty wood on "
                                       "both sides and lets the saucer's curve fill the picture.")

OTHERS = [  # (skimage photo, advisor, grade, mean-ish score) for the history sidebar
    ("chelsea.png", "vivian_maier", "B+"),
    ("rocket.jpg", "ansel", "A-"),
    ("astronaut.png", "cartier_bresson", "B"),
    ("hubble_deep_field.jpg", "fan_ho", "A"),
]


def report_dict(dims: dict, grade: str, summary: str) -> dict:
    """The report as the model writes it; ``grade`` is not used: the shown grade is derived from the scores."""
    return {"dimensional_analysis": {k: {"score": s, "comment": c, "recommendation": r}
                                     for k, (s, c, r) in dims.items()},
            "summary": summary}


def skimage_photo(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-image (a test dependency) provides the example photos; install the test extra")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def to_jpeg(source: Path, dest: Path) -> Path:
    from PIL import Image

    with Image.open(source) as im:
        im.convert("RGB").save(dest, quality=92)
    return dest


def example_result(photo: Path, advisor: str, report: dict, *, mode: str = "baseline", version: str | None = None,
                   model: str = "mlx-community/Qwen3-VL-4B-Instruct-4bit", seconds: float = 11.8):
    from app.engine.critique.report import Report
    from app.engine.critique.result import CritiqueResult
    from app.engine.model.host import GenerationStats

    stats = GenerationStats(prompt_tokens=1412, generation_tokens=611, time_to_first_token_s=1.21,
                            total_s=seconds, prompt_tps=1167.0, generation_tps=57.6, peak_memory_gb=3.9)
    return CritiqueResult(photo=str(photo), advisor_id=advisor, requested_mode="auto", effective_mode=mode,
                          report=Report.from_dict(report), stats=stats, model_id=model, adapter_version=version,
                          model_used="fine_tuned" if version else "base")


def record(store, result, photo: Path) -> None:
    from app.engine import paths
    from app.engine.photos.decode import file_sha256
    from app.engine.photos.thumbnails import save_thumbnail

    job = store.jobs.create_job(photo, result.advisor_id, result.requested_mode, photo_hash=file_sha256(photo))
    store.jobs.start_job(job.id)
    store.jobs.complete_job(job.id, result)
    thumb = save_thumbnail(photo, paths.thumbnails_dir() / f"{job.id}.jpg")
    store.jobs.set_thumbnail(job.id, thumb)
    result.job_id = job.id


def shoot_ask(app, window, store, result, photo: Path, out: Path) -> None:
    """The conversation under the report: written answers and a crop stored as the engine stores
    them (turns of the job), then the job reopened from history, scrolled to the thread."""
    from app.engine.conversation.coordinates import Frame, from_original
    from app.engine.conversation.crop import CropSuggestion, check_box, parse_aspect

    for question, answer in ASK_TURNS:
        turn = store.conversations.add_turn(result.job_id, question)
        store.conversations.finish_turn(turn.id, answer=answer, status="done")
    box, aspect, reason = ASK_CROP
    size = (600, 400)
    check_box(box, size, parse_aspect(aspect))
    model_box = tuple(round(v) for v in from_original(box, Frame.grid(), size))
    crop = CropSuggestion(box=box, original_size=size, reason=reason, frame=Frame.grid(), model_box=model_box,
                          aspect=aspect)
    turn = store.conversations.add_turn(result.job_id, f"Suggest a crop ({aspect})", kind="crop")
    store.conversations.finish_turn(turn.id, answer="{}", status="done", details={"crop": crop.to_dict()})
    window.resize(SIZE[0], 1180)  # taller, to show the thread and the crop together
    window.reopen_job(store.jobs.get_job(result.job_id))
    ask = window.critique.ask
    ask.aspect.setCurrentText(aspect)
    ask.box.setPlainText("What would make the light more dramatic?")
    settle(app, 400)
    scroll = window.critique.stack.report_scroll
    scroll.verticalScrollBar().setValue(scroll.verticalScrollBar().maximum())  # the crop and the question box
    settle(app, 400)
    window.grab().save(str(out / "ask.png"))
    scroll.verticalScrollBar().setValue(0)
    window.resize(*SIZE)


def publish_tiny_adapters(model: Path, work: Path, advisor: str, count: int) -> None:
    """Real adapters for the tiny model (a few steps of mlx-vlm's trainer), published as v1..vN."""
    from app.engine.adapters import versions as adapter_versions
    from app.engine.adapters.versions import AdapterManifest

    for i in range(count):
        folder = work / f"adapter-{i}"
        subprocess.run([sys.executable, "-c", "import sys; from app.testing.tiny_adapter import train_tiny_adapter; "
                        "train_tiny_adapter(sys.argv[1], sys.argv[2], seed=int(sys.argv[3]))",
                        str(model), str(folder), str(i + 1)], cwd=ROOT, check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        staged = adapter_versions.staging_dir(advisor)
        for name in ("adapter_config.json", "adapters.safetensors"):
            shutil.copy(folder / name, staged / name)
        adapter_versions.publish(advisor, staged, AdapterManifest(advisor, "", base_model=str(model)))


def settle(app, ms: int = 300) -> None:
    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def wait(app, predicate, timeout: float = 600) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("screenshot step timed out")
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mondrian-shots-"))
    model = work / "tiny-model"
    subprocess.run([sys.executable, "-m", "app.testing.tiny_model", str(model)], cwd=ROOT, check=True,
                   capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})

    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication

    app = QApplication(["Mondrian"])
    app.setFont(QFont("DejaVu Sans", 10))
    from app.engine.photos.decode import load_photo
    from app.engine.photos.exif import ShootingData
    from app.engine.resources import resource_path
    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.store.database import open_default_store
    from app.engine.technical import analyze_photo
    from app.ui.common.operations import Comparison
    from app.ui.common.pixmaps import load_preview
    from app.ui.window import MainWindow

    store = open_default_store()
    service = MondrianService(Settings(model=str(model), max_text_chars=60, max_tokens=400), store=store)

    # History: a few earlier critiques, then the coffee one on top.
    photos = {name: to_jpeg(skimage_photo(name), work / (Path(name).stem + ".jpg")) for name, _, _ in OTHERS}
    rng = random.Random(1)
    for name, advisor, grade in OTHERS:
        dims = {k: (max(3, min(10, s + rng.randint(-2, 1))), c, r) for k, (s, c, r) in COFFEE.items()}
        record(store, example_result(photos[name], advisor, report_dict(dims, grade, "An earlier critique.")),
               photos[name])
    coffee = work / "espresso.jpg"
    shutil.copyfile(resource_path("samples", "sample.jpg"), coffee)
    summary = ("A quiet, well-seen still life. The light is handled with care and the palette is restrained; "
               "what it lacks is depth: a lower viewpoint would open the space and let the cup breathe.")
    result = example_result(coffee, "ansel", report_dict(COFFEE, "B+", summary))
    result.technical = analyze_photo(load_photo(coffee)).to_dict()  # the real measurements of the photo
    result.shooting = ShootingData(camera="Fujifilm X-T4", lens="XF35mmF1.4 R", focal_length_mm=35, aperture=2.0,
                                   exposure_time_s=1 / 125, iso=400, flash_fired=False,
                                   taken_at=datetime(2024, 3, 9, 8, 41)).to_dict()  # example EXIF
    record(store, result, coffee)

    window = MainWindow(service, store, tray=False)
    window.resize(*SIZE)
    window.show()
    settle(app)
    panel = window.critique
    panel.bar.set_advisor("ansel")
    window.history.refresh()
    window.history.select_job(result.job_id)
    panel.display.show_item(result, photo=load_preview(coffee), photo_path=coffee)
    # the grade the badge shows (derived from the scores)
    panel.status.label.setText(f"Done: {result.report.overall_grade if result.report else '?'} · 611 tokens at 57.6 tok/s")
    settle(app, 600)
    window.grab().save(str(out / "main-report.png"))
    window.resize(900, 600)  # the smallest window it is made for (a 13-inch laptop at a larger text size)
    settle(app, 400)
    window.grab().save(str(out / "main-900x600.png"))
    window.resize(*SIZE)
    settle(app, 200)
    shoot_ask(app, window, store, result, coffee, out)

    # The photo viewer: full size, fitted, with the focus map of the measurements.
    viewer = panel.display.view_photo()
    if viewer is None or viewer.request is None:
        raise SystemExit("the photo viewer did not open")
    loaded: list = []
    viewer.request.finished.connect(lambda: loaded.append(True))
    wait(app, lambda: bool(loaded))
    viewer.resize(900, 640)
    viewer.focus_check.setChecked(True)
    viewer.fit()
    settle(app, 400)
    viewer.grab().save(str(out / "photo-viewer.png"))
    viewer.close()

    # Comparison: base vs the advisor's fine-tuned v2 (two real tiny adapters published for Ansel).
    publish_tiny_adapters(model, work, "ansel", 2)
    panel.bar.reload_advisors(select="ansel")
    wait(app, lambda: panel.bar.mode_info is not None and panel.bar.mode_info.effective == "lora")
    tuned = example_result(coffee, "ansel", report_dict(COFFEE_TUNED, "A-", (
        "Confident and warm: the tonal control and the restrained palette carry the picture. Open up the "
        "space with a lower viewpoint and it would be a fine print.")), mode="lora", version="v2", seconds=12.6)
    panel.bar.compare_check.setChecked(True)
    panel.display.show_item(Comparison(base=result, tuned=tuned), photo=load_preview(coffee))
    settle(app, 600)
    window.grab().save(str(out / "comparison.png"))
    panel.bar.compare_check.setChecked(False)

    # Training tab: a personal advisor, a portfolio with reviewed profiles, a real (tiny) training run.
    tab = window.training
    window.tabs.setCurrentWidget(tab)
    tab.new_name.setText("My Street Eye")
    tab.new_persona.setPlainText("Looks for gesture, layered city light and honest moments.")
    tab.create_advisor()
    portfolio = work / "portfolio"
    portfolio.mkdir()
    for name in ("chelsea.png", "rocket.jpg", "astronaut.png", "coffee.png", "hubble_deep_field.jpg",
                 "motorcycle_left.png"):
        to_jpeg(skimage_photo(name), portfolio / (Path(name).stem + ".jpg"))
    scan = tab.set_portfolio(str(portfolio))
    if scan is None:
        raise SystemExit("the portfolio scan did not start")
    scanned: list = []
    scan.finished.connect(lambda: scanned.append(True))
    wait(app, lambda: bool(scanned))
    for i, photo in enumerate(tab.photos):  # the user's own reviewed scores
        dims = {k: (max(2, min(10, s + ((i * 3 + j) % 5) - 2)), c, r)
                for j, (k, (s, c, r)) in enumerate(COFFEE.items())}
        store.profiles.upsert_profile("my_street_eye", str(photo.path.resolve()), None,
                             report_dict(dims, ["B", "A-", "B+", "C+", "A", "B-"][i], "Reviewed by me."),
                             source="user", edited=True)
    tab.profiles.reload()
    tab._update_portfolio_info()
    tab.epochs.setValue(4)
    tab.rank.setValue(4)
    tab.lr.setValue(0.001)
    tab.eval_limit.setValue(2)
    service.settings.max_tokens = 200
    finished: list = []
    tab.runner.finished.connect(lambda ok, msg: finished.append((ok, msg)))
    tab.estimate_memory()
    if not tab.train():
        raise SystemExit(f"training did not start: {tab.last_error}")
    wait(app, lambda: bool(finished), 1800)
    if not finished[0][0]:
        raise SystemExit(f"training failed: {finished[0][1]}")
    tab.tabs.setCurrentIndex(1)
    tab.profiles.table.selectRow(1)
    settle(app, 600)
    window.grab().save(str(out / "training.png"))
    tab.tabs.setCurrentIndex(2)
    settle(app, 400)
    window.grab().save(str(out / "training-versions.png"))
    tab.tabs.setCurrentIndex(0)
    settle(app, 400)
    window.grab().save(str(out / "training-profiles.png"))

    window.shutdown()
    for png in sorted(out.glob("*.png")):
        print(f"wrote {png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
