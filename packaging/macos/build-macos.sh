#!/usr/bin/env bash
# Build Workbench.app and a .dmg on macOS: run from the repository root,
# with Python 3.10 or newer (python.org or Homebrew) and Xcode's command
# line tools (hdiutil, codesign):
#   bash packaging/macos/build-macos.sh
# Set CODESIGN_IDENTITY to a "Developer ID Application" identity to sign;
# without it the app is signed ad hoc and Gatekeeper makes the user
# confirm the first start (right-click, Open). PyPI's torch for macOS is the
# CPU build with Apple MPS support, so the bundle has no CUDA libraries.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PY:-.venv/bin/python}"
[[ -x "$PY" ]] || python3 -m venv .venv
"$PY" -m pip install -e '.[bundle]'
version="$("$PY" -c 'import importlib.metadata as m; print(m.version("workbench"))')"
arch="$(uname -m)"

# The spec builds dist/workbench/ and wraps it in dist/Workbench.app.
"$PY" -m PyInstaller --noconfirm --distpath dist --workpath build/pyinstaller packaging/workbench.spec
QT_QPA_PLATFORM=offscreen dist/Workbench.app/Contents/MacOS/workbench --smoke-test

codesign --force --deep --sign "${CODESIGN_IDENTITY:--}" dist/Workbench.app

# The disk image contains the app and a link to /Applications to drag it onto.
staging="build/dmg"
rm -rf "$staging"
mkdir -p "$staging"
cp -R dist/Workbench.app "$staging/"
ln -s /Applications "$staging/Applications"
dmg="dist/Workbench-$version-macos-$arch.dmg"
rm -f "$dmg"
hdiutil create -volname "Workbench $version" -srcfolder "$staging" -ov -format UDZO "$dmg"
rm -rf "$staging"
echo "Built $dmg"
