"""The Mac bundle's entry point (py2app runs this script): offline switches first, then the GUI.

Photos opened with the app (Finder "Open With", a drop on the Dock icon) arrive as QFileOpenEvent,
handled in :mod:`app.ui.main`; macOS may also pass ``-psn_...`` arguments, which are ignored.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from app.engine.model.source import configure_offline

    configure_offline()  # before anything imports transformers / huggingface_hub
    from app.ui.main import photo_args, run_gui

    return run_gui(photo_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
