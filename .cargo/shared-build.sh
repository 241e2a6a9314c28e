#!/bin/sh
# cargo as make runs it: its intermediate files (every dependency and this crate, for clippy,
# the tests, the release and cross builds) go to a build directory in this user's cache, one
# per toolchain, so that a fresh clone compiles only this crate; the binaries, test results
# and packages stay in the clone's target/. Every clone of the user shares that directory,
# so it stays locked from the first compile to the last test binary's exit (cargo's own lock
# covers the compile only: another clone could relink a test binary before it runs). The
# build directories of other toolchains are deleted, but the one used last before this one.
#
# usage: .cargo/shared-build.sh CARGO-ARGUMENTS...   ($XVC_CARGO is the cargo to run; a
# CARGO_BUILD_BUILD_DIR already set is used as it is, without locking or cleaning up)
set -eu
cargo=${XVC_CARGO:-cargo}
if [ -n "${CARGO_BUILD_BUILD_DIR:-}" ]; then
    exec "$cargo" "$@"
fi
root=${XDG_CACHE_HOME:-$HOME/.cache}/xvc-agent/cargo
key=$("${RUSTC:-rustc}" -vV | sha256sum | cut -c1-16)
dir=$root/$key
mkdir -p "$dir"
touch "$dir" # when it was last used, for the clean-up below
# shellcheck disable=SC2012 # the directories are named by hex keys
for other in $(ls -dt "$root"/*/ | tail -n +3); do
    other=${other%/}
    # Only a directory no build uses: its lock is taken without waiting.
    if [ "$other" != "$dir" ] && flock -n "$other.lock" rm -rf "$other"; then
        rm -f "$other.lock"
        echo "cargo: removed the stale build directory $other" >&2
    fi
done
if ! flock -n "$dir.lock" true; then
    echo "cargo: waiting for another build using $dir" >&2
fi
CARGO_BUILD_BUILD_DIR=$dir
export CARGO_BUILD_BUILD_DIR
# This crate's outputs have the same names whichever clone built them (cargo leaves the
# checkout's path out), and cargo judges them fresh by comparing their times with the
# sources': a clone whose sources are older than what another clone built last would get
# that clone's binaries. So when the clone changes, this crate's fingerprints are dropped
# and the crate is compiled again (its dependencies are not). Done under the lock.
clone=$(cd "$(dirname "$0")/.." && pwd -P)
# shellcheck disable=SC2016 # the inner shell expands them
exec flock -o "$dir.lock" sh -c '
    dir=$1 clone=$2
    shift 2
    if [ "$(cat "$dir/clone" 2>/dev/null)" != "$clone" ]; then
        find "$dir" -maxdepth 4 -path "*/.fingerprint/xvc-agent-*" -prune -exec rm -rf {} +
        printf "%s\n" "$clone" >"$dir/clone"
    fi
    exec "$@"' shared-build "$dir" "$clone" "$cargo" "$@"
