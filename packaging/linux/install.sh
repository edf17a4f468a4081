#!/bin/sh
# Installs VQ Studio from this unpacked archive. Needs no network and no Python.
#
#   ./install.sh                 as a user: into ~/.local (app in ~/.local/lib/vqstudio)
#   sudo ./install.sh            as root: app in /opt/vqstudio, commands in /usr/local/bin
#   ./install.sh --prefix DIR    app in DIR/lib/vqstudio, commands in DIR/bin, menu entry in DIR/share
#
# It writes the list of what it installed to <app>/install-manifest.txt; <app>/uninstall.sh
# removes exactly those files. Installing again over an install replaces it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
prefix=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a folder" >&2; exit 2; }; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done

if [ -n "$prefix" ]; then
    mkdir -p "$prefix"
    prefix=$(cd "$prefix" && pwd)
    appdir="$prefix/lib/vqstudio"; bindir="$prefix/bin"; sharedir="$prefix/share"
elif [ "$(id -u)" -eq 0 ]; then
    appdir="/opt/vqstudio"; bindir="/usr/local/bin"; sharedir="/usr/local/share"
else
    prefix="${HOME:?HOME is not set}/.local"
    appdir="$prefix/lib/vqstudio"; bindir="$prefix/bin"; sharedir="${XDG_DATA_HOME:-$prefix/share}"
fi

[ -x "$here/app/vqstudio-gui" ] || { echo "install.sh: $here/app/vqstudio-gui is missing: unpack the whole archive first" >&2; exit 2; }

# An earlier install at the same place is removed first, so no stale file of it stays.
if [ -x "$appdir/uninstall.sh" ]; then
    "$appdir/uninstall.sh" --quiet
fi

echo "Installing VQ Studio into $appdir"
mkdir -p "$(dirname "$appdir")" "$bindir" "$sharedir/applications" "$sharedir/icons/hicolor/scalable/apps"
# Copy to a temporary name, then rename: an interrupted copy never looks like an install.
rm -rf "$appdir.partial"
cp -R "$here/app" "$appdir.partial"
cp "$here/uninstall.sh" "$appdir.partial/uninstall.sh"
chmod 755 "$appdir.partial/uninstall.sh"
mv "$appdir.partial" "$appdir"

manifest="$appdir/install-manifest.txt"
: > "$manifest"
for exe in vqstudio vqstudio-gui; do
    ln -sf "$appdir/$exe" "$bindir/$exe"
    echo "$bindir/$exe" >> "$manifest"
done

icon="$sharedir/icons/hicolor/scalable/apps/vqstudio.svg"
cp "$here/vqstudio.svg" "$icon"
echo "$icon" >> "$manifest"

desktop="$sharedir/applications/vqstudio.desktop"
# Exec and Icon point at the installed files, so the entry works whatever PATH holds.
sed -e "s|^Exec=.*|Exec=\"$appdir/vqstudio-gui\" %F|" -e "s|^Icon=.*|Icon=$icon|" \
    -e "s|^TryExec=.*|TryExec=$appdir/vqstudio-gui|" "$here/vqstudio.desktop" > "$desktop"
chmod 644 "$desktop"
echo "$desktop" >> "$manifest"
echo "$appdir" >> "$manifest"

# Refresh the menu and icon caches where the tools exist (desktop environments also notice alone).
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$sharedir/applications" 2>/dev/null || true
# (only for a real icon theme folder: a cache file in a bare prefix would outlive the uninstall)
if [ -f "$sharedir/icons/hicolor/index.theme" ] && command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q "$sharedir/icons/hicolor" 2>/dev/null || true
fi

echo "Installed. Start it from the menu (VQ Studio) or with: $bindir/vqstudio-gui"
case ":$PATH:" in *":$bindir:"*) ;; *) echo "Note: $bindir is not on your PATH." ;; esac
echo "To remove it: $appdir/uninstall.sh"
