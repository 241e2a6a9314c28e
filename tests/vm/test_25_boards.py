"""Simulated boards hot-plugged into the guest's kernel through usb-redir, every channel of
their FTDI chip an interface: the agent reads the EEPROM, serves the JTAG channel only and
leaves the others to ftdi_sio. An Arty (FT2232H: JTAG on A, UART on B) and a ZCU104
(FT4232H: JTAG on A, UARTs on B, C, D) keep working serial ports before, during and after an
XVC session; a Nexys Video is served on channel B and its channel A (the DPTI FIFO) is never
touched, as the emulator's fault list shows."""

import re

import pytest

import guestlib as g
from conftest import figure
from facts import XC7A35T_IDCODE
from machine import Cable

SERVING = "544ad36a04d64aae8cba0df20efe7051"
IDENTIFIED = "a3060728cc7c4df6b3057fb87ebf896e"

# board row -> USB serial
BOARDS = {"arty": "SIMARTY00001", "zcu104": "SIMZCU000001", "nexys-video": "SIMNEXV00001"}
# A board's EEPROM read and its channels' ttys come on top of a cable's time to be served.
SERVE_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def boards(vm):
    made = {}
    try:
        for board, serial in BOARDS.items():
            made[board] = Cable(vm.agent, vm.workdir, serial, board=board)
        yield made
    finally:
        for c in made.values():
            c.stop()


def agent_event(vm, since, message_id, usb_path):
    return g.wait_journal(
        vm, f"-u xvc-agent MESSAGE_ID={message_id} CABLE_PATH={usb_path}",
        lambda e: True, since=since, what=f"{message_id} for {usb_path}")[-1]


def report_figures(vm, board, since, usb_path):
    """Kernel "New USB device found" -> serving, and the EEPROM read the agent logged."""
    new = [e for e in g.journal(vm, "-k", since)
           if e.get("MESSAGE", "").startswith(f"usb {usb_path}: New USB device found")][-1]
    serving = agent_event(vm, since, SERVING, usb_path)
    figure(f"{board}: kernel new device -> port accepting (guest journal)",
           (g.mono(serving) - g.mono(new)) * 1000, "ms")
    identified = agent_event(vm, since, IDENTIFIED, usb_path)["MESSAGE"]
    took = re.search(r"identified \(EEPROM read in ([0-9.]+) ms\)", identified)
    assert took, identified
    figure(f"{board}: EEPROM read at attach (agent's log)", float(took.group(1)), "ms")


def plug_and_serve(vm, cable):
    """Plugs the board in and waits until it is served; (guest time before the plug, the
    ServedCable, its status entry)."""
    since = g.now(vm)
    served = vm.served_cable(cable, timeout=SERVE_TIMEOUT_S)
    served.plug()
    return since, served, served.wait_served()


def unplug_and_close(served):
    served.unplug()
    served.wait_closed(timeout=20)


def assert_loops_back(vm, ttys, when):
    for i, tty in enumerate(ttys):
        data = f"{when} {tty} {i} \x00\xff\r\n".encode("latin-1")
        got = g.tty_roundtrip(vm, tty, data)
        assert got == data, f"{tty} {when}: wrote {data!r}, read back {got!r}"


def test_arty_and_zcu104_serve_jtag_and_keep_their_uarts(vm, boards):
    g.ensure_installed(vm)
    vm.sh("modprobe ftdi_sio")  # as on a host with serial adapters: it binds every channel
    served = {}
    for board, uarts in [("arty", [1]), ("zcu104", [1, 2, 3])]:
        cable = boards[board]
        since, served[board], c = plug_and_serve(vm, cable)
        assert (c["identity"], c["profile"], c["channel"]) == (cable.serial + "A", board, "A"), c
        path = c["usb_path"]
        assert g.driver(vm, path, 0) == "usbfs"
        ttys = [g.tty_of(vm, path, n) for n in uarts]
        assert [g.driver(vm, path, n) for n in uarts] == ["ftdi_sio"] * len(uarts)
        report_figures(vm, board, since, path)

        assert_loops_back(vm, ttys, "before")
        client = served[board].session()
        try:
            code = client.idcode()
            assert code == XC7A35T_IDCODE, hex(code)
            assert_loops_back(vm, ttys, "during")
            assert client.idcode() == XC7A35T_IDCODE
        finally:
            client.close()
        assert_loops_back(vm, ttys, "after")
        drivers = [g.driver(vm, path, n) for n in [0, *uarts]]
        assert drivers == ["usbfs"] + ["ftdi_sio"] * len(uarts), drivers
        assert cable.faults() == [], f"{board}: {cable.faults()}"
    for board in ("arty", "zcu104"):
        cable = boards[board]
        unplug_and_close(served[board])
        assert cable.faults() == [], f"{board}: {cable.faults()}"


def test_nexys_video_is_served_on_channel_b_and_its_fifo_left_alone(vm, boards):
    g.ensure_installed(vm)
    vm.sh("modprobe ftdi_sio")
    cable = boards["nexys-video"]
    since, served, c = plug_and_serve(vm, cable)
    want = (cable.serial + "B", "nexys-video", "B")
    assert (c["identity"], c["profile"], c["channel"]) == want, c
    path = c["usb_path"]
    assert (g.driver(vm, path, 0), g.driver(vm, path, 1)) == ("ftdi_sio", "usbfs")
    report_figures(vm, "nexys-video", since, path)
    code = served.idcode()
    assert code == XC7A35T_IDCODE, hex(code)
    assert cable.faults() == []
    unplug_and_close(served)
    assert cable.faults() == []
