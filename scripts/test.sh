#!/usr/bin/env bash
# Quick start: set up with the test extras, lint, then run the whole test suite offline and headless.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m ruff check .
exec .venv/bin/python -m pytest "$@"
