#!/usr/bin/env bash
# Quick start: set up, then open the app (or, with no display, critique the photos given / the sample).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m app "$@"
