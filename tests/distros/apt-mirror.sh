#!/bin/sh
# Prints the Debian archive apt uses on this machine: the first source in its sources list
# (one-line or deb822 format) that is not the security archive. Build scripts take the
# archive from here, so none is written into the project's files. DEBIAN_MIRROR overrides.
set -eu
if [ -n "${DEBIAN_MIRROR:-}" ]; then
    printf '%s\n' "$DEBIAN_MIRROR"
    exit 0
fi
mirror=$(
    {
        if [ -f /etc/apt/sources.list ]; then
            awk '$1 == "deb" && $0 !~ /security/ {
                for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list
        fi
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            awk 'BEGIN { RS = ""; FS = "\n" }
                 /Types:[^\n]*deb/ && !/security/ {
                     for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { split($i, u, " "); print u[2]; exit } }' "$f"
        done
        for f in /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            awk '$1 == "deb" && $0 !~ /security/ {
                for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f"
        done
    } | head -n 1
)
[ -n "$mirror" ] || { echo "apt-mirror: no Debian archive in apt's sources list; set DEBIAN_MIRROR" >&2; exit 1; }
printf '%s\n' "$mirror"
