"""Write the README's table of culling keys from the key map in app/ui/review/culling.py.

    .venv/bin/python scripts/culling_keys.py [--check]

The grid, the loupe and the Help guide use that map directly; this keeps the README in step with
it (``--check``: exit 1 when the README's table differs, without writing). tests/test_culling_keys.py
runs the check.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- culling-keys:[^\n]*-->\n)(.*?)(<!-- /culling-keys -->)", re.S)


def with_table(text: str) -> str:
    """The README text with its culling-keys block holding the current table."""
    from app.ui.review.culling import keys_markdown

    if not BLOCK.search(text):
        raise SystemExit(f"{README}: no <!-- culling-keys --> block to write the table into")
    return BLOCK.sub(lambda m: m.group(1) + keys_markdown() + "\n" + m.group(3), text, count=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README's table is out of date")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    updated = with_table(text)
    if args.check:
        if updated != text:
            print(f"{README.name}: the culling keys table is out of date; run scripts/culling_keys.py",
                  file=sys.stderr)
            return 1
        return 0
    if updated != text:
        from app.engine.atomic import write_text

        write_text(README, updated)
        print(f"wrote the culling keys into {README.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
