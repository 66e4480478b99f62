#!/usr/bin/env bash
# Build the one-folder bundle in dist/workbench/ and, on Linux, its archive
# dist/workbench-VERSION-linux-ARCH.tar.gz with a .desktop file and icon.
# An AppImage is built too when appimagetool is on PATH.
#
# Usage: bash packaging/build-bundle.sh   (or `make bundle`)
# PY selects the interpreter (default .venv/bin/python); it needs the
# project's `bundle` extra (PyInstaller). The build runs under `nice` because
# it keeps every core busy for several minutes. Build times go to
# build/bundle-timings.json for packaging/measure-bundle.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
NICE="${NICE:-nice -n 10}"

if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
    echo "build-bundle.sh: PyInstaller is not installed for $PY; run: $PY -m pip install -e '.[bundle]'" >&2
    exit 1
fi
version="$("$PY" -c 'import importlib.metadata as m; print(m.version("workbench"))')"
arch="$(uname -m)"
mkdir -p build dist

start=$(date +%s)
$NICE "$PY" -m PyInstaller --noconfirm --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/workbench.spec
built=$(date +%s)

archive=""
if [[ "$(uname -s)" == "Linux" ]]; then
    cp packaging/linux/workbench.desktop dist/workbench/workbench.desktop
    cp resources/icon.png dist/workbench/workbench.png
    cp packaging/linux/install-desktop-entry.sh dist/workbench/
    archive="dist/workbench-$version-linux-$arch.tar.gz"
    rm -f dist/workbench-*-linux-*.tar.gz
    compressor=gzip
    command -v pigz >/dev/null && compressor=pigz
    $NICE tar -C dist -I "$compressor" -cf "$archive" workbench
    echo "Archive: $archive ($(du -h "$archive" | cut -f1))"
    if command -v appimagetool >/dev/null; then
        bash packaging/linux/make-appimage.sh "$version"
    else
        echo "appimagetool not found on PATH: no AppImage built (README, Installer)."
    fi
fi
archived=$(date +%s)

cat > build/bundle-timings.json <<JSON
{"pyinstaller_s": $((built - start)), "archive_s": $((archived - built)), "total_s": $((archived - start)), "archive": "$archive", "cores": $(nproc)}
JSON
echo "Bundle: dist/workbench ($(du -sh dist/workbench | cut -f1)), built in $((archived - start)) s"
