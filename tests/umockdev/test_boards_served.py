"""Every board of the agent's table, plugged in as the simulated board (its chip, EEPROM,
strings, one ftdi_sio interface per channel, its documented wiring) and met by the real agent
through libudev and libusb: the rows it serves are served on their JTAG channel (the IDCODE
through XVC), with every other interface left to its driver and nothing driven that the board
uses otherwise; the rows it must never drive are left closed."""

import pytest

from facts import NEVER_BOARDS, SERVED_BOARDS, XC7A35T_IDCODE
from ports import free_port_block
from served import listening

GENEROUS_S = 10.0

# The channel each board's documentation puts its JTAG on (Nexys Video and Genesys 2: B, their
# channel A is the DPTI FIFO); every other row uses A.
CHANNEL_B = {"nexys-video", "genesys2"}


def served_cable(agent, dev):
    return agent.served_cable(dev, timeout=GENEROUS_S)


def test_every_row_is_served_on_its_channel_and_leaves_the_other_interfaces_bound(
        devices, agent_factory):
    agent = agent_factory(ports=len(SERVED_BOARDS))
    plugged = []
    for i, name in enumerate(SERVED_BOARDS):
        dev = devices(f"SIMB{i:04d}", board=name)
        cable = served_cable(agent, dev)
        cable.plug(f"1-{i + 1}", 10 + i)
        cable.wait_served()
        assert cable.port == agent.base_port + i, (name, cable.port)
        plugged.append((name, dev, cable))

    for name, dev, cable in plugged:
        jtag = 1 if name in CHANNEL_B else 0
        c = cable.session()
        assert c.idcode() == XC7A35T_IDCODE, name
        # During the session: only the JTAG interface was taken from ftdi_sio.
        others = {i: "ftdi_sio" for i in range(dev.interfaces) if i != jtag}
        assert dev.drivers() == others, name
        c.close()
        assert dev.drivers() == others, name
        assert dev.faults() == [], name

        st = cable.entry()
        assert st["profile"] == name, st
        assert st["channel"] == "AB"[jtag], st
        assert st["device"], st  # the EEPROM's name for it
        if dev.interfaces > 1 and not name.startswith(("pynq", "minized")):
            assert st["identity"] == dev.serial + "AB"[jtag], st


@pytest.mark.parametrize("name", NEVER_BOARDS)
def test_an_instrument_is_never_driven(devices, agent_factory, name):
    agent = agent_factory()
    dev = devices("210321SIM001", board=name)
    cable = served_cable(agent, dev)
    cable.plug("1-2", 5)
    entry = cable.wait_entry(lambda e: e["state"] == "ignored", "identified")
    assert "never served" in entry["reason"], entry
    assert not listening(agent.base_port)
    assert dev.faults() == []
    assert dev.drivers() == {i: "ftdi_sio" for i in range(dev.interfaces)}
    assert all(ev[0] != "claim" for ev in dev.handler.events), dev.handler.events


def test_a_generic_ftdi_chip_waits_for_a_rule(devices, agent_factory):
    # A blank-EEPROM FT232H with FTDI's own strings: possibly a UART adapter.
    agent = agent_factory()
    dev = devices("FT9ZZ001", manufacturer="FTDI", product="FT232H")
    cable = served_cable(agent, dev)
    cable.plug("1-3", 6)
    entry = cable.wait_entry(lambda e: e["state"] == "ignored", "identified")
    assert 'add a rule { serial: "FT9ZZ001", profile: <profile> }' in entry["reason"], entry
    assert not listening(agent.base_port)
    assert dev.drivers() == {0: "ftdi_sio"}


def test_two_boards_with_one_fixed_serial_are_both_served_by_usb_path(devices, agent_factory):
    agent = agent_factory()
    a = served_cable(agent, devices("1234-tul", board="pynq-z2"))
    b = served_cable(agent, devices("1234-tul", board="pynq-z2"))
    a.plug("1-5", 7)
    b.plug("1-6", 8)
    for cable in (a, b):
        cable.wait_served()
        assert cable.idcode() == XC7A35T_IDCODE
    assert {a.port, b.port} == {agent.base_port, agent.base_port + 1}
    assert a.entry()["identity"] == "1-5"
    assert b.entry()["identity"] == "1-6"
    agent.wait_log(r'serial "1234-tul" is also carried by the device at 1-[56]')


def test_a_rule_naming_a_profile_serves_a_generic_chip(devices, agent_factory):
    port = free_port_block(1)
    rule = ("cables:\n  - name: bench\n    match: { serial: FT9ZZ002 }\n"
            f"    profile: hs2\n    port: {port}\n")
    agent = agent_factory(config_text=rule)
    cable = served_cable(agent, devices("FT9ZZ002", manufacturer="FTDI", product="FT232H"))
    cable.plug("1-4", 9)
    cable.wait_served()
    assert cable.port == port, "not served on the rule's port"
    assert cable.idcode() == XC7A35T_IDCODE
