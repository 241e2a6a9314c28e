"""pytest fixtures for the umockdev suite: one testbed for the whole run, a fresh agent and
fresh port range per test, and every device unplugged again afterwards."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# The shared test kit: the XVC client, the served-cable story, the poller, the port picker and
# the product facts (tests/kit/*.py).
sys.path.insert(0, os.path.join(HERE, "..", "kit"))

import harness  # noqa: E402
from ports import free_port_block  # noqa: E402
from process import stop_all  # noqa: E402


def pytest_configure(config):
    # Several harness threads (ioctl handler, emulator pipes, test body) share the GIL; a short
    # switch interval keeps one from delaying another by the default 5 ms, which would show up
    # in every latency measured here.
    sys.setswitchinterval(0.0002)
    if "LD_PRELOAD" not in os.environ or "umockdev" not in os.environ.get("LD_PRELOAD", ""):
        pytest.exit("run this suite under umockdev-wrapper (see tests/umockdev/run.sh)", 2)
    if not os.access(harness.AGENT, os.X_OK):
        pytest.exit(f"agent binary {harness.AGENT} missing: cargo build first", 2)


@pytest.fixture(scope="session")
def testbed():
    return harness.testbed()


@pytest.fixture
def devices(testbed):
    """Factory of mocked USB devices; whatever is still plugged at the end is unplugged."""
    made = []

    def make(*args, **kwargs):
        d = harness.UsbDevice(*args, **kwargs)
        made.append(d)
        return d

    yield make
    for d in made:
        if d.syspath is not None:
            d.unplug()


@pytest.fixture
def agent_factory(tmp_path, testbed):
    """Starts agents; each is stopped (SIGTERM, must exit 0) at the end of the test."""
    started = []

    def start(ports=4, extra_args=(), config_text="# defaults\n"):
        base = free_port_block(ports)
        a = harness.Agent(base, str(tmp_path / f"agent{len(started)}"), extra_args,
                          config_text)
        started.append(a)
        return a

    yield start
    stop_all(started)
