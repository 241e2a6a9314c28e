"""The XVC clients the conformance suite drives, each pinned to a version (versions.env), and
how each is run against a port on 127.0.0.1: openFPGALoader from Debian bookworm (on the
host), openFPGALoader from Debian trixie (in a cached trixie root, through chroot; the root
shares the host's network), and Espressif's OpenOCD build with `adapter driver xvc`.

A client that cannot be found or installed raises ClientMissing with the reason: the suite
fails on it, it never skips.
"""

import os
import re
import shutil
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


class ClientMissing(Exception):
    """A pinned client could not be installed or found; the message says why."""


def pinned_versions():
    """versions.env as a dict."""
    pins = {}
    with open(os.path.join(HERE, "versions.env")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, value = line.split("=", 1)
                pins[name] = value
    return pins


PINS = pinned_versions()


class Run:
    """A finished client run: exit status, combined output, wall time."""

    def __init__(self, label, argv, returncode, output, seconds):
        self.label = label
        self.argv = argv
        self.returncode = returncode
        self.output = output
        self.seconds = seconds

    @property
    def ok(self):
        return self.returncode == 0

    def describe(self):
        tail = "\n".join(self.output.splitlines()[-25:])
        return (f"{self.label}: `{' '.join(self.argv)}` exited {self.returncode} after "
                f"{self.seconds:.2f} s; output (last lines):\n{tail}")


def _run(label, argv, timeout):
    start = time.monotonic()
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        code, out = p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        # subprocess.run kills the child it started on a timeout.
        code, out = "timeout", e.stdout or b""
    return Run(label, argv, code, out.decode(errors="replace"), time.monotonic() - start)


class OpenFpgaLoader:
    """openFPGALoader's `-c xvc-client`, on the host or inside a Debian root.

    `pinned` is the version the suite expects, `version` the one installed (the label names
    it). `workdir` is where a test puts the files the client reads (host path); `inner(path)`
    is the same file as the client sees it. `reports_done`: after an SRAM load the client
    reads the IR capture and prints the DONE bit it found (0.13 does, 0.10 does not)."""

    def __init__(self, release, pinned, workdir, chroot=None, reports_done=False):
        self.release = release
        self.pinned = pinned
        self.chroot = chroot
        self.workdir = workdir
        self.reports_done = reports_done
        self.label = f"openFPGALoader (Debian {release})"
        self.version = self.reported_version()
        self.label = f"openFPGALoader {self.version} (Debian {release})"

    def inner(self, path):
        """A host path under the chroot as the client in it sees it."""
        if self.chroot is None:
            return path
        inside = os.path.relpath(path, self.chroot)
        assert not inside.startswith(".."), f"{path} is outside the root {self.chroot}"
        return "/" + inside

    def _argv(self, args):
        prefix = ["chroot", self.chroot] if self.chroot else []
        return prefix + ["openFPGALoader"] + args

    def run(self, port, args, timeout=120):
        argv = self._argv(["-c", "xvc-client", "--ip", "127.0.0.1", "--port", str(port)] + args)
        return _run(self.label, argv, timeout)

    def detect(self, port):
        return self.run(port, ["--detect"], timeout=60)

    def svf(self, port, path):
        return self.run(port, ["--file-type", "svf", self.inner(path)])

    def load(self, port, path):
        """SRAM load of a .bit file (the default: write to SRAM)."""
        return self.run(port, ["--file-type", "bit", self.inner(path)], timeout=300)

    def reported_version(self):
        """The version openFPGALoader reports of itself, or its Debian package's."""
        r = _run(self.label, self._argv(["--Version"]), 30)
        m = re.search(r"openFPGALoader v?(\d+\.\d+\.\d+)", r.output)
        if m:
            return m.group(1)
        # 0.10 has no --Version: its Debian package says which it is.
        prefix = ["chroot", self.chroot] if self.chroot else []
        r = _run(self.label, prefix + ["dpkg-query", "-W", "-f=${Version}", "openfpgaloader"], 30)
        m = re.match(r"(\d+\.\d+\.\d+)", r.output.strip())
        return m.group(1) if m else f"unknown ({r.output.strip()})"


def host_openfpgaloader(workdir):
    if shutil.which("openFPGALoader") is None:
        raise ClientMissing("openFPGALoader (Debian package openfpgaloader) is not installed: "
                            "run 'make deps'")
    return OpenFpgaLoader("bookworm", PINS["OPENFPGALOADER_BOOKWORM"], workdir)


def trixie_openfpgaloader(scratch):
    """openFPGALoader in a trixie root: the cached root tarball (built on first use by
    tests/distros/debian-root.sh, which needs root and debootstrap), unpacked under
    `scratch`."""
    if os.geteuid() != 0:
        raise ClientMissing("openFPGALoader from trixie runs in a chroot: the suite needs root")
    script = os.path.join(ROOT, "tests", "distros", "debian-root.sh")
    p = subprocess.run([script, "trixie", "openfpgaloader"], capture_output=True, text=True,
                       timeout=1800)
    if p.returncode != 0:
        raise ClientMissing(f"no trixie root with openfpgaloader: debian-root.sh exited "
                            f"{p.returncode}:\n{p.stderr}")
    tarball = p.stdout.strip().splitlines()[-1]
    root = os.path.join(scratch, "trixie-root")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    p = subprocess.run(["tar", "-C", root, "-xf", tarball], capture_output=True, text=True)
    if p.returncode != 0:
        raise ClientMissing(f"unpacking {tarball} failed: {p.stderr}")
    workdir = os.path.join(root, "tmp", "xvc-clients")
    os.makedirs(workdir)
    return OpenFpgaLoader("trixie", PINS["OPENFPGALOADER_TRIXIE"], workdir, chroot=root,
                          reports_done=True)


class OpenOcd:
    """OpenOCD with `adapter driver xvc`, the 7-series TAP and pld from cpld/xilinx-xc7.cfg."""

    def __init__(self, home, workdir):
        self.home = home
        self.binary = os.path.join(home, "openocd_esp32", "bin", "openocd")
        self.scripts = os.path.join(home, "openocd_esp32", "share", "openocd", "scripts")
        self.version = PINS["OPENOCD_ESP32"]
        self.workdir = workdir
        self.label = f"OpenOCD (openocd-esp32 {self.version})"

    def run(self, port, commands, timeout=120):
        """Connects to `port`, declares the xc7 TAP, runs `init` and then `commands` (Tcl,
        file names as host paths: OpenOCD runs on the host); exits non-zero when a command
        fails."""
        script = "\n".join([
            "adapter driver xvc",
            "xvc host 127.0.0.1",
            f"xvc port {port}",
            "transport select jtag",
            "adapter speed 10000",
            "source [find cpld/xilinx-xc7.cfg]",
            "gdb port disabled",
            "tcl port disabled",
            "telnet port disabled",
            "init",
            # Every command's failure ends OpenOCD with a non-zero status.
            "if {[catch {",
            *commands,
            "} err]} { echo \"conformance: FAILED: $err\"; shutdown error }",
            "shutdown",
        ])
        cfg = os.path.join(self.workdir, f"openocd-{port}-{time.monotonic_ns()}.cfg")
        with open(cfg, "w") as f:
            f.write(script + "\n")
        return _run(self.label, [self.binary, "-s", self.scripts, "-f", cfg], timeout)

    def reported_version(self):
        r = _run(self.label, [self.binary, "--version"], 30)
        m = re.search(r"Open On-Chip Debugger (\S+)", r.output)
        return m.group(1) if m else f"unknown ({r.output.strip()[:200]})"


def openocd(workdir):
    """The pinned OpenOCD, fetched into the cache by fetch-openocd.sh if it is not there."""
    p = subprocess.run([os.path.join(HERE, "fetch-openocd.sh")], capture_output=True,
                       text=True, timeout=600)
    if p.returncode != 0:
        raise ClientMissing(f"OpenOCD (openocd-esp32 {PINS['OPENOCD_ESP32']}) could not be "
                            f"installed: fetch-openocd.sh exited {p.returncode}:\n{p.stderr}")
    return OpenOcd(p.stdout.strip().splitlines()[-1], workdir)
