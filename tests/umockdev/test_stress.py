"""Flapping under umockdev: 100 plug/unplug cycles of an emulated HS2 through the real libudev
monitor and libusb (XVC_STRESS_UMOCKDEV_CYCLES for more), a client reading the IDCODE in each,
every tenth unplugged under an open session. The agent's descriptors, threads and RSS are read
from /proc/PID before and after: they come back to where they were."""

import os
import time

from facts import XC7A35T_IDCODE
from wait import poll

GENEROUS_S = 5.0
# Allocator slack: freed memory stays in the allocator's arenas; a leak per cycle would
# exceed it over the long run (make stress).
RSS_SLACK_KIB = 4 * 1024


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_plug_cycles_leave_nothing_behind(devices, agent_factory):
    cycles = int(os.environ.get("XVC_STRESS_UMOCKDEV_CYCLES", "100"))
    agent = agent_factory()
    dev = devices("210249A85F1B")
    cable = agent.served_cable(dev, timeout=GENEROUS_S)
    pid = agent.proc.pid

    def cycle(i, hold):
        cable.plug("1-2", 10 + i % 100)
        cable.wait_served()
        assert cable.port == agent.base_port
        c = cable.session()
        assert c.idcode() == XC7A35T_IDCODE
        if not hold:
            c.close()
        # The unplug in its two halves: the port closes on the event, with the device's
        # sysfs entry still there.
        dev.unplug_event()
        cable.wait_closed()
        dev.finish_unplug()
        if hold:
            assert c.sees_eof(timeout=GENEROUS_S), "a session outlived its cable"
            c.close()

    # Warm-up: libusb's context, the runtime's blocking pool and the allocator settle.
    for i in range(3):
        cycle(i, hold=False)
    fds0, threads0 = agent.resources()
    rss0 = rss_kib(pid)
    started = time.monotonic()
    for i in range(cycles):
        cycle(i, hold=(i % 10 == 0))
    took = time.monotonic() - started
    # Session threads end after their client's EOF; idle blocking-pool threads after a while.
    poll(lambda: agent.resources()[0] <= fds0, GENEROUS_S,
               what=f"the agent back to its {fds0} descriptors")
    poll(lambda: agent.resources()[1] <= threads0, 15.0,
               what=f"the agent back to its {threads0} threads")
    fds, threads = agent.resources()
    rss = rss_kib(pid)
    print(f"\numockdev flapping: {cycles} cycles in {took:.1f} s ({took / cycles * 1000:.0f} ms per cycle)")
    print(f"  before: {fds0} fds, {threads0} threads, RSS {rss0 / 1024:.1f} MiB")
    print(f"  after:  {fds} fds, {threads} threads, RSS {rss / 1024:.1f} MiB ({rss - rss0:+d} KiB)")
    assert fds <= fds0 and threads <= threads0
    assert rss <= rss0 + RSS_SLACK_KIB, f"RSS grew from {rss0} to {rss} KiB"
    # Still serving after all that.
    cable.plug("1-2", 5)
    cable.wait_served()
    assert cable.idcode() == XC7A35T_IDCODE
    assert agent.alive()
