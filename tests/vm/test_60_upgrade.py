"""Upgrade: installing a rebuilt package while a client holds a session. The package restarts
the service (README: Upgrade), which ends the session; the client sees its connection close
and reconnects to the same port, served by the new binary."""

import os

import guestlib as g
from conftest import SERIALS
from facts import XC7A35T_IDCODE


def test_upgrade_restarts_the_agent_and_ends_sessions(vm):
    deb = "/root/" + os.path.basename(vm.deb)
    # A rebuilt package: the same contents under a newer version.
    vm.sh(f"rm -rf /root/next && dpkg-deb -R {deb} /root/next && "
          "sed -i 's/^Version: .*/&+vm1/' /root/next/DEBIAN/control && "
          "dpkg-deb -b /root/next /root/next.deb >/dev/null")
    cables = [vm.served[s] for s in SERIALS]
    c = cables[0].session()
    assert c.idcode() == XC7A35T_IDCODE
    pid = g.main_pid(vm)
    rc, out, err = vm.run("apt-get install -y /root/next.deb", check=False, timeout=180)
    assert rc == 0, out + err
    assert c.sees_eof(timeout=20), "the session outlived the upgrade's restart"
    c.close()
    assert g.main_pid(vm) != pid
    assert "+vm1" in vm.sh("dpkg-query -W -f='${Version}' xvc-agent")
    ports = {c.name: c.wait_served()["port"] for c in cables}
    assert ports == vm.ports
    assert cables[0].idcode() == XC7A35T_IDCODE
