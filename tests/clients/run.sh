#!/bin/sh
# Runs the client conformance suite: openFPGALoader (Debian bookworm's on this host, Debian
# trixie's in a cached trixie root) and OpenOCD's XVC adapter (openocd-esp32, fetched into the
# cache) against `xvc-agent run --simulate 2` on free loopback ports. XVC_AGENT names the agent
# binary; without it the agent is built first (cargo only rebuilds what changed).
# Extra arguments go to pytest, e.g. `tests/clients/run.sh -k openocd`.
set -eu
cd "$(dirname "$0")/../.."

/usr/bin/python3 -c 'import pytest' 2>/dev/null ||
    { echo "python3-pytest missing: run 'make deps'" >&2; exit 1; }

if [ -z "${XVC_AGENT:-}" ]; then
    ${CARGO:-cargo} build --quiet --bin xvc-agent
    XVC_AGENT=${CARGO_TARGET_DIR:-target}/debug/xvc-agent
    export XVC_AGENT
fi

export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -m pytest tests/clients -v -p no:cacheprovider "$@"
