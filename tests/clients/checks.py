"""The suite's verdicts on a client run, shared by every client's tests so that each failure
says the same things: which client and version, on which port, and what differed — the
client's exit status and output, or what the simulated FPGA recorded against the file.
"""

import re

from facts import XC7A35T_IDCODE


def client_succeeded(run, what):
    assert run.ok, f"{what} failed: {run.describe()}"


def client_failed(run, what, must_say):
    """The client must report failure (non-zero exit) and say `must_say` (a regex)."""
    assert not run.ok and run.returncode != "timeout", (
        f"{what} should have failed (non-zero exit): {run.describe()}")
    assert re.search(must_say, run.output, re.I), (
        f"{what} failed but did not say /{must_say}/: {run.describe()}")


def client_saw_done(run, what):
    """The client read DONE high in the IR capture after its load (openFPGALoader >= 0.13
    prints `ir: 1 isc_done 1 isc_ena 0 init 1 done 1`)."""
    m = re.search(r"isc_done (\d) .*\bdone (\d)", run.output)
    assert m and m.group(2) == "1", f"{what}: the client did not read DONE high: {run.describe()}"


def idcode_reported(run, what):
    """The client's output names the xc7a35t's IDCODE (any zero padding, any case)."""
    code = f"{XC7A35T_IDCODE:x}"
    assert re.search(rf"0x0*{code}\b", run.output, re.I), (
        f"{what}: IDCODE 0x{XC7A35T_IDCODE:08x} not in the output: {run.describe()}")


def fpga_record(agent, port, label, bitstream, done, same_hash=True, error=None):
    """What the simulated FPGA on `port` recorded after `label` loaded `bitstream`: as many
    CFG_IN bits as the data section has, its SHA-256 (or, with same_hash=False, a different
    one), DONE as given and, when `error` (a regex) is given, a configuration error that
    matches it (else none)."""
    fpga = agent.fpga(port)
    want_bits = 8 * len(bitstream.data)
    facts = (f"{label} on port {port}: the FPGA recorded part {fpga.get('part')}, "
             f"{fpga.get('cfg_in_bits')} CFG_IN bits, SHA-256 {fpga.get('sha256')}, "
             f"done {fpga.get('done')}, error {fpga.get('error')!r}; the file's data section "
             f"is {want_bits} bits, SHA-256 {bitstream.sha256}")
    assert fpga.get("part") == "xc7a35t", facts
    assert fpga.get("cfg_in_bits") == want_bits, f"CFG_IN bit count differs. {facts}"
    if same_hash:
        assert fpga.get("sha256") == bitstream.sha256, f"SHA-256 differs. {facts}"
    else:
        assert fpga.get("sha256") != bitstream.sha256, f"SHA-256 should differ. {facts}"
    assert fpga.get("done") is done, f"DONE should be {done}. {facts}"
    if error is None:
        assert fpga.get("error") is None, f"the FPGA flagged an error. {facts}"
    else:
        assert re.search(error, fpga.get("error") or ""), f"error should say /{error}/. {facts}"
    return fpga
