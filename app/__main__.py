"""``python -m app``: the GUI with no arguments, otherwise the command line."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
