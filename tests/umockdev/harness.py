"""Test harness: a umockdev testbed with mocked USB devices and the agent under test as a
subprocess. (The XVC client the tests use is tests/kit/xvc.py; a device as a cable the agent
serves, `Agent.served_cable`, is tests/kit/served.py.)

The harness process itself runs under `umockdev-wrapper`, so the testbed it creates is what
the agent (started with the same preload library and an explicit `UMOCKDEV_DIR`) sees as
/sys and /dev, and the uevents it sends reach the agent's real libudev monitor.
"""

import json
import os
import re
import struct
import subprocess
import time

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

import usbdevfs  # noqa: E402
from facts import HS2_MANUFACTURER, HS2_PID, HS2_PRODUCT, HS2_VID  # noqa: E402
from process import stop_agent  # noqa: E402
from served import ServedCable, listening  # noqa: E402
from wait import poll  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AGENT = os.environ.get("XVC_AGENT", os.path.join(ROOT, "target", "debug", "xvc-agent"))
# How long a plugged cable may take to be served, or an unplugged one's port to close, before
# a test fails (a loaded CI host and a debug build included).
SERVE_TIMEOUT_S = 5.0


def ftdi_descriptors(vid, pid, bcd, interfaces):
    """Device and configuration descriptors as an FTDI chip reports them: configuration 1
    with one vendor-specific interface per channel, channel i with bulk endpoints 0x81 + 2i
    (IN) and 0x02 + 2i (OUT) of 512 bytes."""
    device = bytes([0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40])  # USB 2.0, EP0 64
    device += struct.pack("<HHH", vid, pid, bcd)
    device += bytes([0x01, 0x02, 0x03, 0x01])  # strings 1, 2, 3; one configuration
    total = 9 + interfaces * (9 + 2 * 7)
    config = struct.pack("<BBHBBBBB", 0x09, 0x02, total, interfaces, 0x01, 0x00, 0x80, 0x2D)
    for i in range(interfaces):
        config += bytes([0x09, 0x04, i, 0x00, 0x02, 0xFF, 0xFF, 0xFF, 0x02])
        config += bytes([0x07, 0x05, 0x81 + 2 * i, 0x02, 0x00, 0x02, 0x00])
        config += bytes([0x07, 0x05, 0x02 + 2 * i, 0x02, 0x00, 0x02, 0x00])
    return device + config


# The HS2's FT232H (bcdDevice 9.00, one interface).
FT232H_DESCRIPTORS = ftdi_descriptors(HS2_VID, HS2_PID, 0x0900, 1)

_testbed = None


def testbed():
    """The one testbed of this process (umockdev supports one per process)."""
    global _testbed
    if _testbed is None:
        _testbed = UMockdev.Testbed.new()
    return _testbed


class UsbDevice:
    """A mocked USB device that can be plugged into a port, unplugged and plugged again.

    With `emulate=True` the device node is backed by the FT232H emulator (an xc7a35t on its
    JTAG chain) through `xvc-agent sim-usb-device`. With `board` (a row of the agent's board
    table, e.g. "arty", "nexys-video", "zcu104") it is that board instead: its chip, EEPROM,
    USB strings and wiring, one interface per channel; the identity comes from the emulator.
    Without it: today's HS2 (the plain FT232H emulator, blank EEPROM).
    """

    def __init__(self, serial, vid=HS2_VID, pid=HS2_PID, manufacturer=HS2_MANUFACTURER,
                 product=HS2_PRODUCT, emulate=True, bus=1, board=None):
        self.board = board
        self.bcd = 0x0900
        self.interfaces = 1
        self.serial = serial
        self.vid = vid
        self.pid = pid
        self.manufacturer = manufacturer
        self.product = product
        self.emulate = emulate
        self.bus = bus
        self.usb_path = None
        self.devnum = None
        self.syspath = None
        self.handler = None
        self.pipe = None
        self.handlers = []  # every handler this device had (one per plug), for inspection
        self.plugged_at = None
        self.unplugged_at = None

    def faults(self):
        """What the emulated board recorded as harmful to it (strings; [] = none)."""
        return self.pipe.faults() if self.pipe is not None else []

    def drivers(self):
        """Kernel driver per interface number now (missing: none bound)."""
        return dict(self.handler.drivers)

    def _interface_paths(self):
        return [f"{self.usb_path}:1.{i}" for i in range(self.interfaces)]

    @property
    def devnode(self):
        return f"/dev/bus/usb/{self.bus:03d}/{self.devnum:03d}"

    def _description(self):
        hexdesc = ftdi_descriptors(self.vid, self.pid, self.bcd, self.interfaces).hex().upper()
        bcd = f"{self.bcd:04x}"
        devname = f"bus/usb/{self.bus:03d}/{self.devnum:03d}"
        dev = f"/devices/pci0000:00/0000:00:14.0/usb{self.bus}/{self.usb_path}"
        model = self.product.replace(" ", "_")
        props = {
            "SUBSYSTEM": "usb",
            "DEVTYPE": "usb_device",
            "DEVNAME": "/dev/" + devname,
            "DRIVER": "usb",
            "MAJOR": "189",
            "MINOR": str((self.bus - 1) * 128 + self.devnum - 1),
            "BUSNUM": f"{self.bus:03d}",
            "DEVNUM": f"{self.devnum:03d}",
            "PRODUCT": f"{self.vid:x}/{self.pid:x}/{self.bcd:x}",
            "TYPE": "0/0/0",
            "ID_VENDOR": self.manufacturer.replace(" ", "_"),
            "ID_VENDOR_ID": f"{self.vid:04x}",
            "ID_MODEL": model,
            "ID_MODEL_ID": f"{self.pid:04x}",
            "ID_REVISION": bcd,
            "ID_BUS": "usb",
        }
        if self.serial:
            props["ID_SERIAL_SHORT"] = self.serial
            props["ID_SERIAL"] = f"{props['ID_VENDOR']}_{model}_{self.serial}"
        attrs = {
            "idVendor": f"{self.vid:04x}",
            "idProduct": f"{self.pid:04x}",
            "manufacturer": self.manufacturer,
            "product": self.product,
            "busnum": str(self.bus),
            "devnum": str(self.devnum),
            "devpath": self.usb_path.split("-", 1)[1],
            "speed": "480",
            "version": " 2.00",
            "bcdDevice": bcd,
            "bDeviceClass": "00",
            "bNumConfigurations": "1",
            "bConfigurationValue": "1",
            "bNumInterfaces": f"{self.interfaces:2d}",
            "maxchild": "0",
        }
        if self.serial:
            attrs["serial"] = self.serial
        lines = [f"P: {dev}", f"N: {devname}={hexdesc}"]
        lines += [f"E: {k}={v}" for k, v in props.items()]
        # sysfs attributes end in a newline, as the kernel writes them.
        lines += [f"A: {k}={v}\\n" for k, v in attrs.items()]
        lines.append(f"H: descriptors={hexdesc}")
        device = "\n".join(lines) + "\n"
        # udev's database entry, written before udev announces the device: it is what makes
        # libudev report the device as initialized (rules applied, permissions set).
        db_props = {k: v for k, v in props.items() if k.startswith("ID_")}
        db = f"I:{int(time.monotonic() * 1e6)}\n" + "".join(
            f"E:{k}={v}\n" for k, v in db_props.items()) + "V:1\n"
        self._db_name = f"c189:{props['MINOR']}"
        self._db = db
        ifaces = []
        for i, path in enumerate(self._interface_paths()):
            ifaces.append("\n".join([
                f"P: {dev}/{path}",
                "E: SUBSYSTEM=usb",
                "E: DEVTYPE=usb_interface",
                "E: DRIVER=ftdi_sio",
                f"E: PRODUCT={self.vid:x}/{self.pid:x}/{self.bcd:x}",
                "E: INTERFACE=255/255/255",
                f"A: bInterfaceNumber={i:02x}\\n",
                "A: bInterfaceClass=ff\\n",
                "A: bNumEndpoints=02\\n",
            ]) + "\n")
        return dev, device, ifaces

    def _remove_stale_links(self):
        """umockdev 0.17 leaves the /sys/bus and /sys/dev links of a removed device behind,
        and refuses to add a device of the same name again; remove them as the kernel would."""
        root = testbed().get_root_dir()
        minor = (self.bus - 1) * 128 + self.devnum - 1
        links = [f"sys/bus/usb/devices/{self.usb_path}", f"sys/dev/char/189:{minor}"]
        links += [f"sys/bus/usb/devices/{p}" for p in self._interface_paths()]
        for link in links:
            path = os.path.join(root, link)
            if os.path.islink(path):
                os.unlink(path)

    def plug(self, usb_path="1-2", devnum=5):
        """Plugs the device in: ioctl handler first, then the sysfs entry, whose creation
        sends the `add` uevent. Returns the monotonic time just before the event."""
        tb = testbed()
        self.usb_path = usb_path
        self.devnum = devnum
        if self.emulate:
            env = dict(os.environ)
            env.pop("LD_PRELOAD", None)
            self.pipe = usbdevfs.EmulatorPipe(AGENT, env=env, board=self.board,
                                              serial=self.serial if self.board else None)
            if self.board is not None:
                facts = self.pipe.info()
                self.vid, self.pid, self.bcd = facts["vid"], facts["pid"], facts["bcd_device"]
                self.manufacturer, self.product = facts["manufacturer"], facts["product"]
                self.serial = facts["serial"]
                self.interfaces = facts["interfaces"]
        dev, device, ifaces = self._description()
        self._remove_stale_links()
        self.syspath = "/sys" + dev
        self.handler = usbdevfs.UsbDeviceHandler(self.pipe, devnum, interfaces=self.interfaces)
        self.handlers.append(self.handler)
        tb.attach_ioctl(self.devnode, self.handler.base)
        db_dir = os.path.join(tb.get_root_dir(), "run", "udev", "data")
        os.makedirs(db_dir, exist_ok=True)
        with open(os.path.join(db_dir, self._db_name), "w") as f:
            f.write(self._db)
        self.plugged_at = time.monotonic()
        tb.add_from_string(device)
        for iface in ifaces:
            tb.add_from_string(iface)
        return self.plugged_at

    def unplug(self):
        """Unplugs the device completely. Returns the monotonic time of the device's event."""
        t = self.unplug_event()
        self.finish_unplug()
        return t

    def unplug_event(self):
        """First half of an unplug: the device stops answering, then udev announces the
        removal (interface, then device, as the kernel does). Returns the monotonic time just
        before the device's event. The sysfs entry is still there until finish_unplug()."""
        tb = testbed()
        self.handler.unplug()
        for path in self._interface_paths():
            tb.uevent(f"{self.syspath}/{path}", "remove")
        self.unplugged_at = time.monotonic()
        tb.uevent(self.syspath, "remove")
        return self.unplugged_at

    def finish_unplug(self):
        """Second half: the sysfs entry, device node and emulator go away."""
        tb = testbed()
        tb.remove_device(self.syspath)
        self._remove_stale_links()
        tb.detach_ioctl(self.devnode)
        try:
            os.unlink(os.path.join(tb.get_root_dir(), "run", "udev", "data", self._db_name))
        except FileNotFoundError:
            pass
        if self.pipe is not None:
            self.pipe.close()
            self.pipe = None
        self.handler.close()
        self.syspath = None


class Agent:
    """`xvc-agent run` under the testbed, logging to a file."""

    def __init__(self, base_port, workdir, extra_args=(), config_text="# defaults\n"):
        self.base_port = base_port
        self.log_path = os.path.join(workdir, "agent.log")
        state = os.path.join(workdir, "state")
        os.makedirs(state, exist_ok=True)
        # A config and control socket of its own: never the host's /etc or /run.
        config = os.path.join(workdir, "config.yaml")
        if not os.path.exists(config):
            with open(config, "w") as f:
                f.write(config_text)
        control = self.control = os.path.join(workdir, "control.sock")
        env = dict(os.environ)
        env["UMOCKDEV_DIR"] = testbed().get_root_dir()
        env.setdefault("RUST_LOG", "info,xvc_agent=debug")
        env.pop("JOURNAL_STREAM", None)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [AGENT, "run", "--config", config, "--base-port", str(base_port),
             "--listen", "127.0.0.1", "--state-dir", state, "--control-socket", control,
             "--log", "stderr", *extra_args],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.wait_log(r"ready: ", timeout=20)

    def log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern)

        def found():
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{self.log()}")
            return rx.search(self.log()) is not None

        return poll(found, timeout, what=f"log line /{pattern}/")

    def alive(self):
        return self.proc.poll() is None

    # --- what tests/kit/served.py asks of the agent

    def status(self):
        """`xvc-agent status --json` from this agent's control socket."""
        out = subprocess.run(
            [AGENT, "status", "--json", "--socket", self.control],
            capture_output=True, text=True, timeout=20, check=True)
        return json.loads(out.stdout)

    def host_port(self, port):
        return port  # the agent listens on this host's 127.0.0.1

    def port_closed(self, port):
        return not listening(port)

    def served_cable(self, dev, timeout=SERVE_TIMEOUT_S):
        """`dev` (a UsbDevice) as a cable this agent serves: plugged and pulled out through
        the testbed (`plug(usb_path, devnum)`), found in the status by its USB path."""
        return ServedCable(self, match=lambda e: e["usb_path"] == dev.usb_path, plug=dev.plug,
                           unplug=dev.unplug, name=dev.serial or dev.product, timeout=timeout)

    def resources(self):
        """(open descriptors, threads) of the agent process."""
        pid = self.proc.pid
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        threads = len(os.listdir(f"/proc/{pid}/task"))
        return fds, threads

    def stop(self, timeout=15):
        try:
            return stop_agent(self.proc, timeout)
        finally:
            self._log.close()
