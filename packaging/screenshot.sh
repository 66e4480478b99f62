#!/usr/bin/env bash
# Screenshot of the real window under Xvfb: screenshot.sh OUTPUT.png
# The demo project is built in a temporary folder and removed afterwards.
set -euo pipefail
output=${1:?output png}
project=$(mktemp -d)
trap 'rm -rf "$project"' EXIT
QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \
  .venv/bin/python packaging/screenshot.py "$project/digits" "$output"
