"""Stopping an agent the Python harnesses started (tests/umockdev, tests/clients) the way
systemd does: SIGTERM, a bounded wait, SIGKILL if it hangs (and the test fails)."""

import signal
import subprocess


def stop_agent(proc, timeout):
    """SIGTERM `proc` (a subprocess.Popen of the agent) and wait up to `timeout` seconds;
    returns its exit status. An agent that does not stop is killed and the test fails."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"xvc-agent did not stop within {timeout} s of SIGTERM")
    return proc.returncode


def stop_all(agents):
    """Stops every agent a test started (objects with `stop()`, `log()` and `log_path`),
    prints each one's log, and fails the test if one did not exit 0 on SIGTERM."""
    for a in agents:
        code = a.stop()
        print(f"--- agent log ({a.log_path}) ---\n{a.log()}")
        assert code == 0, f"xvc-agent exited with {code} on SIGTERM"
