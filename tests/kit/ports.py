"""The one port picker of the Python harnesses (tests/umockdev, tests/clients): blocks of free
ports on 127.0.0.1 for agents given a base port. (The Rust tests' picker is tests/kit/ports.rs.)
"""

import random
import socket


def free_port_block(count):
    """A base port such that `count` consecutive ports are free now, below the ephemeral range:
    a port in that range may be taken at any moment as the source port of some connection (the
    tests' own probes included)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    top = low - count if low > 12000 + count else 65000 - count
    bottom = 10000 if low > 12000 + count else 61000
    while True:
        base = random.randrange(bottom, top)
        try:
            for p in range(base, base + count):
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return base
