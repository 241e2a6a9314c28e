#!/bin/sh
# Runs a command chrooted in a root of another architecture, through a qemu-user emulator,
# without touching the host's binfmt_misc registration: the command runs in a private user,
# mount and pid namespace whose own binfmt_misc instance (Linux 6.7 and later) has the
# emulator registered, so only processes in that namespace see it. The whole uid/gid range is
# mapped into the namespace unchanged (packages chown files to their system users). Device
# nodes cannot be made in a user namespace: container=lxc in the environment tells
# debootstrap's second stage not to try.
#
# usage: tests/vm/foreign-chroot.sh ARCH ROOT COMMAND [ARG...]   (as root)
set -eu

arch=$1
root=$2
shift 2

case $arch in
    arm64)
        emulator="qemu-aarch64-static"
        magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
        mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
        ;;
    *) echo "foreign-chroot: no qemu-user set-up for $arch" >&2; exit 1 ;;
esac
qemu=$(command -v "$emulator") || { echo "foreign-chroot: $emulator not found: run 'make deps'" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "foreign-chroot: must run as root" >&2; exit 1; }
[ -d /proc/sys/fs/binfmt_misc ] || { echo "foreign-chroot: the kernel has no binfmt_misc" >&2; exit 1; }

sync_dir=$(mktemp -d)
trap 'rm -rf "$sync_dir"' EXIT
mkfifo "$sync_dir/mapped"

# The namespace's first process waits on the fifo until its uid/gid maps are written, then
# mounts its own proc and binfmt_misc, registers the emulator (flag F: opened now, so the
# root needs no copy of it) and runs the command chrooted.
# shellcheck disable=SC2016 # expanded by the inner shell
unshare --user --mount --pid --fork --propagation private \
    env container=lxc FOREIGN_ROOT="$root" QEMU="$qemu" MAGIC="$magic" MASK="$mask" \
    SYNC="$sync_dir/mapped" sh -c '
        set -eu
        read -r _ < "$SYNC"
        mount -t proc proc /proc
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
        printf ":xvc-agent-qemu:M::%s:%s:%s:F" "$MAGIC" "$MASK" "$QEMU" \
            > /proc/sys/fs/binfmt_misc/register
        mount -t proc proc "$FOREIGN_ROOT/proc"
        status=0
        chroot "$FOREIGN_ROOT" "$@" || status=$?
        umount "$FOREIGN_ROOT/proc" 2>/dev/null || true
        exit $status
    ' foreign-chroot "$@" &
ns=$!
# The maps can be written once that process is in its new user namespace.
tries=0
while [ "$(readlink "/proc/$ns/ns/user" 2>/dev/null)" = "$(readlink /proc/self/ns/user)" ]; do
    tries=$((tries + 1))
    if [ $tries -ge 200 ]; then
        echo "foreign-chroot: the namespace did not start" >&2
        kill "$ns" 2>/dev/null || true
        exit 1
    fi
    sleep 0.05
done
echo "0 0 65536" > "/proc/$ns/uid_map"
echo "0 0 65536" > "/proc/$ns/gid_map"
echo mapped > "$sync_dir/mapped"
wait "$ns"
