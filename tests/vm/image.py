#!/usr/bin/python3
"""Builds (or finds in the cache) the Debian guest image the virtual-machine tests boot.

A Debian 12 root made with debootstrap (minbase plus systemd, udev, a kernel and what the
tests need), written into an ext4 file system image with `mkfs.ext4 -d` (no loop devices,
no mounts), a small initrd that only has to find that disk, and a kernel QEMU boots
directly. It is cached outside the source tree, under
`${XDG_CACHE_HOME:-~/.cache}/xvc-agent/vm/<arch>-<hash>/`, keyed by a hash of everything
that goes into it (the package list and the other constants below, the source of the
functions that build and configure the root, the architecture's row, the guest files and
the foreign-chroot helper), so an unchanged input never rebuilds and a changed one never
reuses a stale image; editing the rest of this file (caching, locking, the command line)
keeps the image. Of the older images of an architecture only the one used last is kept
(another branch may still need it); the rest are deleted. VMs boot it with `snapshot=on`:
the cached image is never written.

The package mirror is read from the host's apt sources at build time.

Usage: image.py [--arch ARCH]  (prints the image directory)
"""

import argparse
import fcntl
import glob
import hashlib
import inspect
import lzma
import os
import re
import shutil
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import arch as archtab  # noqa: E402

SUITE = "bookworm"
# Guest packages beyond minbase. dbus, avahi-daemon and avahi-utils are for DNS-SD tests;
# they are installed but not started at boot (a test starts them).
PACKAGES = [
    "systemd", "systemd-sysv", "udev", "kmod", "initramfs-tools", "linux-image-{arch}",
    "libusb-1.0-0", "libudev1", "procps", "python3", "dbus", "avahi-daemon", "avahi-utils",
    # iproute2: the DNS-SD scenario builds two hosts from network namespaces and a veth pair.
    "iproute2",
]
IMAGE_SIZE = "2G"
GUEST_DIR = os.path.join(HERE, "guest")
# The guest's static address on QEMU's user network (its default 10.0.2.0/24).
GUEST_NETWORK = """[Match]
Type=ether

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
LinkLocalAddressing=no
IPv6AcceptRA=no
"""


class BuildError(Exception):
    pass


def cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "xvc-agent", "vm")


def inputs_hash(a):
    """What the image is made of: the constants, the build steps, the architecture's row
    and every file copied into the root or run to make it."""
    h = hashlib.sha256()
    h.update(repr(a).encode())
    h.update(repr((SUITE, PACKAGES, IMAGE_SIZE, GUEST_NETWORK)).encode())
    for step in (build, configure_root, extract_vmlinux):
        h.update(inspect.getsource(step).encode())
    for path in [os.path.join(HERE, "foreign-chroot.sh")] + sorted(glob.glob(os.path.join(GUEST_DIR, "*"))):
        h.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def image_dir(a):
    return os.path.join(cache_root(), f"{a.name}-{inputs_hash(a)}")


def apt_mirror():
    """The first Debian archive URI in the host's apt sources that serves SUITE's main."""
    entries = []  # (uris, suites, components)
    files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*"))
    for path in files:
        try:
            text = open(path).read()
        except OSError:
            continue
        if path.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.split()
                if "deb" in fields.get("types", []):
                    entries.append((fields.get("uris", []), fields.get("suites", []),
                                    fields.get("components", [])))
        elif path.endswith(".list"):
            for line in text.splitlines():
                parts = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(parts) >= 4 and parts[0] == "deb":
                    entries.append(([parts[1]], [parts[2]], parts[3:]))
    for uris, suites, comps in entries:
        if SUITE in suites and "main" in comps and uris:
            return uris[0]
    raise BuildError(f"no apt source for {SUITE} main in /etc/apt/sources.list(.d): "
                     "cannot fetch the guest's packages")


def run(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, **kw)
    if r.returncode != 0:
        raise BuildError(f"{cmd[0]} failed with status {r.returncode}")


def extract_vmlinux(bzimage, out):
    """Writes the uncompressed ELF kernel inside a bzImage (what QEMU boots through PVH)."""
    data = open(bzimage, "rb").read()
    candidates = [
        (b"\xfd7zXZ\x00", lambda d: lzma.LZMADecompressor().decompress(d)),
        (b"\x28\xb5\x2f\xfd", lambda d: subprocess.run(
            ["zstd", "-dcq"], input=d, stdout=subprocess.PIPE).stdout),
        (b"\x1f\x8b\x08", lambda d: zlib.decompressobj(31).decompress(d)),
    ]
    for magic, decompress in candidates:
        at = data.find(magic)
        while at >= 0:
            try:
                kernel = decompress(data[at:])
            except Exception:
                kernel = b""
            if kernel[:4] == b"\x7fELF":
                with open(out, "wb") as f:
                    f.write(kernel)
                return
            at = data.find(magic, at + 1)
    raise BuildError(f"no compressed ELF kernel found in {bzimage}")


def configure_root(root, a):
    def write(rel, text, mode=0o644):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    def link(rel, target):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)

    write("etc/hostname", "xvc-vm\n")
    write("etc/hosts", "127.0.0.1 localhost\n127.0.1.1 xvc-vm\n::1 localhost\n")
    write("etc/fstab", "/dev/vda / ext4 rw,noatime 0 1\n")
    # A fixed machine id: an empty one would make every (snapshot) boot a first boot, which
    # runs preset-all and starts what the presets enable.
    write("etc/machine-id", hashlib.md5(b"xvc-vm").hexdigest() + "\n", 0o444)
    write("etc/systemd/network/10-user.network", GUEST_NETWORK)
    sysd = "etc/systemd/system"
    link(f"{sysd}/multi-user.target.wants/systemd-networkd.service",
         "/lib/systemd/system/systemd-networkd.service")
    link(f"{sysd}/sockets.target.wants/systemd-networkd.socket",
         "/lib/systemd/system/systemd-networkd.socket")
    # Tests drive the guest through its command agent (guest/agent.py).
    shutil.copy(os.path.join(GUEST_DIR, "agent.py"), os.path.join(root, "usr/local/sbin/xvc-vm-agent"))
    os.chmod(os.path.join(root, "usr/local/sbin/xvc-vm-agent"), 0o755)
    shutil.copy(os.path.join(GUEST_DIR, "xvc-vm-agent.service"),
                os.path.join(root, sysd, "xvc-vm-agent.service"))
    link(f"{sysd}/multi-user.target.wants/xvc-vm-agent.service", f"/{sysd}/xvc-vm-agent.service")
    # Installed for the tests that need them, started by those tests only.
    for rel in ["multi-user.target.wants/avahi-daemon.service",
                "sockets.target.wants/avahi-daemon.socket",
                "dbus-org.freedesktop.Avahi.service"]:
        path = os.path.join(root, sysd, rel)
        if os.path.lexists(path):
            os.unlink(path)
    # debootstrap forbids starting services in the root it builds; the guest must allow it
    # (the package's maintainer scripts start the agent).
    for rel in ["usr/sbin/policy-rc.d"]:
        path = os.path.join(root, rel)
        if os.path.lexists(path):
            os.unlink(path)
    # No package sources in the guest: everything it installs comes from the tests.
    for rel in ["etc/apt/sources.list"]:
        path = os.path.join(root, rel)
        if os.path.lexists(path):
            os.unlink(path)
    for d in ["var/cache/apt/archives", "var/lib/apt/lists"]:
        for path in glob.glob(os.path.join(root, d, "*")):
            if os.path.isfile(path):
                os.unlink(path)


def build(a, out):
    mirror = apt_mirror()
    for tool in ["debootstrap", "mkfs.ext4", a.qemu]:
        if not shutil.which(tool) and not os.path.exists(os.path.join("/usr/sbin", tool)):
            raise BuildError(f"{tool} not found: run 'make deps'")
    work = out + ".tmp"
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    root = os.path.join(work, "root")
    packages = ",".join(p.format(arch=a.name) for p in PACKAGES)
    t0 = time.monotonic()
    run(["debootstrap", "--foreign", "--variant=minbase", f"--arch={a.name}",
         f"--include={packages}", SUITE, root, mirror], stdout=subprocess.DEVNULL)
    # The initrd only has to mount a virtio disk: list its modules instead of "most"
    # (6 MB instead of 36, and a faster boot). Written before the second stage so the
    # kernel's package builds it once, this way.
    os.makedirs(os.path.join(root, "etc/initramfs-tools/conf.d"), exist_ok=True)
    with open(os.path.join(root, "etc/initramfs-tools/conf.d/xvc-vm.conf"), "w") as f:
        f.write("MODULES=list\nCOMPRESS=gzip\n")
    with open(os.path.join(root, "etc/initramfs-tools/modules"), "w") as f:
        f.write("\n".join(a.initrd_modules) + "\n")
    if a.user_emulator:
        # The guest's binaries run through qemu-user, registered in a private namespace only
        # (the host's binfmt_misc is never touched).
        if not shutil.which(a.user_emulator):
            raise BuildError(f"{a.user_emulator} not found: run 'make deps'")
        run([os.path.join(HERE, "foreign-chroot.sh"), a.name, root,
             "/debootstrap/debootstrap", "--second-stage"], stdout=subprocess.DEVNULL)
    else:
        run(["chroot", root, "/debootstrap/debootstrap", "--second-stage"],
            stdout=subprocess.DEVNULL)
    print(f"debootstrap: {time.monotonic() - t0:.0f} s", flush=True)
    configure_root(root, a)
    kernels = sorted(glob.glob(os.path.join(root, a.kernel_glob)))
    initrds = sorted(glob.glob(os.path.join(root, a.initrd_glob)))
    if not kernels or not initrds:
        raise BuildError(f"no kernel ({a.kernel_glob}) or initrd ({a.initrd_glob}) in the root")
    if a.kernel_format == "pvh-vmlinux":
        extract_vmlinux(kernels[-1], os.path.join(work, "kernel"))
    else:
        shutil.copy(kernels[-1], os.path.join(work, "kernel"))
    shutil.copy(initrds[-1], os.path.join(work, "initrd"))
    t1 = time.monotonic()
    run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", root, os.path.join(work, "root.ext4"),
         IMAGE_SIZE])
    print(f"mkfs.ext4: {time.monotonic() - t1:.0f} s", flush=True)
    shutil.rmtree(root)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.rename(work, out)


def ensure(arch_name):
    """The directory of the cached image for ARCH (kernel, initrd, root.ext4), built if
    missing. Concurrent callers wait for one build."""
    a = archtab.get(arch_name)
    out = image_dir(a)
    os.makedirs(cache_root(), exist_ok=True)
    with open(os.path.join(cache_root(), f".{a.name}.lock"), "w") as lock:
        if os.path.exists(os.path.join(out, "root.ext4")):
            os.utime(out)  # when it was last used, for prune()
            try:
                # Pruning only when no build holds the lock; the image is there anyway.
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return out
            prune(a, out)
            return out
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(out, "root.ext4")):
            t0 = time.monotonic()
            print(f"building the {a.name} guest image in {out} (cached for later runs)", flush=True)
            build(a, out)
            print(f"guest image built in {time.monotonic() - t0:.0f} s", flush=True)
        os.utime(out)
        prune(a, out)
    return out


def stale_images(current, cached):
    """The cached entries to delete, from (last used, directory, complete) triples: every
    incomplete one (an interrupted build) and every complete one but `current` and the
    most recently used other."""
    others = sorted((t, d) for t, d, complete in cached if complete and d != current)
    keep = {current} | {d for _, d in others[-1:]}
    return sorted(d for _, d, _ in cached if d not in keep)


def prune(a, current):
    """Deletes the stale cache entries of architecture A (called under A's build lock)."""
    cached = [(os.stat(d).st_mtime, d, os.path.exists(os.path.join(d, "root.ext4")))
              for d in glob.glob(os.path.join(cache_root(), f"{a.name}-*")) if os.path.isdir(d)]
    for d in stale_images(current, cached):
        print(f"removing the stale guest image {d}", file=sys.stderr, flush=True)
        shutil.rmtree(d, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default=os.environ.get("ARCH") or archtab.host_arch())
    args = p.parse_args()
    try:
        print(ensure(args.arch))
    except BuildError as e:
        print(f"image build failed: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
