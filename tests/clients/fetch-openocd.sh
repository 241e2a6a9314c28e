#!/bin/sh
# Installs the pinned OpenOCD (Espressif's build, PyPI package openocd-esp32, the one release
# with OpenOCD's `adapter driver xvc`) into this user's cache, outside the clone, keyed by
# version, and prints the directory. The wheel is fetched with `pip download` (no pip install:
# nothing on the system changes) and unpacked; an unchanged request costs nothing.
#
# usage: tests/clients/fetch-openocd.sh    -> .../clients/openocd-esp32-<version>
set -eu
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^OPENOCD_ESP32=//p' "$here/versions.env")
cache=${XDG_CACHE_HOME:-$HOME/.cache}/xvc-agent/clients
dir=$cache/openocd-esp32-$version
log() { printf 'fetch-openocd: %s\n' "$*" >&2; }

if [ -x "$dir/openocd_esp32/bin/openocd" ]; then
    printf '%s\n' "$dir"
    exit 0
fi
/usr/bin/python3 -m pip --version >/dev/null 2>&1 ||
    { log "Debian's pip (python3-pip) is not installed: run 'make deps'"; exit 1; }
command -v unzip >/dev/null || { log "unzip is not installed: run 'make deps'"; exit 1; }

mkdir -p "$cache"
# One fetch at a time; a second caller waits and takes the first one's result.
exec 9>"$cache/.openocd-esp32-$version.lock"
flock 9
if [ -x "$dir/openocd_esp32/bin/openocd" ]; then
    printf '%s\n' "$dir"
    exit 0
fi
work=$cache/.fetch-openocd-esp32-$version
rm -rf "$work"
mkdir -p "$work/wheel"
trap 'rm -rf "$work"' EXIT
log "downloading openocd-esp32 $version (cached for later runs)"
if ! /usr/bin/python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "$work/wheel" "openocd-esp32==$version" > "$work/log" 2>&1; then
    tail -n 20 "$work/log" >&2
    log "pip download openocd-esp32==$version failed"
    exit 1
fi
unzip -q "$work"/wheel/*.whl -d "$work/unpacked"
[ -x "$work/unpacked/openocd_esp32/bin/openocd" ] ||
    { log "the wheel has no executable openocd_esp32/bin/openocd"; exit 1; }
rm -rf "$dir"
mv "$work/unpacked" "$dir"
log "installed $dir"
printf '%s\n' "$dir"
