"""Purge: the service is gone and the cables' nodes get their default permissions back.
(Last: it removes the package.)"""

import guestlib as g
from machine import wait_for
from conftest import SERIALS


def test_purge_restores_default_node_permissions(vm):
    paths = [g.cable(vm, s)["usb_path"] for s in SERIALS]
    rc, out, err = vm.run("apt-get purge -y xvc-agent", check=False, timeout=180)
    assert rc == 0, out + err
    nodes = [vm.sh(f"d=/sys/bus/usb/devices/{path}; "
                   f"printf '/dev/bus/usb/%03d/%03d' $(cat $d/busnum) $(cat $d/devnum)")
             for path in paths]
    # postrm gave the nodes back to root at once: the group has no access any more.
    vm.sh("udevadm settle")
    for node in nodes:
        group, mode = vm.sh(f"stat -c '%G %a' {node}").split()
        assert group == "root", f"{node}: still group {group} after the purge"
        assert mode in ("660", "664"), f"{node}: mode {mode}"
    # The mode is the remaining rules' once udevd has re-read them: it does so at most every
    # 3 s, and `udevadm control --reload` right after the removal did not make it (seen
    # here), so a change event a little later is what a user's `udevadm trigger` is.
    def default_mode():
        vm.sh("udevadm trigger --subsystem-match=usb --action=change && udevadm settle")
        return all(vm.sh(f"stat -c '%G %a' {n}").split() == ["root", "664"] for n in nodes)
    wait_for(default_mode, 20, "Debian's default node permissions (root:root 0664)",
             interval=1)
    rc, _, _ = vm.run("systemctl cat xvc-agent", check=False)
    assert rc != 0, "the unit is still there after purge"
    assert vm.run("test -e /etc/xvc-agent", check=False)[0] != 0
