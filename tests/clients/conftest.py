"""pytest fixtures for the client conformance suite: the agent binary, one agent with two
simulated cables for the whole run, each pinned client (a client that cannot be installed
fails the tests that need it, with the reason), and the synthetic bitstreams, generated once.
"""

import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# The shared test kit: the XVC client, the port picker and the product facts (tests/kit/*.py).
sys.path.insert(0, os.path.join(HERE, "..", "kit"))

import bitstream  # noqa: E402
import clients  # noqa: E402
from agent import Agent  # noqa: E402
from process import stop_all  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
AGENT = os.environ.get("XVC_AGENT", os.path.join(ROOT, "target", "debug", "xvc-agent"))

# Sizes of the data sections loaded: the xc7a35t's own bitstream is 2.1 MB; 10 MiB is past
# the size (9.3 MiB, xc7a200t) at which openFPGALoader's 16-bit burst length wrapped with the
# agent's earlier N of 1 MiB.
SIZE_2MIB = 2 << 20
SIZE_10MIB = 10 << 20


# What the tests measured (load times, the advertised vector limit), printed at the end.
MEASURED = []


def pytest_configure(config):
    if not os.access(AGENT, os.X_OK):
        pytest.exit(f"agent binary {AGENT} missing: build it (cargo build --bin xvc-agent) or "
                    "set XVC_AGENT", 2)


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.section("measured (not asserted)")
        for line in MEASURED:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def measured():
    """Records a measurement line for the summary at the end of the run."""
    return MEASURED.append


@pytest.fixture(scope="session")
def scratch(tmp_path_factory):
    return str(tmp_path_factory.mktemp("clients"))


@pytest.fixture(scope="session")
def agent(scratch):
    """`xvc-agent run --simulate 2` for the whole run; it must stop cleanly at the end."""
    a = Agent(AGENT, os.path.join(scratch, "agent"), cables=2)
    MEASURED.append(f"agent {AGENT}: getinfo answers {a.getinfo().strip()!r}")
    yield a
    stop_all([a])


@pytest.fixture
def agent_factory(scratch):
    """Starts agents of a test's own (e.g. with a fault injected); each must stop cleanly."""
    started = []

    def start(cables=1, env=None):
        a = Agent(AGENT, os.path.join(scratch, f"agent-{len(started)}-{os.getpid()}"),
                  cables=cables, env=env)
        started.append(a)
        return a

    yield start
    stop_all(started)


def _client(make):
    try:
        return make()
    except clients.ClientMissing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def ofl_bookworm(scratch):
    workdir = os.path.join(scratch, "bookworm")
    os.makedirs(workdir, exist_ok=True)
    return _client(lambda: clients.host_openfpgaloader(workdir))


@pytest.fixture(scope="session")
def ofl_trixie(scratch):
    c = _client(lambda: clients.trixie_openfpgaloader(scratch))
    yield c
    shutil.rmtree(c.chroot, ignore_errors=True)


@pytest.fixture(scope="session", params=["bookworm", "trixie"])
def ofl(request):
    """Each openFPGALoader release in turn."""
    return request.getfixturevalue(f"ofl_{request.param}")


@pytest.fixture(scope="session")
def ocd(scratch):
    workdir = os.path.join(scratch, "openocd")
    os.makedirs(workdir, exist_ok=True)
    return _client(lambda: clients.openocd(workdir))


class Bitstreams:
    """Synthetic bitstreams by (size, seed), generated once per run."""

    def __init__(self):
        self._made = {}

    def get(self, size, seed):
        key = (size, seed)
        if key not in self._made:
            self._made[key] = bitstream.sized(size, seed)
        return self._made[key]

    def file_for(self, client, size, seed):
        """The bitstream and its .bit file in `client`'s work directory (a host path; the
        client's methods translate it to the path the client sees)."""
        b = self.get(size, seed)
        path = os.path.join(client.workdir, f"synthetic-{size}-{seed}.bit")
        if not os.path.exists(path):
            b.write(path)
        return b, path


@pytest.fixture(scope="session")
def bitstreams():
    return Bitstreams()
