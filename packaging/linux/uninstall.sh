#!/bin/sh
# Removes VQ Studio: the files listed in install-manifest.txt beside this script, then the app
# folder itself. Touches nothing else (projects and recordings are never inside the app folder).
set -eu

quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1
appdir=$(cd "$(dirname "$0")" && pwd)
manifest="$appdir/install-manifest.txt"
[ -f "$manifest" ] || { echo "uninstall.sh: $manifest is missing: is this an installed VQ Studio?" >&2; exit 2; }
[ -x "$appdir/vqstudio-gui" ] || { echo "uninstall.sh: $appdir does not hold VQ Studio; nothing removed" >&2; exit 2; }

while IFS= read -r path; do
    [ -n "$path" ] || continue
    [ "$path" = "$appdir" ] && continue  # removed last
    # Only remove links that still point into this app, and files we wrote.
    if [ -L "$path" ]; then
        case "$(readlink "$path")" in "$appdir"/*) rm -f "$path" ;; esac
    elif [ -f "$path" ]; then
        rm -f "$path"
    fi
done < "$manifest"

rm -rf "$appdir"
[ "$quiet" -eq 1 ] || echo "VQ Studio removed from $appdir"
