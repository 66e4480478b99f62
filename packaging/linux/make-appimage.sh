#!/usr/bin/env bash
# Wrap dist/workbench/ in an AppImage: dist/Workbench-VERSION-ARCH.AppImage.
#
# Needs appimagetool on PATH (not packaged by Debian or PyPI; it is
# published by the AppImage project). build-bundle.sh calls this script
# when the tool is there. Usage: bash packaging/linux/make-appimage.sh VERSION
set -euo pipefail
cd "$(dirname "$0")/../.."
version="${1:?usage: make-appimage.sh VERSION}"
appdir="build/Workbench.AppDir"
rm -rf "$appdir"
mkdir -p "$appdir/usr/lib"
cp -a dist/workbench "$appdir/usr/lib/workbench"
cp packaging/linux/workbench.desktop "$appdir/workbench.desktop"
cp resources/icon.png "$appdir/workbench.png"
cat > "$appdir/AppRun" <<'SH'
#!/bin/sh
here="$(dirname "$(readlink -f "$0")")"
exec "$here/usr/lib/workbench/workbench" "$@"
SH
chmod +x "$appdir/AppRun"
ARCH="$(uname -m)" appimagetool "$appdir" "dist/Workbench-$version-$(uname -m).AppImage"
rm -rf "$appdir"
