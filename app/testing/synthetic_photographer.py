"""A synthetic photographer with a taste a tiny model can learn, for the culls tests and benchmark.

From seeded test photos it makes bursts: each photo, a darkened copy, and a blurred copy darkened
further (the same scene, as a burst is). The photographer always picks the sharp, well-exposed
frame (4 stars), gives the darkened copy 2 stars and rejects the blurred, darker one; stars follow
the same rule, so both the within-burst and the across-star orderings are learnable from the pixels
alone (exposure is what a tiny random vision tower passes on most clearly; blur alone barely
changes its features).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter

from app.testing.tiny_photos import varied_photos

VARIANTS = (("sharp", "pick", 4), ("dark", None, 2), ("blurred", "reject", None))
DARK = 0.45  # brightness of the 2-star copy
DARKER = 0.15  # brightness of the rejected, blurred copy


def _variant(image: Image.Image, kind: str) -> Image.Image:
    if kind == "blurred":
        blurred = image.filter(ImageFilter.GaussianBlur(radius=max(2.0, max(image.size) / 24)))
        return ImageEnhance.Brightness(blurred).enhance(DARKER)
    if kind == "dark":
        return ImageEnhance.Brightness(image).enhance(DARK)
    return image


def make_bursts(folder: Path, bursts: int, *, seed: int = 0, edge: int = 96) -> list[list[tuple[Path, str | None,
                                                                                                  int | None]]]:
    """``bursts`` bursts of three JPEGs each in ``folder``: per frame (path, flag, stars)."""
    sources = varied_photos(folder / "sources", n=bursts, seed=seed)
    out = []
    for i, src in enumerate(sources):
        with Image.open(src) as opened:
            base = opened.convert("RGB")
        base = base.resize((edge, max(32, edge // 3, edge * base.height // max(base.width, 1))))  # critiquable: >= 32 px
        frames = []
        for kind, flag, stars in VARIANTS:
            path = folder / f"burst{i:02d}_{kind}.jpg"
            _variant(base, kind).save(path, "JPEG", quality=92)
            frames.append((path, flag, stars))
        out.append(frames)
    return out


def decisions(folder: Path, bursts: int, *, seed: int = 0, shoot: str = "synthetic", edge: int = 96) -> list:
    """The photographer's decisions on fresh bursts, as :class:`training.culls.Decision` (no store)."""
    from training.culls import Decision

    out = []
    for i, frames in enumerate(make_bursts(folder, bursts, seed=seed, edge=edge)):
        for path, flag, stars in frames:
            out.append(Decision(path=str(path), shoot=shoot, group=f"{shoot}/burst-{i + 1}", stars=stars, flag=flag))
    return out
