#!/usr/bin/env bash
# Make `mondrian` a command without activating the venv: a symbolic link in ~/.local/bin (the
# per-user folder pipx and pip --user use) to .venv/bin/mondrian. Never replaces a file that is not
# such a link; MONDRIAN_NO_LINK=1 skips it. Says where it is and, when ~/.local/bin is not on PATH,
# the line that puts it there.
set -euo pipefail
cd "$(dirname "$0")/.."
target="$PWD/.venv/bin/mondrian"
bin_dir="${MONDRIAN_BIN_DIR:-$HOME/.local/bin}"
link="$bin_dir/mondrian"
if [ "${MONDRIAN_NO_LINK:-0}" = "1" ]; then
  echo "mondrian: $target (not linked: MONDRIAN_NO_LINK=1)"
  exit 0
fi
if [ ! -x "$target" ]; then
  echo "mondrian: $target is missing; run scripts/setup.sh first" >&2
  exit 1
fi
mkdir -p "$bin_dir"
if [ -e "$link" ] && [ ! -L "$link" ]; then
  echo "mondrian: $link exists and is not a link made by Mondrian; left alone. Use $target" >&2
elif [ "$(readlink "$link" 2>/dev/null || true)" != "$target" ]; then
  ln -sfn "$target" "$link"
  echo "mondrian: linked $link -> $target"
fi
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "mondrian: $bin_dir is not on your PATH; add it (then open a new terminal):"
     echo "    echo 'export PATH=\"$bin_dir:\$PATH\"' >> ~/.zshrc   # or ~/.bashrc"
     echo "  or run $target directly." ;;
esac
