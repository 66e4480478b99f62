#!/usr/bin/env bash
# Screenshots of each view of the real window under Xvfb, written to docs/.
set -euo pipefail
project=$(mktemp -d)
trap 'rm -rf "$project"' EXIT
# A fresh settings folder, so the window starts with its default layout.
XDG_CONFIG_HOME="$project/config" QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \
  .venv/bin/python docs/screenshots.py "$project/digits" docs
