"""Guest-side queries the scenarios share: the agent's status, the journal, interface
drivers and serial ports, installing the package."""

import json
import os
import time

from machine import VmError


def status(vm, user=None):
    rc, out, err = vm.run("xvc-agent status --json", check=False, user=user)
    if rc != 0:
        raise VmError(f"xvc-agent status failed ({rc}): {err}")
    return json.loads(out)


def cable(vm, serial):
    for c in status(vm)["cables"]:
        if c.get("serial") == serial:
            return c
    return None


def journal(vm, args, since=None):
    """Journal entries (dicts) of this boot matching `args` (journalctl arguments, e.g.
    '-u xvc-agent'), logged at or after guest uptime `since` (seconds) if given."""
    rc, out, err = vm.run(f"journalctl -b --no-pager -o json {args}", check=False)
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    if since is not None:
        entries = [e for e in entries if mono(e) >= since]
    return entries


def now(vm):
    """The guest's uptime (its monotonic clock, as the journal stamps entries)."""
    return vm.request({"op": "ping"})["uptime"]


def wait_journal(vm, args, predicate, timeout=30, since=None, what="journal entry"):
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in journal(vm, args, since) if predicate(e)]
        if found:
            return found
        if time.monotonic() > deadline:
            raise VmError(f"no {what} in the guest's journal within {timeout} s")
        time.sleep(0.3)


def mono(e):
    """An entry's monotonic timestamp in seconds."""
    return int(e["__MONOTONIC_TIMESTAMP"]) / 1e6


def main_pid(vm):
    return int(vm.sh("systemctl show -p MainPID --value xvc-agent").strip())


def ensure_installed(vm):
    """Installs the package under test unless test_10 already did (so that a scenario also
    runs on its own, `run.sh -k NAME`)."""
    if vm.run("dpkg-query -W -f='${Status}' xvc-agent", check=False)[1] == "install ok installed":
        return
    name = "/root/" + os.path.basename(vm.deb)
    vm.put(name, open(vm.deb, "rb").read())
    vm.run(f"apt-get install -y {name}", timeout=180)


def driver(vm, usb_path, interface):
    """The kernel driver bound to interface `interface` of the device at `usb_path`."""
    return vm.sh(f"basename $(readlink /sys/bus/usb/devices/{usb_path}:1.{interface}/driver)"
                 ).strip()


def tty_of(vm, usb_path, interface, timeout=30):
    """The /dev/ttyUSB* node ftdi_sio made for that interface (waiting for it to appear)."""
    d = f"/sys/bus/usb/devices/{usb_path}:1.{interface}"
    deadline = time.monotonic() + timeout
    while True:
        rc, out, _ = vm.run(f"ls -d {d}/ttyUSB* 2>/dev/null", check=False)
        names = [os.path.basename(n) for n in out.split()]
        if names and vm.run(f"test -c /dev/{names[0]}", check=False)[0] == 0:
            return f"/dev/{names[0]}"
        if time.monotonic() > deadline:
            raise VmError(f"no ttyUSB for {d} within {timeout} s")
        time.sleep(0.3)


# Runs in the guest: opens a tty raw (no echo, which would loop the bytes back forever),
# writes argv[2] (hex), and prints in hex what came back before a deadline.
_ROUNDTRIP = r"""
import os, select, sys, termios, time, tty
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
termios.tcflush(fd, termios.TCIOFLUSH)
data = bytes.fromhex(sys.argv[2])
os.write(fd, data)
got, deadline = b"", time.monotonic() + 10
while len(got) < len(data) and time.monotonic() < deadline:
    if select.select([fd], [], [], 0.2)[0]:
        got += os.read(fd, 4096)
print(got.hex())
"""


def tty_roundtrip(vm, dev, data):
    """Writes `data` to the guest's tty `dev`; the bytes read back within 10 s."""
    rc, out, err = vm.run(["python3", "-c", _ROUNDTRIP, dev, data.hex()], check=False)
    if rc != 0:
        raise VmError(f"tty round trip on {dev} failed ({rc}): {err}")
    return bytes.fromhex(out.strip())
