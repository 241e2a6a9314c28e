"""Fixtures of the virtual-machine suite: one guest booted for the whole session (the test
files run in name order against it, each leaving the agent serving), the emulated cables,
the .deb under test, and the figures every test reports.

Adding a scenario: a new tests/vm/test_NN_name.py using the `vm` fixture. Commands run in
the guest with `vm.sh(...)` / `vm.run(...)`; a guest-side scenario script runs with
`vm.run_script(path)` (copied in, run as root, its exit status and output returned).
"""

import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
# The shared test kit: the XVC client, the served-cable story, the poller, the port picker and
# the product facts (tests/kit/*.py).
sys.path.insert(0, os.path.join(ROOT, "tests", "kit"))
import guestlib  # noqa: E402
import image  # noqa: E402
import machine  # noqa: E402
from facts import XVC_DEFAULT_PORT  # noqa: E402
from served import ServedCable, silent  # noqa: E402

ARCH = os.environ.get("ARCH", "amd64")
# Guest ports forwarded to the host: the agent's default pool starts at 2542.
XVC_PORTS = list(range(XVC_DEFAULT_PORT, XVC_DEFAULT_PORT + 8))
SERIALS = ["210249A00001", "210249A00002"]
# How long a cable hot-plugged into the guest may take to be served (its EEPROM read, the
# kernel and udev first, all under TCG), or its port to close, before a test fails.
SERVE_TIMEOUT_S = 60

_figures = []


def figure(name, value, unit=""):
    """Records a measured figure (printed now and in the summary at the end)."""
    text = f"{name}: {value:.3f} {unit}".rstrip() if isinstance(value, float) else \
        f"{name}: {value} {unit}".rstrip()
    print(f"\n  [figure] {text}")
    _figures.append(text)


def pytest_terminal_summary(terminalreporter):
    if _figures:
        terminalreporter.write_sep("-", "virtual-machine figures")
        for f in _figures:
            terminalreporter.write_line(f)
        out = os.path.join(ROOT, "target", "vm-test", ARCH, "figures.txt")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as fh:
            fh.write("\n".join(_figures) + "\n")


class Lab:
    """The booted guest plus the host side: cables, forwarded ports, the package."""

    def __init__(self, m, cables, deb, agent):
        self.m = m
        self.cables = cables
        self.deb = deb
        self.agent = agent  # the host binary that serves emulated devices (sim-usbredir)

    def __getattr__(self, name):
        return getattr(self.m, name)

    # --- what tests/kit/served.py asks of the agent

    def status(self):
        """The agent's status in the guest, or None while it does not answer (restarting,
        stopped)."""
        try:
            return guestlib.status(self)
        except machine.VmError:
            return None

    def host_port(self, guest_port):
        return self.m.forwards[guest_port]

    def port_closed(self, host_port):
        return silent(host_port)  # QEMU's forward accepts even when the guest's port is closed

    def served_cable(self, cable, timeout=SERVE_TIMEOUT_S):
        """`cable` (a machine.Cable) as a cable the guest's agent serves: plugged into an xHCI
        root port (`plug(port=None)`: any free one) and pulled out over QMP, found in the
        status by its serial."""
        return ServedCable(self, match=lambda e: e.get("serial") == cable.serial,
                           plug=lambda port=None: self.m.plug(cable, port),
                           unplug=lambda: self.m.unplug(cable), name=cable.serial,
                           timeout=timeout, interval=0.05, status_interval=0.3)


@pytest.fixture(scope="session")
def vm():
    deb = os.environ.get("XVC_VM_DEB")
    agent = os.environ.get("XVC_AGENT", os.path.join(ROOT, "target", "release", "xvc-agent"))
    if not deb or not os.path.isfile(deb):
        pytest.fail("XVC_VM_DEB must name the .deb under test (tests/vm/run.sh sets it)")
    if not os.access(agent, os.X_OK):
        pytest.fail(f"{agent} (the usbredir cable server) not built")
    t0 = time.monotonic()
    try:
        img = image.ensure(ARCH)
    except image.BuildError as e:
        pytest.fail(f"guest image: {e}")
    figure("image ready (built or cached)", time.monotonic() - t0, "s")
    work = os.path.join(ROOT, "target", "vm-test", ARCH)
    os.makedirs(work, exist_ok=True)
    for f in os.listdir(work):
        if f.endswith((".sock", ".log")):
            os.unlink(os.path.join(work, f))
    cables = [machine.Cable(agent, work, s) for s in SERIALS]
    m = machine.Machine(ARCH, img, work, guest_ports=XVC_PORTS)
    try:
        try:
            boot = m.start()
        except machine.VmError as e:
            pytest.fail(str(e))
        figure("boot to the guest's command agent", boot, "s")
        yield Lab(m, cables, deb, agent)
    finally:
        m.stop()
        for c in cables:
            c.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed and "vm" in item.funcargs:
        lab = item.funcargs["vm"]
        try:
            rc, out, _ = lab.run("journalctl -b --no-pager -n 60 -o short-monotonic",
                                 check=False, timeout=20)
            rep.sections.append(("guest journal (last 60 lines)", out))
        except Exception as e:  # the guest may be what failed
            rep.sections.append(("guest journal", f"unavailable: {e}"))
        rep.sections.append(("console", lab.m.diagnostics(30)))
