#!/usr/bin/env bash
# Quick start: set up, make `mondrian` a command (a link in ~/.local/bin), then open the app (or,
# with no display, critique the photos given / the sample).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/link_command.sh >&2
exec .venv/bin/mondrian "$@"
