#!/bin/sh
# Runs the virtual-machine suite (tests/vm): builds or finds the cached guest image, then
# boots it once and runs every scenario against the .deb that `make package` built.
# Extra arguments go to pytest, e.g. `tests/vm/run.sh -k journal`.
# `--image-only` only builds the image.
set -eu
cd "$(dirname "$0")/../.."
ARCH=${ARCH:-amd64}
export ARCH

for tool in debootstrap mkfs.ext4 /usr/bin/python3; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || {
        echo "vm-test: $tool not found: run 'make deps'" >&2; exit 1; }
done
if [ "$(id -u)" != 0 ]; then
    echo "vm-test: building the guest image needs root (debootstrap, chroot): run as root" >&2
    exit 1
fi

start=$(date +%s)
/usr/bin/python3 tests/vm/image.py --arch "$ARCH" >/dev/null
echo "vm-test: guest image ready ($(( $(date +%s) - start )) s)"
if [ "${1:-}" = --image-only ]; then exit 0; fi

/usr/bin/python3 -c 'import pytest' 2>/dev/null || {
    echo "vm-test: python3-pytest missing: run 'make deps'" >&2; exit 1; }
# The guest's package: the one of its architecture that `make package ARCH=...` built.
XVC_VM_DEB=${XVC_VM_DEB:-$(ls target/packages/"$ARCH"/xvc-agent_*.deb 2>/dev/null | head -n1)}
[ -f "$XVC_VM_DEB" ] || {
    echo "vm-test: no target/packages/$ARCH/xvc-agent_*.deb: run 'make package ARCH=$ARCH'" >&2; exit 1; }
export XVC_VM_DEB
export XVC_AGENT="${XVC_AGENT:-target/x86_64-unknown-linux-gnu/release/xvc-agent}"
export PYTHONDONTWRITEBYTECODE=1
/usr/bin/python3 -m pytest tests/vm -v -s -p no:cacheprovider "$@"
echo "vm-test: done in $(( $(date +%s) - start )) s"
