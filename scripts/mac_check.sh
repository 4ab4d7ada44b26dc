#!/usr/bin/env bash
# What only a Mac can check (Apple silicon, macOS 14 or later), one step after the other; stops at the
# first that fails and says which. Run from anywhere: bash scripts/mac_check.sh [--skip-tests]
#   1. the README's test command (scripts/test.sh: ruff, lint-imports, mypy, the whole suite), on macOS;
#   2. python setup.py py2app -> dist/Mondrian.app;
#   3. the bundle's own Python: it imports the bundled app (not this checkout), MLX sees Metal, and the
#      bundled Qt has its cocoa plugin and a system tray;
#   4. a critique of the bundled sample photo with the tiny random-weight model, through that Python;
#   5. the bundle started as a user would start it: a process with a Dock icon, a window and the
#      menubar item (asked through System Events, which needs accessibility access for osascript).
# Logs go to build/mac-check/. .github/workflows/mac.yml runs this on a macos-14 runner.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/mac-check
APP=$ROOT/dist/Mondrian.app
skip_tests=0
for arg in "$@"; do
  case $arg in
    --skip-tests) skip_tests=1 ;;
    *) echo "usage: bash scripts/mac_check.sh [--skip-tests]" >&2; exit 2 ;;
  esac
done

step() { printf '\n== mac_check: %s\n' "$*"; }
fail() { printf 'mac_check: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)" = Darwin ] || fail "this needs macOS (this machine runs $(uname -s))"
[ "$(uname -m)" = arm64 ] || fail "this needs Apple silicon (this machine is $(uname -m))"
rm -rf "$OUT" && mkdir -p "$OUT/home"

if [ "$skip_tests" = 0 ]; then
  step "1/5 the README's test command: bash scripts/test.sh -q"
  bash scripts/test.sh -q
fi

export MONDRIAN_HOME=$OUT/home HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1  # from here: no user data, no network

step "2/5 python setup.py py2app"
bash scripts/setup.sh mac
rm -rf build/bdist* dist
.venv/bin/python setup.py py2app > "$OUT/py2app.log" 2>&1 || { tail -40 "$OUT/py2app.log" >&2; fail "py2app (log: $OUT/py2app.log)"; }
for f in Contents/MacOS/Mondrian Contents/MacOS/python Contents/Info.plist \
         Contents/Resources/resources/samples/sample.jpg Contents/Resources/mondrian.icns; do
  [ -e "$APP/$f" ] || fail "the bundle has no $f"
done

# The bundle's own interpreter with the bundle's library only: no PYTHONPATH, no user site, not run
# from this checkout (python -m puts the current folder first on sys.path).
bundle_python() {
  (cd "$OUT" && env -i HOME="$HOME" PATH=/usr/bin:/bin TMPDIR="${TMPDIR:-/tmp}" MONDRIAN_HOME="$MONDRIAN_HOME" \
     HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONNOUSERSITE=1 \
     PYTHONHOME="$APP/Contents/Resources" RESOURCEPATH="$APP/Contents/Resources" \
     "$APP/Contents/MacOS/python" "$@")
}

step "3/5 the bundle's Python: the bundled app, MLX on Metal, Qt's cocoa plugin and a system tray"
bundle_python - <<'PY'
import sys

import app
import mlx.core as mx

print("python", sys.executable, sys.version.split()[0])
print("app from", app.__file__)
assert "/Contents/Resources/" in app.__file__, "the app was not imported from the bundle"
assert mx.metal.is_available(), "MLX does not see Metal"
print("mlx", mx.__version__, "device", mx.default_device())
assert "gpu" in str(mx.default_device()).lower(), mx.default_device()
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

qt = QApplication([])
assert qt.platformName() == "cocoa", qt.platformName()
assert QSystemTrayIcon.isSystemTrayAvailable(), "no system tray (menubar) for Qt"
from app.engine.resources import resources_root

print("resources", resources_root())
assert "/Contents/Resources/" in str(resources_root())
PY

step "4/5 a critique of the sample photo with the tiny model, through the bundle's Python"
# app.testing is left out of the bundle (setup.py EXCLUDES), so the checkout builds the tiny model.
.venv/bin/python -m app.testing.tiny_model "$OUT/tiny-model" > "$OUT/tiny-model.log" 2>&1 || fail "building the tiny model"
bundle_python -m app critique "$APP/Contents/Resources/resources/samples/sample.jpg" --model "$OUT/tiny-model" \
  --json > "$OUT/critique.json" 2> "$OUT/critique.log" || { tail -20 "$OUT/critique.log" >&2; fail "the critique"; }
.venv/bin/python - "$OUT/critique.json" <<'PY'
import json
import sys

line = open(sys.argv[1], encoding="utf-8").read().strip().splitlines()[-1]
result = json.loads(line)
assert result["ok"] is True, result.get("error")
assert result["report"] and result["overall_score"] is not None, "no report"
assert result["model_used"] != "none", "measurement only: the model did not run"
print("critique ok:", result["model_id"], result["model_used"], "grade", result["report"].get("overall_grade"))
PY

step "5/5 the bundle started: a Dock app with a window and the menubar item"
"$APP/Contents/MacOS/Mondrian" > "$OUT/app.log" 2>&1 &
pid=$!
stop_app() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop_app EXIT
ask() {  # one question to System Events about the started process
  osascript -e "tell application \"System Events\" to tell (first process whose unix id is $pid) to $1"
}
items=0
for _ in $(seq 60); do
  kill -0 "$pid" 2>/dev/null || { tail -20 "$OUT/app.log" >&2; fail "the app exited at start-up"; }
  if items=$(ask "count menu bar items of menu bar 2" 2> "$OUT/osascript.log") && [ "$items" -ge 1 ]; then
    break
  fi
  items=0
  sleep 1
done
if [ "$items" -lt 1 ]; then
  cat "$OUT/osascript.log" >&2
  fail "no menubar item after 60 s (or System Events refused: osascript needs accessibility access)"
fi
[ "$(ask 'get background only')" = false ] || fail "the app has no Dock icon (background only)"
windows=$(ask "count windows") || fail "System Events could not count the windows"
[ "$windows" -ge 1 ] || fail "the app shows no window"
echo "menubar items: $items, windows: $windows, Dock: yes"
stop_app
trap - EXIT

printf '\nmac_check: all %s steps passed (logs: %s)\n' "$([ "$skip_tests" = 0 ] && echo 5 || echo 4)" "$OUT"
