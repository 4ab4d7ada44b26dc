"""Seeded synthetic photos of many shapes, modes and formats, for the model matrix and the benchmark."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

N_PHOTOS = 20


def varied_photos(folder: Path, n: int = N_PHOTOS, seed: int = 0) -> list[Path]:
    """Seeded photos of many shapes, modes and formats: tiny, panoramic, tall, grey, alpha, palette, noise."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [(96, 64), (64, 96), (320, 40), (40, 320), (32, 32), (200, 200), (150, 100), (33, 77)]
    modes = ["RGB", "L", "RGBA", "P", "RGB"]
    formats = [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tif")]
    out = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        img = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(img)
        for _ in range(rng.randrange(1, 6)):
            x0, y0 = rng.randrange(w), rng.randrange(h)
            draw.rectangle([x0, y0, x0 + rng.randrange(1, w), y0 + rng.randrange(1, h)],
                           fill=tuple(rng.randrange(256) for _ in range(3)))
        if i % 7 == 3:
            img.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(w * h)])  # noise
        mode = modes[i % len(modes)]
        fmt, ext = formats[i % len(formats)]
        if mode == "P":
            img = img.convert("P", palette=Image.Palette.ADAPTIVE)
        elif mode != "RGB":
            img = img.convert(mode)
        if fmt == "JPEG" and img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        path = folder / f"photo{i:02d}.{ext}"
        img.save(path, fmt)
        out.append(path)
    return out
