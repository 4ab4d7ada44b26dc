"""Draw Mondrian's app icon (a small Mondrian composition) as PNG sizes and a macOS .icns.

``python scripts/make_icon.py [OUT_DIR]`` writes ``mondrian.png`` (1024 px), ``mondrian-256.png``,
``tray.png`` (a 64 px monochrome-friendly mark) and ``mondrian.icns`` into resources/icons/.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

RED, BLUE, YELLOW, INK, PAPER = "#d52b1e", "#1f4e9e", "#f2c80f", "#161616", "#fbfaf7"


def draw(size: int = 1024) -> Image.Image:
    s = size / 1024
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    m, r = 100 * s, 185 * s  # macOS icon grid: 824 px body, rounded corners
    box = (m, m, size - m, size - m)
    d.rounded_rectangle(box, radius=r, fill=INK)
    inner = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    g = ImageDraw.Draw(inner)
    line = 34 * s
    x0, y0, x1, y1 = box
    xa, xb = x0 + 0.62 * (x1 - x0), x0 + 0.80 * (x1 - x0)
    ya, yb = y0 + 0.64 * (y1 - y0), y0 + 0.82 * (y1 - y0)
    cells = [  # (left, top, right, bottom, colour)
        (x0, y0, xa, ya, RED), (xa, y0, x1, ya, PAPER), (x0, ya, x0 + 0.28 * (x1 - x0), y1, BLUE),
        (x0 + 0.28 * (x1 - x0), ya, xa, y1, PAPER), (xa, ya, xb, yb, PAPER), (xb, ya, x1, yb, PAPER),
        (xa, yb, x1, y1, YELLOW),
    ]
    for left, top, right, bottom, colour in cells:
        g.rectangle((left + line / 2, top + line / 2, right - line / 2, bottom - line / 2), fill=colour)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle((x0 + line / 2, y0 + line / 2, x1 - line / 2, y1 - line / 2),
                                           radius=r - line / 2, fill=255)
    img.paste(inner, (0, 0), Image.composite(inner, Image.new("RGBA", (size, size)), mask).getchannel("A"))
    return img


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "resources" / "icons"
    out.mkdir(parents=True, exist_ok=True)
    icon = draw(1024)
    icon.save(out / "mondrian.png")
    icon.resize((256, 256), Image.Resampling.LANCZOS).save(out / "mondrian-256.png")
    icon.resize((64, 64), Image.Resampling.LANCZOS).save(out / "tray.png")
    icon.save(out / "mondrian.icns", sizes=[(16, 16), (32, 32), (64, 64), (128, 128), (256, 256), (512, 512),
                                            (1024, 1024)])
    print(f"icons written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
