"""Render docs/screenshots/review.png: the Review view after a real review of a small mixed shoot.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_review.py [--out docs/screenshots]

The window, the review and the grid are the real ones, on the tiny random-weight test model
(built offline), over the test shoot of ``tests/review_support.py`` (JPEGs, a RAW+JPEG pair, RAW
with and without a preview, a burst, a blurred, a clipped and a tilted frame, a corrupt file).
Random weights give random grades: the picture shows the workflow, not a critic's judgement.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["MONDRIAN_HOME"] = tempfile.mkdtemp(prefix="mondrian-shot-review-")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    work = Path(os.environ["MONDRIAN_HOME"])
    model = work / "tiny-model"
    subprocess.run([sys.executable, "-m", "app.testing.tiny_model", str(model)], cwd=ROOT, check=True,
                   capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})

    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication
    from review_support import BLURRED, BURST, make_shoot

    from app.engine.service import MondrianService
    from app.engine.settings import Settings
    from app.engine.store.database import open_default_store
    from app.ui.window import MainWindow

    app = QApplication(["Mondrian"])
    app.setFont(QFont("DejaVu Sans", 10))
    store = open_default_store()
    service = MondrianService(Settings(model=str(model), max_text_chars=24, max_tokens=2000), store=store)
    window = MainWindow(service, store, tray=False)
    window.resize(1180, 800)
    window.show()
    view = window.review
    window.tabs.setCurrentWidget(view)
    view.set_mode("baseline")
    shoot = make_shoot(work / "Shoot 2024-05-06")
    finished: list = []
    view.reviewFinished.connect(finished.append)
    view.review(shoot)
    end = time.monotonic() + 900
    while not finished:
        if time.monotonic() > end:
            raise TimeoutError("the review did not finish")
        app.processEvents()
        time.sleep(0.01)
    view.set_flag(str(shoot / BURST[0]), "pick")
    view.set_stars(str(shoot / BURST[0]), 5)
    view.set_flag(str(shoot / BLURRED), "reject")
    view.grid.setCurrentRow(0)
    for _ in range(30):
        app.processEvents()
        time.sleep(0.01)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "review.png"
    window.grab().save(str(target))
    window.shutdown()
    print(f"written {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
