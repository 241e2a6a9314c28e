"""The agent under test for the client conformance suite: `xvc-agent run --simulate N` on free
loopback ports, ready once every cable's port answers an XVC `getinfo:`, and the record of
what each simulated FPGA received, read back with `xvc-agent status --json`.
"""

import json
import os
import subprocess

from ports import free_port_block
from process import stop_agent
from wait import poll
from xvc import XvcClient, answers


class Agent:
    """One `xvc-agent run --simulate N`, with a config, state directory and control socket of
    its own (never the host's /etc or /run), logging to a file."""

    def __init__(self, binary, workdir, cables=2, env=None, ready_timeout=30.0):
        self.binary = binary
        self.cables = cables
        os.makedirs(workdir, exist_ok=True)
        self.base_port = free_port_block(cables)
        self.ports = [self.base_port + i for i in range(cables)]
        self.socket = os.path.join(workdir, "control.sock")
        self.log_path = os.path.join(workdir, "agent.log")
        config = os.path.join(workdir, "config.yaml")
        with open(config, "w") as f:
            f.write("# built-in defaults\n")
        full_env = dict(os.environ)
        full_env.pop("JOURNAL_STREAM", None)
        full_env.update(env or {})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "run", "--simulate", str(cables), "--base-port", str(self.base_port),
             "--listen", "127.0.0.1", "--config", config,
             "--state-dir", os.path.join(workdir, "state"), "--control-socket", self.socket,
             "--log", "stderr"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=full_env)
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout):
        """Ready when every cable's port answers getinfo: what a client needs."""
        waiting = list(self.ports)

        def served():
            nonlocal waiting
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"xvc-agent exited with {self.proc.returncode} before serving:\n{self.log()}")
            waiting = [p for p in waiting if not answers(p, timeout=2.0)]
            return not waiting

        try:
            poll(served, timeout, interval=0.05)
        except TimeoutError:
            raise AssertionError(
                f"xvc-agent did not serve ports {waiting} within {timeout} s:\n{self.log()}"
            ) from None

    def getinfo(self, cable=0):
        """The `getinfo:` reply of a cable's port (it carries the advertised vector limit)."""
        c = XvcClient(self.ports[cable])
        try:
            return c.getinfo()
        finally:
            c.close()

    def log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def status(self):
        """`xvc-agent status --json`, parsed."""
        out = subprocess.run(
            [self.binary, "status", "--json", "--socket", self.socket],
            capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, f"xvc-agent status failed ({out.returncode}): {out.stderr}"
        return json.loads(out.stdout)

    def cable(self, port):
        """The status entry of the cable served on `port`."""
        cables = self.status()["cables"]
        for c in cables:
            if c.get("port") == port:
                return c
        raise AssertionError(f"no cable on port {port} in status: {cables}")

    def fpga(self, port):
        """The configuration record of the (one) simulated 7-series on the cable at `port`:
        part, cfg_in_bits, sha256, done."""
        cable = self.cable(port)
        fpgas = cable.get("simulated_fpga")
        assert fpgas, f"cable on port {port} has no simulated_fpga record: {cable}"
        assert len(fpgas) == 1, f"cable on port {port}: expected one 7-series, got {fpgas}"
        return fpgas[0]

    def wait_idle(self, port, timeout=10.0):
        """Waits until no client holds the cable at `port` (a client that has exited may still
        be being let go)."""
        poll(lambda: not self.cable(port).get("client"), timeout,
             what=f"the cable on port {port} let go", interval=0.05)

    def stop(self, timeout=15.0):
        """SIGTERM; returns the exit status (a clean stop is 0)."""
        try:
            return stop_agent(self.proc, timeout)
        finally:
            self._log.close()
