"""Every board of the agent's table, plugged in as the simulated board (its chip, EEPROM,
strings, one ftdi_sio interface per channel, its documented wiring) and met by the real agent
through libudev and libusb: the rows it serves are served on their JTAG channel (the IDCODE
through XVC), with every other interface left to its driver and nothing driven that the board
uses otherwise; the rows it must never drive are left closed."""

import json
import subprocess

import pytest

import harness
from facts import NEVER_BOARDS, SERVED_BOARDS, XC7A35T_IDCODE
from harness import listening
from wait import poll
from ports import free_port_block
from xvc import connect_when_free

GENEROUS_S = 10.0

# The channel each board's documentation puts its JTAG on (Nexys Video and Genesys 2: B, their
# channel A is the DPTI FIFO); every other row uses A.
CHANNEL_B = {"nexys-video", "genesys2"}


def status(agent):
    out = subprocess.run(
        [harness.AGENT, "status", "--json", "--socket", agent.control],
        capture_output=True, text=True, timeout=20, check=True)
    return json.loads(out.stdout)


def cable(agent, usb_path):
    found = [c for c in status(agent)["cables"] if c["usb_path"] == usb_path]
    return found[0] if found else None


def test_every_row_is_served_on_its_channel_and_leaves_the_other_interfaces_bound(
        devices, agent_factory):
    agent = agent_factory(ports=len(SERVED_BOARDS))
    plugged = []
    for i, name in enumerate(SERVED_BOARDS):
        dev = devices(f"SIMB{i:04d}", board=name)
        dev.plug(f"1-{i + 1}", 10 + i)
        port = agent.base_port + i
        poll(lambda: listening(port), GENEROUS_S, what=f"{name} served on {port}")
        plugged.append((name, dev, port))

    for name, dev, port in plugged:
        jtag = 1 if name in CHANNEL_B else 0
        c = connect_when_free(port)
        assert c.idcode() == XC7A35T_IDCODE, name
        # During the session: only the JTAG interface was taken from ftdi_sio.
        others = {i: "ftdi_sio" for i in range(dev.interfaces) if i != jtag}
        assert dev.drivers() == others, name
        c.close()
        assert dev.drivers() == others, name
        assert dev.faults() == [], name

        st = cable(agent, dev.usb_path)
        assert st["profile"] == name, st
        assert st["channel"] == "AB"[jtag], st
        assert st["device"], st  # the EEPROM's name for it
        if dev.interfaces > 1 and not name.startswith(("pynq", "minized")):
            assert st["identity"] == dev.serial + "AB"[jtag], st


@pytest.mark.parametrize("name", NEVER_BOARDS)
def test_an_instrument_is_never_driven(devices, agent_factory, name):
    agent = agent_factory()
    dev = devices("210321SIM001", board=name)
    dev.plug("1-2", 5)
    poll(lambda: (cable(agent, "1-2") or {}).get("state") == "ignored",
         GENEROUS_S, what="the instrument identified")
    entry = cable(agent, "1-2")
    assert "never served" in entry["reason"], entry
    assert not listening(agent.base_port)
    assert dev.faults() == []
    assert dev.drivers() == {i: "ftdi_sio" for i in range(dev.interfaces)}
    assert all(ev[0] != "claim" for ev in dev.handler.events), dev.handler.events


def test_a_generic_ftdi_chip_waits_for_a_rule(devices, agent_factory):
    # A blank-EEPROM FT232H with FTDI's own strings: possibly a UART adapter.
    agent = agent_factory()
    dev = devices("FT9ZZ001", manufacturer="FTDI", product="FT232H")
    dev.plug("1-3", 6)
    poll(lambda: (cable(agent, "1-3") or {}).get("state") == "ignored",
               GENEROUS_S, what="the generic chip identified")
    entry = cable(agent, "1-3")
    assert 'add a rule { serial: "FT9ZZ001", profile: <profile> }' in entry["reason"], entry
    assert not listening(agent.base_port)
    assert dev.drivers() == {0: "ftdi_sio"}


def test_two_boards_with_one_fixed_serial_are_both_served_by_usb_path(devices, agent_factory):
    agent = agent_factory()
    a = devices("1234-tul", board="pynq-z2")
    b = devices("1234-tul", board="pynq-z2")
    a.plug("1-5", 7)
    b.plug("1-6", 8)
    for port in (agent.base_port, agent.base_port + 1):
        poll(lambda: listening(port), GENEROUS_S, what=f"port {port}")
        c = connect_when_free(port)
        assert c.idcode() == XC7A35T_IDCODE
        c.close()
    assert cable(agent, "1-5")["identity"] == "1-5"
    assert cable(agent, "1-6")["identity"] == "1-6"
    agent.wait_log(r'serial "1234-tul" is also carried by the device at 1-[56]')


def test_a_rule_naming_a_profile_serves_a_generic_chip(devices, agent_factory):
    port = free_port_block(1)
    rule = ("cables:\n  - name: bench\n    match: { serial: FT9ZZ002 }\n"
            f"    profile: hs2\n    port: {port}\n")
    agent_factory(config_text=rule)
    dev = devices("FT9ZZ002", manufacturer="FTDI", product="FT232H")
    dev.plug("1-4", 9)
    poll(lambda: listening(port), GENEROUS_S, what="the rule's port")
    c = connect_when_free(port)
    assert c.idcode() == XC7A35T_IDCODE
    c.close()
