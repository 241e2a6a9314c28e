"""DNS-SD in the lab: two hosts inside the guest (network namespaces and a veth pair, each with
its own dbus-daemon and avahi-daemon), an agent announcing two simulated cables on one and
`xvc-agent browse --json` on the other (tests/lab/dnssd-scenario.sh does the guest side).
avahi-daemon runs only here, in the guest."""

import os
import re
import time
import subprocess

import guestlib as g
from conftest import ROOT, figure

SCENARIO = os.path.join(ROOT, "tests", "lab", "dnssd-scenario.sh")


def test_browse_finds_the_cables_of_another_host(vm):
    agent = os.environ.get("XVC_AGENT", os.path.join(ROOT, "target", "release", "xvc-agent"))
    stripped = os.path.join(ROOT, "target", "vm-test", "xvc-agent-dnssd")
    subprocess.run(["strip", "--strip-unneeded", "-o", stripped, agent], check=True)
    # /run is mounted noexec in the guest: the binary and the script go to /root.
    with open(stripped, "rb") as f:
        vm.put("/root/xvc-agent-dnssd", f.read(), 0o755)
    with open(SCENARIO, "rb") as f:
        vm.put("/root/dnssd-scenario.sh", f.read(), 0o755)
    rc, out, err = vm.run(["/bin/sh", "/root/dnssd-scenario.sh", "/root/xvc-agent-dnssd"],
                          check=False, timeout=240)
    print(out)
    assert rc == 0, out + err
    for m in re.finditer(r"figure: (.*): (\d+) ms", out):
        figure(m.group(1), int(m.group(2)) / 1000.0, "s")


def test_the_installed_service_advertises_through_the_system_avahi(vm):
    """The packaged, hardened unit reaches avahi-daemon over the real system bus: started
    after the agent, avahi-daemon gets the plugged cable's announcement (advertise: auto)."""
    g.ensure_installed(vm)
    rc, out, _ = vm.run("systemctl is-active xvc-agent", check=False)
    assert rc == 0, f"the installed service is running: {out}"
    cable = vm.cables[0]
    vm.plug(cable)
    try:
        vm.sh("systemctl start avahi-daemon")
        t0 = time.monotonic()
        deadline = t0 + 30
        seen = ""
        while time.monotonic() < deadline:
            _, seen, _ = vm.run("avahi-browse -rtpk _xvc._tcp", check=False, timeout=30)
            if any(line.startswith("=") and f"serial={cable.serial}" in line
                   for line in seen.splitlines()):
                break
        else:
            journal = vm.sh("journalctl -u xvc-agent --no-pager -n 30")
            raise AssertionError(f"not announced within 30 s:\n{seen}\n{journal}")
        figure("avahi-daemon started -> plugged cable resolvable (installed unit)",
               time.monotonic() - t0, "s")
        line = next(l for l in seen.splitlines() if l.startswith("=") and cable.serial in l)
        print(f"\n  {line}")
        assert ";2542;" in line or ";254" in line, line
        assert "chain=xc7a35t" in line, line
        assert "DNS-SD: advertising" in vm.sh("journalctl -u xvc-agent --no-pager")
    finally:
        vm.run("systemctl stop avahi-daemon avahi-daemon.socket", check=False)
        vm.unplug(cable)
