"""Purge: the service is gone and the cables' nodes get their default permissions back.
(Last: it removes the package.)"""

import guestlib as g
from conftest import SERIALS


def test_purge_restores_default_node_permissions(vm):
    paths = [g.cable(vm, s)["usb_path"] for s in SERIALS]
    rc, out, err = vm.run("apt-get purge -y xvc-agent", check=False, timeout=180)
    assert rc == 0, out + err
    vm.sh("udevadm trigger --subsystem-match=usb --action=change && udevadm settle")
    for path in paths:
        node = vm.sh(f"d=/sys/bus/usb/devices/{path}; "
                     f"printf '/dev/bus/usb/%03d/%03d' $(cat $d/busnum) $(cat $d/devnum)")
        owner = vm.sh(f"stat -c '%G %a' {node}").split()
        assert owner[0] == "root" and owner[1] != "660", f"{node}: {owner}"
    rc, _, _ = vm.run("systemctl cat xvc-agent", check=False)
    assert rc != 0, "the unit is still there after purge"
    assert vm.run("test -e /etc/xvc-agent", check=False)[0] != 0
