#!/usr/bin/env bash
# Test the built bundle the way a user gets it: unpack the archive into a
# fresh folder elsewhere, with empty user folders, then
#   1. run its --smoke-test (window offscreen, one trainer job through QProcess),
#   2. build the digits demo project with the bundled command line,
#   3. open the demo project in the window and run a job there (--smoke-test --project),
#   4. run a job from the bundled command line,
# and check that the log went to the user log folder and that nothing was
# written inside the bundle folder.
#
# Usage: bash packaging/bundle-test.sh [ARCHIVE]   (or `make bundle-test`)
set -euo pipefail
cd "$(dirname "$0")/.."
archive="${1:-$(ls -t dist/workbench-*-linux-*.tar.gz 2>/dev/null | head -n 1)}"
if [[ -z "$archive" || ! -f "$archive" ]]; then
    echo "bundle-test.sh: no bundle archive in dist/; run 'make bundle' first." >&2
    exit 1
fi
archive="$(cd "$(dirname "$archive")" && pwd)/$(basename "$archive")"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/workbench-bundle-test-XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

passed=0
step() { echo "== $*"; }

step "unpacking $archive into $scratch"
tar -C "$scratch" -xzf "$archive"
app="$scratch/workbench/workbench"
test -x "$app"
test -f "$scratch/workbench/workbench.desktop"
test -f "$scratch/workbench/workbench.png"
(cd "$scratch/workbench" && find . | sort) > "$scratch/files-before.txt"

# A user with empty home and user folders; Qt without a screen.
export HOME="$scratch/home"
unset XDG_CONFIG_HOME XDG_DATA_HOME XDG_CACHE_HOME XDG_STATE_HOME WORKBENCH_LOG_DIR
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
export QT_QPA_PLATFORM=offscreen
mkdir -p "$HOME"
cd "$scratch"

step "smoke test on a generated project"
"$app" --smoke-test
passed=$((passed + 1))

step "demo project from the bundled command line"
"$app" demo --project "$scratch/demo" --no-gui
passed=$((passed + 1))

step "smoke test on the demo project"
"$app" --smoke-test --project "$scratch/demo"
passed=$((passed + 1))

step "job from the bundled command line"
"$app" job run self-training "$scratch/demo" --rounds 1
"$app" status "$scratch/demo"
passed=$((passed + 1))

step "files written only to user folders"
log="$HOME/.local/state/workbench/log/workbench.log"
if [[ ! -s "$log" ]]; then
    echo "bundle-test.sh: no log at $log" >&2
    exit 1
fi
(cd "$scratch/workbench" && find . | sort) > "$scratch/files-after.txt"
if ! diff -u "$scratch/files-before.txt" "$scratch/files-after.txt"; then
    echo "bundle-test.sh: the bundle wrote files into its own folder (listed above)." >&2
    exit 1
fi
passed=$((passed + 1))
# The plain closing line CI logs read: every step above exits on failure.
echo "bundle-test: $passed passed, 0 failed"
