"""The one port picker of the Python harnesses (tests/umockdev, tests/clients, tests/vm): free
ports on 127.0.0.1 below the ephemeral range, as a block for agents given a base port, or as
distinct ports for QEMU's forwards. (The Rust tests' picker is tests/kit/ports.rs.)
"""

import random
import socket


def _range(count):
    """Where to look: below the ephemeral range, where no connection takes a port as its source
    port at any moment (the tests' own probes included)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    top = low - count if low > 12000 + count else 65000 - count
    bottom = 10000 if low > 12000 + count else 61000
    return bottom, top


def _free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count):
    """`count` distinct ports free now (QEMU refuses two forwards of one host port)."""
    bottom, top = _range(count)
    ports = []
    while len(ports) < count:
        port = random.randrange(bottom, top)
        if port not in ports and _free(port):
            ports.append(port)
    return ports


def free_port_block(count):
    """A base port such that `count` consecutive ports are free now."""
    bottom, top = _range(count)
    while True:
        base = random.randrange(bottom, top)
        if all(_free(p) for p in range(base, base + count)):
            return base
