"""Two emulated HS2 cables hot-plugged into the guest's kernel through usb-redir: ftdi_sio
binds first and the agent detaches it, each cable is served on its own port, host clients
reach them through the forwarded ports, a replug on another xHCI port keeps the TCP port,
and the udev rules give the node to the xvc-agent group."""

import os
import subprocess
import tempfile
import time

import guestlib as g
from conftest import SERIALS, figure
from facts import XC7A35T_IDCODE


def kernel_lines(vm, cursor, text):
    return [e for e in g.journal(vm, "-k", cursor) if text in e.get("MESSAGE", "")]


def agent_event(vm, cursor, message_id, serial):
    return g.wait_journal(
        vm, f"-u xvc-agent MESSAGE_ID={message_id} CABLE_SERIAL={serial}",
        lambda e: True, since=cursor, what=f"{message_id} for {serial}")[0]


SERVING = "544ad36a04d64aae8cba0df20efe7051"
ATTACHED = "84d05639231d4ea6b64180d8a227e642"
DETACHED = "e18b6574100c47e191ac26d161ab7a07"


def openfpgaloader(port, *args, timeout=300):
    r = subprocess.run(["openFPGALoader", "-c", "xvc-client", "--ip", "127.0.0.1",
                        "--port", str(port), *args], capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def test_two_cables_hotplugged_are_served_on_their_ports(vm):
    a, b = vm.cables
    # As on a host where a serial adapter was plugged in before: ftdi_sio is loaded, so it
    # binds each cable's interface at once and the agent has to detach it. (Without it,
    # the agent may claim the interface before udev has loaded the module.)
    vm.sh("modprobe ftdi_sio")
    c0 = g.now(vm)
    # The later scenarios use these cables (and their ports) too.
    vm.served = {c.serial: vm.served_cable(c) for c in (a, b)}
    t_add = {a.serial: vm.served[a.serial].plug(port=1),
             b.serial: vm.served[b.serial].plug(port=2)}
    for serial, cable in vm.served.items():
        cable.wait_served()
        figure(f"{serial}: device_add -> XVC port answering on the host",
               time.monotonic() - t_add[serial], "s")
    ports = {serial: cable.port for serial, cable in vm.served.items()}
    assert len(set(ports.values())) == 2, ports
    vm.ports = ports
    # ftdi_sio bound each cable first; the agent detached it from interface 0 only.
    assert len(kernel_lines(vm, c0, "now attached to ttyUSB")) == 2
    assert len(kernel_lines(vm, c0, "now disconnected from ttyUSB")) == 2
    for serial in SERIALS:
        path = g.cable(vm, serial)["usb_path"]
        driver = vm.sh(f"basename $(readlink /sys/bus/usb/devices/{path}:1.0/driver)").strip()
        assert driver == "usbfs", f"{serial}: interface driver is {driver}"
        # Latencies on the real kernel, from the guest's journal.
        new = [e for e in kernel_lines(vm, c0, "New USB device found")
               if e["MESSAGE"].startswith(f"usb {path}:")][0]
        attached = agent_event(vm, c0, ATTACHED, serial)
        serving = agent_event(vm, c0, SERVING, serial)
        assert serving["XVC_PORT"] == str(ports[serial])
        figure(f"{serial}: kernel new device -> port accepting (guest journal)",
               (g.mono(serving) - g.mono(new)) * 1000, "ms")
        figure(f"{serial}: udev event received -> port accepting (guest journal)",
               (g.mono(serving) - g.mono(attached)) * 1000, "ms")


def test_host_clients_read_the_idcode_detect_and_load(vm):
    a, b = (vm.served[s] for s in SERIALS)
    code = a.idcode()
    assert code == XC7A35T_IDCODE, hex(code)
    pa, pb = a.host_port, b.host_port
    rc, out = openfpgaloader(pa, "--detect")
    assert rc == 0 and "xc7a35" in out, out
    with tempfile.TemporaryDirectory() as d:
        img = os.path.join(d, "image.bin")
        with open(img, "wb") as f:
            f.write(bytes((i * 2654435761 >> 24) & 0xFF for i in range(2 << 20)))
        t = time.monotonic()
        rc, out = openfpgaloader(pb, "-m", "--file-type", "bin", img)
        elapsed = time.monotonic() - t
    assert rc == 0 and "Done" in out, out
    figure("openFPGALoader -m of a 2 MiB image through usb-redir (TCG)", elapsed, "s")


def test_cable_nodes_belong_to_the_xvc_agent_group(vm):
    for serial in SERIALS:
        path = g.cable(vm, serial)["usb_path"]
        node = vm.sh(f"d=/sys/bus/usb/devices/{path}; "
                     f"printf '/dev/bus/usb/%03d/%03d' $(cat $d/busnum) $(cat $d/devnum)")
        owner = vm.sh(f"stat -c '%U %G %a' {node}").split()
        assert owner == ["root", "xvc-agent", "660"], f"{node}: {owner}"


def test_unplug_closes_the_port_and_a_replug_elsewhere_keeps_it(vm):
    a, b = (vm.served[s] for s in SERIALS)
    port = vm.ports[b.name]
    path = b.entry()["usb_path"]
    c0 = g.now(vm)
    t = b.unplug()
    b.wait_closed(timeout=20)
    figure("device_del -> port closed, seen from the host", time.monotonic() - t, "s")
    gone = [e for e in kernel_lines(vm, c0, "USB disconnect")
            if e["MESSAGE"].startswith(f"usb {path}:")][0]
    detached = agent_event(vm, c0, DETACHED, b.name)
    figure("kernel disconnect -> port closed (guest journal)",
           (g.mono(detached) - g.mono(gone)) * 1000, "ms")
    # The other cable is untouched.
    assert a.idcode() == XC7A35T_IDCODE
    # Plugged into another root port: another USB path, the same TCP port (the lease).
    b.plug(port=3)
    new_path = b.wait_served()["usb_path"]
    assert new_path != path, new_path
    assert b.port == port, (b.port, port)
    assert b.idcode() == XC7A35T_IDCODE
