#!/bin/sh
# Builds a minimal Debian root of a given suite (minbase plus the packages named) with
# debootstrap, caches it as a tarball outside the clone and prints the tarball's path. The
# cache key is a hash of the suite, the package list and this script: a change to any of them
# makes a new root, an unchanged request costs nothing. Of the other roots of the suite only
# the one used last is kept (another branch may still need it); the rest are deleted.
#
# usage: tests/distros/debian-root.sh SUITE [PACKAGE...]    (as root)
#
# The Debian archive is the one apt on this machine uses (tests/distros/apt-mirror.sh).
set -eu

suite=$1
shift
packages=$(printf '%s\n' "$@" | sort -u | tr '\n' ',' | sed 's/^,//; s/,$//')
here=$(cd "$(dirname "$0")" && pwd)

cache=${XDG_CACHE_HOME:-$HOME/.cache}/xvc-agent/roots
key=$( { printf '%s\n%s\n' "$suite" "$packages"; cat "$0"; } | sha256sum | cut -c1-16)
tarball=$cache/$suite-$key.tar
log() { printf 'debian-root: %s\n' "$*" >&2; }
# Marks the tarball as used now, deletes the suite's stale roots and prints the tarball.
done_with() {
    touch "$tarball" 2>/dev/null || true
    others=0
    # shellcheck disable=SC2045 # the files are named by the suite and a hex key
    for root in $(ls -t "$cache/$suite"-*.tar); do
        [ "$root" != "$tarball" ] || continue
        others=$((others + 1))
        [ $others -gt 1 ] || continue
        log "removing the stale root $root"
        rm -f "$root" "$cache/.$(basename "$root" .tar).lock" 2>/dev/null || true
    done
    printf '%s\n' "$tarball"
    exit 0
}

[ -f "$tarball" ] && done_with
[ "$(id -u)" = 0 ] || { log "needs root (debootstrap)"; exit 1; }
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] ||
    { log "debootstrap is not installed: run 'make deps'"; exit 1; }
mirror=$("$here/apt-mirror.sh")

# One build at a time per root: a second caller waits for the first and takes its result.
mkdir -p "$cache"
exec 9>"$cache/.$suite-$key.lock"
flock 9
[ -f "$tarball" ] && done_with
work=$cache/.build-$suite-$key
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
log "debootstrap $suite ($packages), cached for later runs"
if ! debootstrap --variant=minbase ${packages:+--include=$packages} "$suite" "$work/root" \
    "$mirror" > "$work/log" 2>&1; then
    tail -n 30 "$work/log" >&2
    log "debootstrap $suite failed"
    exit 1
fi
rm -rf "$work"/root/var/cache/apt/archives/*.deb "$work"/root/var/lib/apt/lists/*
tar -C "$work/root" -cf "$work/root.tar" .
mv "$work/root.tar" "$tarball"
log "built $tarball in $(( $(date +%s) - start )) s"
done_with
