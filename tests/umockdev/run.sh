#!/bin/sh
# Runs the umockdev suite: the agent's real libudev and libusb code paths against mocked
# sysfs, uevents and usbfs. Builds the agent first (cargo only rebuilds what changed).
# Extra arguments go to pytest, e.g. `tests/umockdev/run.sh -k latency`.
set -eu
cd "$(dirname "$0")/../.."

for tool in umockdev-wrapper /usr/bin/python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool not found: run 'make deps'" >&2; exit 1; }
done
/usr/bin/python3 -c 'import gi; gi.require_version("UMockdev", "1.0"); import pytest' 2>/dev/null || {
    echo "python3-gi, gir1.2-umockdev-1.0 or python3-pytest missing: run 'make deps'" >&2
    exit 1
}

if [ -z "${XVC_AGENT:-}" ]; then
    ${CARGO:-cargo} build --quiet --bin xvc-agent
fi

export PYTHONDONTWRITEBYTECODE=1
# The harness itself must run under the preload library, so that its testbed is the /sys and
# /dev the agent sees; Debian's python3 is the one with the GObject bindings.
exec umockdev-wrapper /usr/bin/python3 -m pytest tests/umockdev -v -p no:cacheprovider "$@"
