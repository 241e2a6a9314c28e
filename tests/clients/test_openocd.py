"""OpenOCD's `adapter driver xvc` (Espressif's build, the pinned openocd-esp32) against the
agent's simulated cables, with the 7-series TAP and pld of `cpld/xilinx-xc7.cfg`: `init`
finds the chain, `irscan`/`drscan` read the IDCODE, the conformance SVF plays (and a wrong
expectation fails), `pld load` delivers a bitstream bit for bit; and OpenOCD loads one cable
while openFPGALoader loads the other.
"""

import os
import re
import threading

import checks
from conftest import SIZE_2MIB
from svf import conformance_svf


def test_version_is_the_pinned_one(ocd):
    have = ocd.reported_version()
    want = "v" + ocd.version.replace(".post", "-esp32-")
    assert have == want, f"{ocd.label}: the installed OpenOCD reports {have}, expected {want}"


def test_init_and_scan_chain_find_the_xc7a35t(agent, ocd):
    run = ocd.run(agent.ports[0], ["echo [capture scan_chain]"])
    checks.client_succeeded(run, f"{ocd.label} init; scan_chain")
    checks.idcode_reported(run, f"{ocd.label} scan_chain")
    assert "JTAG tap: xc7.tap tap/device found: 0x0362d093" in run.output, (
        f"{ocd.label}: init did not find the xc7a35t as xc7.tap: {run.describe()}")
    assert re.search(r"xc7\.tap\s.*\bY\b", run.output), (
        f"{ocd.label}: scan_chain does not list xc7.tap as enabled: {run.describe()}")
    assert "UNEXPECTED" not in run.output, (
        f"{ocd.label}: the IDCODE is not one cpld/xilinx-xc7.cfg expects: {run.describe()}")


def test_irscan_drscan_read_the_idcode(agent, ocd):
    run = ocd.run(agent.ports[0], [
        "irscan xc7.tap 0x09",
        'echo "conformance: idcode=[drscan xc7.tap 32 0]"',
        "irscan xc7.tap 0x3f",
        # BYPASS: one bit that captures 0, so 13 bits in come back one bit late.
        'echo "conformance: bypass=[drscan xc7.tap 13 0x1a5b]"',
    ])
    checks.client_succeeded(run, f"{ocd.label} irscan/drscan")
    idcode = re.search(r"conformance: idcode=(\w+)", run.output)
    bypass = re.search(r"conformance: bypass=(\w+)", run.output)
    assert idcode and int(idcode.group(1), 16) == 0x0362D093, (
        f"{ocd.label}: drscan of IDCODE read {idcode and idcode.group(1)}: {run.describe()}")
    assert bypass and int(bypass.group(1), 16) == (0x1A5B << 1) & 0x1FFF, (
        f"{ocd.label}: drscan of 13 bits through BYPASS read {bypass and bypass.group(1)}, "
        f"expected {((0x1A5B << 1) & 0x1FFF):04x}: {run.describe()}")


def _write_svf(ocd, name, **kwargs):
    text, nchecks = conformance_svf(**kwargs)
    path = os.path.join(ocd.workdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path, nchecks


def test_svf_with_tdo_checks_passes(agent, ocd, measured):
    path, nchecks = _write_svf(ocd, "conformance.svf")
    run = ocd.run(agent.ports[0], [f"svf -quiet {path}"])
    checks.client_succeeded(run, f"{ocd.label} svf with {nchecks} TDO checks")
    assert "tdo check error" not in run.output, f"{ocd.label}: {run.describe()}"
    measured(f"{ocd.label}: SVF of {nchecks} TDO checks passed in {run.seconds:.2f} s")


def test_svf_with_a_wrong_expectation_fails(agent, ocd):
    """Proof that OpenOCD's TDO checks can fail here: one IDCODE expectation is one bit off."""
    path, _ = _write_svf(ocd, "wrong-idcode.svf", wrong_idcode_at=20)
    run = ocd.run(agent.ports[0], [f"svf -quiet {path}"])
    checks.client_failed(run, f"{ocd.label} svf expecting a wrong IDCODE",
                         must_say=r"tdo check error")


def test_pld_load_arrives_bit_for_bit(agent, ocd, bitstreams, measured):
    b, path = bitstreams.file_for(ocd, SIZE_2MIB, seed=21)
    run = ocd.run(agent.ports[0], [f"echo [capture {{pld load xc7.pld {path}}}]"],
                  timeout=300)
    what = f"{ocd.label} pld load of {len(b.data)} bytes"
    measured(f"{what}: {run.seconds:.2f} s (the client's whole run: connect, init, load), "
             f"exit {run.returncode}")
    checks.client_succeeded(run, what)
    assert "loaded file" in run.output, f"{ocd.label}: pld load said nothing: {run.describe()}"
    checks.fpga_record(agent, agent.ports[0], ocd.label, b, done=True)


def test_openocd_and_openfpgaloader_load_two_cables_at_once(agent, ocd, ofl_bookworm,
                                                            bitstreams):
    b_ocd, path_ocd = bitstreams.file_for(ocd, SIZE_2MIB, seed=31)
    b_ofl, path_ofl = bitstreams.file_for(ofl_bookworm, SIZE_2MIB, seed=32)
    port_ocd, port_ofl = agent.ports
    runs = {}
    threads = [
        threading.Thread(target=lambda: runs.__setitem__(
            "ocd", ocd.run(port_ocd, [f"pld load xc7.pld {path_ocd}"], timeout=300))),
        threading.Thread(target=lambda: runs.__setitem__(
            "ofl", ofl_bookworm.load(port_ofl, path_ofl))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checks.client_succeeded(runs["ocd"], f"{ocd.label} pld load beside openFPGALoader")
    checks.client_succeeded(runs["ofl"], f"{ofl_bookworm.label} load beside OpenOCD")
    checks.fpga_record(agent, port_ocd, f"{ocd.label} (beside openFPGALoader)", b_ocd,
                       done=True)
    checks.fpga_record(agent, port_ofl, f"{ofl_bookworm.label} (beside OpenOCD)", b_ofl,
                       done=True)
