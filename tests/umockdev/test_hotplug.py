"""Hotplug through the real libudev monitor and the real libusb, under umockdev."""

import harness


def test_coldplug_discovered(devices, agent_factory):
    dev = devices("210249A85F1B")
    dev.plug("1-2", 5)
    agent = agent_factory()
    agent.wait_log(r"210249A85F1B", timeout=10)
    print(agent.log())
    print(dev.handler.events)
