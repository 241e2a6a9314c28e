"""The agent under real systemd: reload, a broken configuration on reload and at start, the
watchdog, a crash, and a stop with a client shifting."""

import threading
import time

import guestlib as g
from conftest import SERIALS, figure
from machine import wait_for
from facts import XC7A35T_IDCODE
from xvc import connect_idcode

RELOADED = "f8584acc2add4554b61f31ab54a30f44"
CONFIG = "/etc/xvc-agent/config.yaml"
BROKEN = "ports: [2542\ncables: {\n"


def props(vm, *names):
    out = vm.sh("systemctl show xvc-agent " + " ".join(f"-p {n}" for n in names))
    return dict(line.split("=", 1) for line in out.splitlines())


def same_ports_served(vm):
    cables = [vm.served[s] for s in SERIALS]
    ports = {c.name: c.wait_served()["port"] for c in cables}
    assert ports == vm.ports, (ports, vm.ports)
    assert cables[0].idcode() == XC7A35T_IDCODE


def test_reload_keeps_an_active_session(vm):
    pid = g.main_pid(vm)
    c, code = connect_idcode(vm.host_port(vm.ports[SERIALS[0]]))
    t = g.now(vm)
    vm.sh("systemctl reload xvc-agent")
    g.wait_journal(vm, f"-u xvc-agent MESSAGE_ID={RELOADED}", lambda e: True, since=t,
                   what="configuration reloaded")
    assert c.idcode() == XC7A35T_IDCODE, "the session did not survive the reload"
    c.close()
    assert g.main_pid(vm) == pid


def test_broken_file_on_reload_keeps_serving(vm):
    vm.sh(f"cp {CONFIG} /root/config.good")
    vm.put(CONFIG, BROKEN)
    try:
        t = g.now(vm)
        vm.sh("systemctl reload xvc-agent")
        errors = g.wait_journal(vm, "-u xvc-agent -p err", lambda e: True, since=t,
                                what="an error about the broken file")
        print(f"\n  logged: {errors[0]['MESSAGE'][:200]}")
        assert props(vm, "ActiveState")["ActiveState"] == "active"
        same_ports_served(vm)
    except BaseException:
        vm.sh(f"cp /root/config.good {CONFIG}")
        raise


def test_broken_file_at_start_fails_with_78_and_no_restart_loop(vm):
    vm.put(CONFIG, BROKEN)
    try:
        t = g.now(vm)
        rc, _, _ = vm.run("systemctl restart xvc-agent", check=False)
        assert rc != 0, "the service started with a broken configuration"
        lines = g.wait_journal(vm, "-u xvc-agent",
                               lambda e: "status=78" in e.get("MESSAGE", ""),
                               since=t, what="exit status 78")
        print(f"\n  systemd: {lines[0]['MESSAGE']}")
        # RestartSec=5s: if a restart were coming it would have come within 8 s.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            p = props(vm, "ActiveState", "NRestarts", "ExecMainStatus")
            assert p["ActiveState"] == "failed" and p["NRestarts"] == "0", p
            time.sleep(0.5)
        assert p["ExecMainStatus"] == "78", p
    finally:
        vm.sh(f"cp /root/config.good {CONFIG} && systemctl reset-failed xvc-agent && "
              "systemctl start xvc-agent")
    same_ports_served(vm)


def test_watchdog_restarts_a_stopped_agent_on_the_same_ports(vm):
    # A shorter watchdog and restart delay than shipped, so the test takes seconds, not a
    # minute; the mechanism is the shipped one.
    vm.sh("mkdir -p /run/systemd/system/xvc-agent.service.d && printf "
          "'[Service]\\nWatchdogSec=4s\\nRestartSec=1s\\n' "
          "> /run/systemd/system/xvc-agent.service.d/50-test.conf && systemctl daemon-reload "
          "&& systemctl restart xvc-agent")
    same_ports_served(vm)
    pid = g.main_pid(vm)
    t = g.now(vm)
    t0 = time.monotonic()
    vm.sh(f"kill -STOP {pid}")
    wait_for(lambda: g.main_pid(vm) not in (0, pid), 60, "a restarted agent")
    g.wait_journal(vm, "-u xvc-agent", lambda e: "atchdog" in e.get("MESSAGE", ""), since=t,
                   what="systemd's watchdog timeout")
    same_ports_served(vm)
    figure("kill -STOP -> served again after the watchdog restart (WatchdogSec=4s)",
           time.monotonic() - t0, "s")


def test_kill_9_restarts_on_the_same_ports(vm):
    pid = g.main_pid(vm)
    before = int(props(vm, "NRestarts")["NRestarts"])
    t0 = time.monotonic()
    vm.sh(f"kill -9 {pid}")
    wait_for(lambda: g.main_pid(vm) not in (0, pid), 60, "a restarted agent")
    same_ports_served(vm)
    figure("kill -9 -> served again (RestartSec=1s)", time.monotonic() - t0, "s")
    assert int(props(vm, "NRestarts")["NRestarts"]) == before + 1
    vm.sh("rm -f /run/systemd/system/xvc-agent.service.d/50-test.conf && systemctl daemon-reload")


def test_stop_with_a_client_shifting_ends_within_the_stop_timeout(vm):
    c, _ = connect_idcode(vm.host_port(vm.ports[SERIALS[0]]))
    stop = threading.Event()
    shifted = []

    def pump():
        try:
            while not stop.is_set():
                c.shift(8 * 4096, bytes(4096), bytes([0xA5]) * 4096)
                shifted.append(1)
        except (OSError, EOFError):
            pass

    th = threading.Thread(target=pump, daemon=True)
    th.start()
    wait_for(lambda: len(shifted) >= 3, 30, "the client shifting")
    t0 = time.monotonic()
    rc, out, err = vm.run("systemctl stop xvc-agent", check=False, timeout=60)
    elapsed = time.monotonic() - t0
    stop.set()
    th.join(10)
    c.close()
    assert rc == 0, err
    p = props(vm, "ActiveState", "Result")
    assert p["ActiveState"] == "inactive" and p["Result"] == "success", p
    figure("systemctl stop with a client shifting (TimeoutStopSec=30s)", elapsed, "s")
    vm.sh("systemctl start xvc-agent")
    same_ports_served(vm)
