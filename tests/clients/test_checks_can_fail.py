"""Proof that the suite's two verdicts on a load — the SHA-256 of what CFG_IN received and
DONE — can fail: one TDI bit flipped on its way into the FPGA (the agent's test-only fault
XVC_SIM_FLIP_CFG_IN_BIT) changes the recorded hash and keeps DONE low while the client still
reports success; a bitstream with a wrong CRC word or IDCODE arrives intact but never raises
DONE. And the generator's self-test.
"""

import hashlib
import os

import bitstream
import checks


def test_bitstream_generator_self_test():
    bitstream.self_test()


def _flip(data, bit):
    """`data` with shift-order bit `bit` inverted: bytes in order, each MSB first."""
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def test_a_flipped_tdi_bit_changes_the_hash_and_keeps_done_low(agent_factory, ofl_bookworm):
    b = bitstream.sized(256 << 10, seed=41)
    start, end = bitstream.frame_data_bit_range(b)
    bit = start + (end - start) // 3 + 5
    agent = agent_factory(cables=1, env={"XVC_SIM_FLIP_CFG_IN_BIT": str(bit)})
    path = b.write(os.path.join(ofl_bookworm.workdir, "flip.bit"))
    run = ofl_bookworm.load(agent.ports[0], path)
    # The client cannot see the glitch: it reports success, as on a real board.
    checks.client_succeeded(run, f"{ofl_bookworm.label} load through a cable flipping bit {bit}")
    fpga = checks.fpga_record(agent, agent.ports[0], f"{ofl_bookworm.label} (bit {bit} flipped)",
                              b, done=False, same_hash=False, error=r"CRC")
    flipped = hashlib.sha256(_flip(b.data, bit)).hexdigest()
    assert fpga["sha256"] == flipped, (
        f"{ofl_bookworm.label}: with CFG_IN bit {bit} flipped the FPGA should hold the file "
        f"with that one bit changed (SHA-256 {flipped}); it recorded {fpga['sha256']}")


def test_a_wrong_crc_word_keeps_done_low(agent_factory, ofl_bookworm):
    b = bitstream.generate(bitstream.frame_words_for(64 << 10), seed=42, crc_fix=0x100)
    agent = agent_factory(cables=1)
    path = b.write(os.path.join(ofl_bookworm.workdir, "bad-crc.bit"))
    run = ofl_bookworm.load(agent.ports[0], path)
    checks.client_succeeded(run, f"{ofl_bookworm.label} load of a bitstream with a bad CRC")
    checks.fpga_record(agent, agent.ports[0], f"{ofl_bookworm.label} (bad CRC word)", b,
                       done=False, error=r"CRC")


def test_a_wrong_idcode_keeps_done_low(agent_factory, ofl_bookworm):
    b = bitstream.generate(bitstream.frame_words_for(64 << 10), seed=43, idcode=0x0362C093)
    agent = agent_factory(cables=1)
    path = b.write(os.path.join(ofl_bookworm.workdir, "other-part.bit"))
    run = ofl_bookworm.load(agent.ports[0], path)
    checks.client_succeeded(run, f"{ofl_bookworm.label} load of another part's bitstream")
    checks.fpga_record(agent, agent.ports[0], f"{ofl_bookworm.label} (IDCODE 0x0362C093)", b,
                       done=False, error=r"IDCODE")
