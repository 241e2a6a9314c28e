"""openFPGALoader's `-c xvc-client` against the agent's simulated cables, for each pinned
release (Debian bookworm's on the host, Debian trixie's in a chroot): it finds the chain,
plays an SVF whose TDO checks hold (and fails one whose check does not), and loads
bitstreams into SRAM that arrive at the FPGA bit for bit — 2 MiB, 10 MiB, and two cables at
once.
"""

import os
import threading

import checks
from conftest import SIZE_10MIB, SIZE_2MIB
from svf import conformance_svf


def test_version_is_the_pinned_one(ofl):
    assert ofl.version == ofl.pinned, (
        f"{ofl.label}: the suite pins openFPGALoader {ofl.pinned} from Debian {ofl.release}")


def test_detect_finds_the_xc7a35t(agent, ofl):
    run = ofl.detect(agent.ports[0])
    checks.client_succeeded(run, f"{ofl.label} --detect")
    checks.idcode_reported(run, f"{ofl.label} --detect")
    assert "xc7a35" in run.output, f"{ofl.label} --detect names no xc7a35: {run.describe()}"


def _write_svf(ofl, name, **kwargs):
    text, nchecks = conformance_svf(**kwargs)
    path = os.path.join(ofl.workdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path, nchecks


def test_svf_with_tdo_checks_passes(agent, ofl, measured):
    path, nchecks = _write_svf(ofl, "conformance.svf")
    run = ofl.svf(agent.ports[0], path)
    checks.client_succeeded(run, f"{ofl.label} playing an SVF with {nchecks} TDO checks")
    assert "end of SVF file" in run.output, (
        f"{ofl.label}: the SVF did not play to its end: {run.describe()}")
    measured(f"{ofl.label}: SVF of {nchecks} TDO checks passed in {run.seconds:.2f} s")


def test_svf_with_a_wrong_expectation_fails(agent, ofl):
    """Proof that the TDO checks above can fail: one IDCODE expectation is one bit off."""
    path, _ = _write_svf(ofl, "wrong-idcode.svf", wrong_idcode_at=20)
    run = ofl.svf(agent.ports[0], path)
    checks.client_failed(run, f"{ofl.label} playing an SVF expecting a wrong IDCODE",
                         must_say=r"TDO value .* isn't the one expected|TDO")


def _load(agent, ofl, bitstreams, port, size, seed, measured):
    b, path = bitstreams.file_for(ofl, size, seed)
    run = ofl.load(port, path)
    what = f"{ofl.label} SRAM load of {len(b.data)} bytes"
    measured(f"{what}: {run.seconds:.2f} s (the client's whole run), exit {run.returncode}")
    checks.client_succeeded(run, what)
    if ofl.reports_done:
        checks.client_saw_done(run, what)
    checks.fpga_record(agent, port, ofl.label, b, done=True)


def test_sram_load_of_2_mib_arrives_bit_for_bit(agent, ofl, bitstreams, measured):
    _load(agent, ofl, bitstreams, agent.ports[0], SIZE_2MIB, 1, measured)


def test_sram_load_of_10_mib_arrives_bit_for_bit(agent, ofl, bitstreams, measured):
    _load(agent, ofl, bitstreams, agent.ports[1], SIZE_10MIB, 2, measured)


def test_two_cables_loaded_at_once(agent, ofl, bitstreams):
    """Two openFPGALoader processes, one per cable, at the same time: each FPGA receives its
    own file, bit for bit."""
    jobs = [(port, bitstreams.file_for(ofl, SIZE_2MIB, seed)) for port, seed in
            zip(agent.ports, (11, 12))]
    runs = {}

    def load(port, path):
        runs[port] = ofl.load(port, path)

    threads = [threading.Thread(target=load, args=(port, path)) for port, (_, path) in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for port, (b, _) in jobs:
        what = f"{ofl.label} load on port {port}, beside another"
        checks.client_succeeded(runs[port], what)
        if ofl.reports_done:
            checks.client_saw_done(runs[port], what)
        checks.fpga_record(agent, port, f"{ofl.label} (two at once)", b, done=True)
