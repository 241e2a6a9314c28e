#!/bin/bash
# The packaged agent on an older and a newer distribution than the build host: installs the
# .deb with dpkg into a cached Debian root (plain chroot, no systemd), starts the installed
# /usr/bin/xvc-agent there as the package's service user with one simulated HS2 cable, and
# has openFPGALoader on the host find the emulated xc7a35t through the cable's port on
# loopback (the chroot shares the host's network). Then SIGTERM must stop it cleanly.
#
# usage: tests/distros/simulate-check.sh DEB SUITE...     (as root)
set -eu

deb=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
first_port=${SIMULATE_CHECK_PORT:-27542}
scratch=$(cd "$(dirname "$0")/../.." && pwd)/target/distros
failures=0
say() { printf 'simulate-check: %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { say "needs root (debootstrap, chroot)"; exit 1; }
command -v openFPGALoader >/dev/null || { say "openFPGALoader not found: run 'make deps'"; exit 1; }
[ -f "$deb" ] || { say "no package $deb: run 'make package'"; exit 1; }

for suite in "$@"; do
    start=$(date +%s)
    # shellcheck disable=SC2086 # a list of package names
    tarball=$("$here/debian-root.sh" "$suite" ${DISTRO_ROOT_PACKAGES:-libusb-1.0-0 libudev1 procps})
    root=$scratch/$suite
    rm -rf "$root"
    mkdir -p "$root"
    tar -C "$root" -xf "$tarball"
    # shellcheck disable=SC2016 # a dpkg-query format
    glibc=$(chroot "$root" dpkg-query -W -f='${Version}' libc6)
    cp "$deb" "$root/tmp/xvc-agent.deb"
    if ! chroot "$root" dpkg -i /tmp/xvc-agent.deb > "$root.log" 2>&1; then
        cat "$root.log"
        say "FAIL $suite: dpkg -i"
        failures=$((failures + 1))
        continue
    fi
    # A port nothing listens on yet (below the ephemeral range), so that only the agent
    # can be what answers there.
    port=$first_port
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        port=$((port + 1))
        [ $port -lt $((first_port + 100)) ] || { say "no free port from $first_port"; exit 1; }
    done
    # The agent runs in its own mount namespace (for /proc), as the package's user.
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare --mount --propagation private sh -c '
        mount -t proc proc "$1/proc" && exec chroot --userspec=xvc-agent:xvc-agent "$1" \
            /usr/bin/xvc-agent run --simulate 1 --base-port "$2" --log stderr \
            --state-dir /tmp/state --control-socket /tmp/control.sock' \
        simulate "$root" "$port" > "$root.agent.log" 2>&1 &
    agent=$!
    # Ready when the port accepts a connection (what a client waits for), within 30 s.
    ready=0
    tries=0
    while [ $tries -lt 300 ]; do
        if ! kill -0 "$agent" 2>/dev/null; then break; fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ready=1; break; fi
        tries=$((tries + 1))
        sleep 0.1
    done 2>/dev/null
    if [ $ready = 1 ] &&
        timeout 60 openFPGALoader -c xvc-client --ip 127.0.0.1 --port "$port" --detect \
            > "$root.detect.log" 2>&1 && grep -q 'xc7a35' "$root.detect.log"; then
        detected=1
    else
        detected=0
    fi
    kill -TERM "$agent" 2>/dev/null || true
    status=0
    wait "$agent" || status=$?
    if [ $ready = 1 ] && [ $detected = 1 ] && [ $status = 0 ]; then
        say "ok $suite (glibc $glibc): installed, served, xc7a35t detected, stopped cleanly ($(( $(date +%s) - start )) s)"
    else
        say "FAIL $suite (glibc $glibc): port ready=$ready, detected=$detected, exit status $status"
        sed 's/^/  agent: /' "$root.agent.log" | tail -n 20
        [ -f "$root.detect.log" ] && sed 's/^/  openFPGALoader: /' "$root.detect.log" | tail -n 10
        failures=$((failures + 1))
    fi
    rm -rf "$root" "$root".*log
done
[ $failures -eq 0 ]
