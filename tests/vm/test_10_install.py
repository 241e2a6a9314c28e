"""Installing the .deb with apt in a real Debian: the service is enabled, active, has told
systemd it is ready, and its status line is set."""

import os

from conftest import figure


def test_install_with_apt_enables_and_starts_the_service(vm):
    vm.put("/root/" + os.path.basename(vm.deb), open(vm.deb, "rb").read())
    rc, out, err = vm.run(f"apt-get install -y /root/{os.path.basename(vm.deb)}",
                          check=False, timeout=180)
    assert rc == 0, out + err
    assert vm.sh("systemctl is-enabled xvc-agent").strip() == "enabled"
    # Type=notify: "active" only after READY=1.
    props = dict(line.split("=", 1) for line in vm.sh(
        "systemctl show xvc-agent -p ActiveState -p SubState -p StatusText -p Type "
        "-p NRestarts -p ExecMainPID").splitlines())
    assert props["Type"] == "notify"
    assert (props["ActiveState"], props["SubState"]) == ("active", "running"), props
    assert props["StatusText"], "the agent sent no STATUS= line"
    print(f"\n  StatusText: {props['StatusText']}")
    # Readiness as systemd recorded it: from the start job to READY=1.
    t = dict(line.split("=", 1) for line in vm.sh(
        "systemctl show xvc-agent -p ExecMainStartTimestampMonotonic "
        "-p ActiveEnterTimestampMonotonic").splitlines())
    ready = (int(t["ActiveEnterTimestampMonotonic"]) - int(t["ExecMainStartTimestampMonotonic"]))
    figure("agent start to READY=1 (systemd's timestamps)", ready / 1e6, "s")
    assert vm.sh("getent group xvc-agent").startswith("xvc-agent:")
    # udevd loaded the package's rules with the group already known (else GROUP= is
    # ignored and, the files being unchanged, stays ignored until a reboot).
    udevd = vm.sh("journalctl -b --no-pager -u systemd-udevd -o cat")
    assert "Unknown group" not in udevd, udevd
