"""A blocking XVC client for the host side of the virtual-machine tests."""

import socket
import struct
import time

XC7A35T_IDCODE = 0x0362D093


class XvcClient:
    def __init__(self, port, timeout=15.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
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
        self.sock.sendall(b"getinfo:")
        out = b""
        while not out.endswith(b"\n"):
            out += self._read_exact(1)
        return out.decode()

    def shift(self, nbits, tms, tdi):
        n = (nbits + 7) // 8
        self.sock.sendall(b"shift:" + struct.pack("<I", nbits) + tms[:n] + tdi[:n])
        return self._read_exact(n)

    def idcode(self):
        """Test-Logic-Reset, Shift-DR, the first 32 bits (the IDCODE), back to Idle."""
        self.shift(9, bytes([0x5F, 0x00]), bytes([0, 0]))
        tdo = self.shift(32, bytes(4), bytes(4))
        self.shift(3, bytes([0x03]), bytes([0]))
        return struct.unpack("<I", tdo)[0]

    def sees_eof(self, timeout=10.0):
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


def answers(port, timeout=3.0):
    """Whether an XVC server answers getinfo on host port `port` now. (A QEMU port forward
    accepts every connection; only an answer shows the guest's port is open.)"""
    try:
        c = XvcClient(port, timeout=timeout)
    except OSError:
        return False
    try:
        return c.getinfo().startswith("xvcServer_v1.0:")
    except (OSError, EOFError):
        return False
    finally:
        c.close()


def connect_idcode(port, timeout=30.0):
    """Connects (retrying while the port is closed or the cable busy) and reads the IDCODE;
    returns the open client and the IDCODE."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            c = XvcClient(port)
            code = c.idcode()
            return c, code
        except (OSError, EOFError) as e:
            last = e
            time.sleep(0.2)
    raise TimeoutError(f"no XVC session on host port {port} within {timeout} s: {last}")
