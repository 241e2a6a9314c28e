"""Access to the control socket under the shipped hardened unit: root and a person whose
supplementary group is xvc-agent can run `xvc-agent status`; a person outside it cannot."""

import re

import guestlib as g


def test_status_for_root_group_members_and_not_others(vm):
    vm.sh("id alice >/dev/null 2>&1 || useradd -m -G xvc-agent alice; "
          "id bob >/dev/null 2>&1 || useradd -m bob")
    assert "xvc-agent" in vm.sh("id -Gn alice").split()
    assert "xvc-agent" != vm.sh("id -gn alice").strip()  # supplementary, not primary
    assert g.status(vm)["cables"], "root: no cables in status"
    rc, out, err = vm.run("xvc-agent status --json", check=False, user="alice")
    assert rc == 0, f"alice (supplementary group xvc-agent) refused: {rc} {err}"
    assert '"cables"' in out
    rc, out, err = vm.run("xvc-agent status --json", check=False, user="bob")
    assert rc != 0, f"bob (not in the group) was answered: {out}"
    assert "permission denied" in err.lower() and "not running" not in err, err
    print(f"\n  bob: exit {rc}: {err.strip()}")


def test_hardened_unit_exposure(vm):
    out = vm.sh("systemd-analyze security --no-pager xvc-agent.service")
    m = re.search(r"Overall exposure level for xvc-agent.service: ([0-9.]+)", out)
    assert m, out[-500:]
    print(f"\n  exposure (systemd-analyze security, in the guest): {m.group(1)}")
    assert float(m.group(1)) <= 2.0
