"""The one poller of the Python harnesses (tests/umockdev, tests/vm, tests/clients): wait for a
condition the way users' tools do, by checking it again and again, with a timeout. (The Rust
tests' poller is tests/kit/wait.rs.)"""

import time


def poll(predicate, timeout, what="condition", interval=0.001):
    """Calls `predicate` until it returns something true, and returns that. Raises
    TimeoutError naming `what` once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
