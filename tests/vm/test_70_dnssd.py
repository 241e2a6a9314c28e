"""DNS-SD in the lab: two hosts inside the guest (network namespaces and a veth pair, each with
its own dbus-daemon and avahi-daemon), an agent announcing two simulated cables on one and
`xvc-agent browse --json` on the other (tests/lab/dnssd-scenario.sh does the guest side).
avahi-daemon runs only here, in the guest."""

import os
import re
import subprocess

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
