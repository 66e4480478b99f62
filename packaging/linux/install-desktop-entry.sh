#!/usr/bin/env bash
# Add Workbench to the desktop's application menu for the current user.
#
# Run it from the unpacked bundle folder: ./install-desktop-entry.sh
# It writes the menu entry to ~/.local/share/applications and the icon to
# ~/.local/share/icons, both pointing at this folder; run it again after
# moving the folder. Pass --remove to take the entry out again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
entry="$data/applications/workbench.desktop"
icon="$data/icons/hicolor/256x256/apps/workbench.png"

if [[ "${1:-}" == "--remove" ]]; then
    rm -f "$entry" "$icon"
    echo "Removed $entry and $icon"
    exit 0
fi
if [[ ! -x "$here/workbench" ]]; then
    echo "install-desktop-entry.sh: $here/workbench not found; run this script from the unpacked bundle folder." >&2
    exit 1
fi
mkdir -p "$(dirname "$entry")" "$(dirname "$icon")"
cp "$here/workbench.png" "$icon"
sed "s|^Exec=workbench |Exec=\"$here/workbench\" |" "$here/workbench.desktop" > "$entry"
chmod 644 "$entry"
command -v update-desktop-database >/dev/null && update-desktop-database "$data/applications" || true
echo "Installed $entry (runs $here/workbench)"
