#!/usr/bin/env bash
# Quick start: set up with the test extras, then the checks and the whole test suite, offline and headless:
# ruff (incl. no module-level heavy imports), import-linter's layer contracts, mypy, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m ruff check .
.venv/bin/lint-imports
.venv/bin/python -m mypy
exec .venv/bin/python -m pytest "$@"
