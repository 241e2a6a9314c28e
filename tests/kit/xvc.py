"""The one blocking XVC client of the Python harnesses (tests/umockdev and tests/vm), with the
ways those tests reach a cable: as soon as it is free, or by polling until it answers.

The Rust tests' client is tests/kit/xvc.rs; both speak the words in facts.py.
"""

import socket
import struct
import time

from facts import XVC_GETINFO, XVC_INFO_PREFIX, XVC_SETTCK, XVC_SHIFT


class XvcClient:
    """One TCP connection to an XVC server, with TCP_NODELAY as real clients set it."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _read_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def getinfo(self):
        self.sock.sendall(XVC_GETINFO)
        out = b""
        while not out.endswith(b"\n"):
            out += self._read_exact(1)
        return out.decode()

    def settck(self, period_ns):
        """Asks for a TCK period; returns the period the server applied."""
        self.sock.sendall(XVC_SETTCK + struct.pack("<I", period_ns))
        return struct.unpack("<I", self._read_exact(4))[0]

    def shift(self, nbits, tms, tdi):
        n = (nbits + 7) // 8
        self.sock.sendall(XVC_SHIFT + struct.pack("<I", nbits) + tms[:n] + tdi[:n])
        return self._read_exact(n)

    def idcode(self):
        """Test-Logic-Reset, Shift-DR, the first 32 bits (the IDCODE), back to Idle."""
        # 5x TMS=1 (reset), 0 (idle), 1 (select DR), 0 (capture), 0 (shift) = 9 bits
        self.shift(9, bytes([0x5F, 0x00]), bytes([0, 0]))
        tdo = self.shift(32, bytes(4), bytes(4))
        # leave Shift-DR: exit1, update, idle
        self.shift(3, bytes([0x03]), bytes([0]))
        return struct.unpack("<I", tdo)[0]

    def sees_eof(self, timeout):
        """True when the server closes the connection within `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def connect_when_free(port, timeout=5.0):
    """Connects a client that has had its getinfo answered, retrying while the cable is still
    held by a previous session (the server refuses a second client at once by closing it)."""
    deadline = time.monotonic() + timeout
    while True:
        c = XvcClient(port)
        try:
            c.getinfo()
            return c
        except (EOFError, ConnectionResetError):
            c.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def connect_idcode(port, timeout=30.0):
    """Connects (retrying while the port is closed or the cable busy) and reads the IDCODE;
    returns the open client and the IDCODE."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            c = XvcClient(port, timeout=15.0)
            code = c.idcode()
            return c, code
        except (OSError, EOFError) as e:
            last = e
            time.sleep(0.2)
    raise TimeoutError(f"no XVC session on port {port} within {timeout} s: {last}")


def answers(port, timeout=3.0):
    """Whether an XVC server answers getinfo on `port` now. (A QEMU port forward accepts every
    connection; only an answer shows the guest's port is open.)"""
    try:
        c = XvcClient(port, timeout=timeout)
    except OSError:
        return False
    try:
        return c.getinfo().startswith(XVC_INFO_PREFIX)
    except (OSError, EOFError):
        return False
    finally:
        c.close()
