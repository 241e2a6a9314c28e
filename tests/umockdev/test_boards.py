"""Simulated boards under umockdev: a multi-channel FTDI device (chip, EEPROM, one interface
per channel with ftdi_sio bound) answering usbfs the way the kernel and the chip do. Driven
directly, without the agent."""

import ctypes
import fcntl
import os
import struct

import harness
import usbdevfs as u


def control_in(fd, request, value, index, length):
    reply = bytearray(length)
    addr = ctypes.addressof((ctypes.c_char * length).from_buffer(reply))
    ctrl = bytearray(struct.pack("<BBHHHI4xQ", 0xC0, request, value, index, length, 1000, addr))
    n = fcntl.ioctl(fd, u.USBDEVFS_CONTROL, ctrl)
    return bytes(reply[:n])


def sysfs(path):
    with open(os.path.join(harness.testbed().get_root_dir(), path.lstrip("/"))) as f:
        return f.read().strip()


def test_ft4232h_board_shows_four_channels_and_its_eeprom(devices):
    dev = devices("ZCU104SIM01", board="zcu104")
    dev.plug("1-8", 22)
    assert (dev.pid, dev.bcd, dev.interfaces) == (0x6011, 0x0800, 4)
    assert sysfs(dev.syspath + "/bNumInterfaces") == "4"
    assert sysfs(dev.syspath + "/bcdDevice") == "0800"
    assert sysfs(dev.syspath + "/manufacturer") == "Xilinx"
    for i in range(4):
        assert sysfs(f"{dev.syspath}/{dev.usb_path}:1.{i}/bInterfaceNumber") == f"{i:02x}"
    fd = os.open(dev.devnode, os.O_RDWR)
    try:
        # The configuration descriptor lists one interface per channel.
        descriptors = os.read(fd, 4096)
        assert descriptors[18 + 4] == 4
        # READ_EEPROM (no interface claimed): the header names the chip.
        words = [control_in(fd, 0x90, 0, w, 2) for w in range(1, 4)]
        assert [int.from_bytes(w, "little") for w in words] == [0x0403, 0x6011, 0x0800]
        # Claiming channel B leaves ftdi_sio on A, C and D.
        iface = (1).to_bytes(4, "little")
        fcntl.ioctl(fd, u.USBDEVFS_DISCONNECT_CLAIM, bytearray(iface + bytes(260)))
        assert dev.drivers() == {0: "ftdi_sio", 2: "ftdi_sio", 3: "ftdi_sio"}
        fcntl.ioctl(fd, u.USBDEVFS_RELEASEINTERFACE, bytearray(iface))
    finally:
        os.close(fd)
    assert dev.faults() == []


def test_board_faults_reach_python(devices):
    dev = devices("NV0001", board="nexys-video")
    dev.plug("1-9", 23)
    assert (dev.pid, dev.interfaces, dev.product) == (0x6010, 2, "Digilent USB Device")
    # MPSSE on channel A (wIndex 1), the Nexys Video's DPTI FIFO.
    status, _ = dev.pipe.call(u.OP_CONTROL_OUT, struct.pack("<BHHI", 0x0B, 0x020B, 1, 1000))
    assert status == u.ST_OK
    assert dev.faults() == ["channel A: bit mode 0x02 set on the DPTI FIFO to the FPGA"]
