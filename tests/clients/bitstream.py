"""Synthetic but well-formed Xilinx 7-series bitstreams for the client conformance suite.

The simulated xc7a35t raises DONE only for a configuration that follows UG470's packet format
(sync word, type-1/type-2 packets, a correct CRC, the part's IDCODE, START and DESYNC), and it
records the SHA-256 of every CFG_IN bit it received. A test therefore needs bitstreams that a
real part would accept, of any size, with contents that differ from run to run only by a seed:
this module writes them as `.bit` files (the header Vivado writes, then the configuration
data) and says what the FPGA must have received (the SHA-256 of the data section).

self_test() checks the generator against independent facts (test_checks_can_fail.py runs it).
"""

import array
import functools
import hashlib
import random
import struct
import sys

from facts import XC7A35T_IDCODE

# The part field Vivado writes into an xc7a35t-csg324 bitstream's header.
XC7A35T_BIT_PART = "7a35tcsg324"

# UG470, "Configuration Packets".
SYNC_WORD = 0xAA995566
NOOP = 0x20000000
DUMMY = 0xFFFFFFFF
BUS_WIDTH_SYNC = 0x000000BB
BUS_WIDTH_DETECT = 0x11220044

# Configuration registers (UG470, "Configuration Registers").
REG_CRC = 0x00
REG_FAR = 0x01
REG_FDRI = 0x02
REG_CMD = 0x04
REG_IDCODE = 0x0C

# Commands written to REG_CMD (UG470, "Command Register").
CMD_WCFG = 0x01
CMD_START = 0x05
CMD_RCRC = 0x07
CMD_GRESTORE = 0x0A
CMD_DESYNC = 0x0D

OP_WRITE = 0b10

# The 13 bytes every .bit file starts with: a 9-byte field, then the 2-byte length 1 of the
# field whose key ('a') follows.
BIT_PREAMBLE = bytes([0x00, 0x09, 0x0F, 0xF0, 0x0F, 0xF0, 0x0F, 0xF0, 0x0F, 0xF0, 0x00, 0x00,
                      0x01])

# CRC-32C (Castagnoli), reflected: the configuration logic's CRC.
CRC32C_POLY_REFLECTED = 0x82F63B78


def type1(op, reg, count):
    """A type-1 packet header: 001 | op | reserved | register (bits 17:13) | word count."""
    assert count < (1 << 11) and reg < (1 << 5)
    return (0b001 << 29) | (op << 27) | (reg << 13) | count


def type2(op, count):
    """A type-2 packet header: 010 | op | word count (bits 26:0); the register is the one the
    type-1 packet before it named."""
    assert count < (1 << 27)
    return (0b010 << 29) | (op << 27) | count


def crc_bits(crc, value, nbits):
    """Feeds `nbits` bits of `value`, LSB first, into a reflected CRC-32C register."""
    for i in range(nbits):
        if (crc ^ (value >> i)) & 1:
            crc = (crc >> 1) ^ CRC32C_POLY_REFLECTED
        else:
            crc >>= 1
    return crc


def icap_crc(reg, word, crc):
    """The configuration logic's CRC step for one register write: the 37-bit value
    (register << 32) | word, LSB first."""
    return crc_bits(crc, (reg << 32) | word, 37)


def _byte_tables(step):
    """Four 256-entry tables t[k][b] = step applied to the byte b placed at bit 8k of a
    32-bit input: a linear map over GF(2) is the XOR of its values on the four bytes."""
    return [[step(b << (8 * k)) for b in range(256)] for k in range(4)]


class FdriCrc:
    """The CRC over a long run of FDRI words, table-driven (one Python loop step per word
    instead of 37): after one 37-bit write the CRC register is T(crc) ^ W(word) ^ R, with T
    and W linear in their 32-bit arguments and R the register address's contribution."""

    def __init__(self, reg=REG_FDRI):
        self.t = _byte_tables(lambda crc: crc_bits(crc, 0, 37))
        self.w = _byte_tables(lambda word: crc_bits(0, word, 37))
        self.r = crc_bits(0, reg << 32, 37)

    def update(self, crc, words):
        t0, t1, t2, t3 = self.t
        w0, w1, w2, w3 = self.w
        r = self.r
        for word in words:
            crc = (t0[crc & 0xFF] ^ t1[(crc >> 8) & 0xFF] ^ t2[(crc >> 16) & 0xFF]
                   ^ t3[crc >> 24] ^ w0[word & 0xFF] ^ w1[(word >> 8) & 0xFF]
                   ^ w2[(word >> 16) & 0xFF] ^ w3[word >> 24] ^ r)
        return crc


class Bitstream:
    """A configuration: its data section (the bytes a client shifts into CFG_IN, each byte MSB
    first) and the .bit file that carries it."""

    def __init__(self, data, design="xvc_agent_conformance"):
        self.data = data
        self.design = design

    @functools.cached_property
    def sha256(self):
        """What the simulated FPGA reports after a correct load: SHA-256 of the data section."""
        return hashlib.sha256(self.data).hexdigest()

    def bit_file(self):
        """The data with Vivado's .bit header: fields 'a' (design; user id; tool version),
        'b' (part), 'c' (date), 'd' (time), each with a big-endian 16-bit length that counts
        the terminating NUL, then 'e' with the data's big-endian 32-bit length."""
        def field(key, text):
            raw = text.encode() + b"\0"
            return key.encode() + struct.pack(">H", len(raw)) + raw

        header = (BIT_PREAMBLE
                  + field("a", f"{self.design};UserID=0XFFFFFFFF;Version=2023.2")
                  + field("b", XC7A35T_BIT_PART)
                  + field("c", "2026/01/01")
                  + field("d", "00:00:00")
                  + b"e" + struct.pack(">I", len(self.data)))
        return header + self.data

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.bit_file())
        return path


def _words_be(words):
    return struct.pack(f">{len(words)}I", *words)


HEAD_WORDS = 26
TAIL_WORDS = 28


def generate(frame_words, seed, idcode=XC7A35T_IDCODE, crc_fix=0):
    """A configuration of `frame_words` random frame words (from `seed`) written to FDRI.

    Dummy words, bus-width detection, sync, NOOP, RCRC, IDCODE, FAR, WCFG, FDRI (type 1, count
    0), a type-2 write of the frame words, the CRC, GRESTORE, START, NOOPs, DESYNC and 16
    NOOPs. `idcode` other than the part's, or a `crc_fix` XORed into the CRC word, makes a
    bitstream the FPGA must reject."""
    head = [DUMMY] * 8 + [BUS_WIDTH_SYNC, BUS_WIDTH_DETECT, DUMMY, DUMMY, SYNC_WORD, NOOP,
                          type1(OP_WRITE, REG_CMD, 1), CMD_RCRC,
                          NOOP, NOOP,
                          type1(OP_WRITE, REG_IDCODE, 1), idcode,
                          type1(OP_WRITE, REG_FAR, 1), 0x00000000,
                          type1(OP_WRITE, REG_CMD, 1), CMD_WCFG,
                          type1(OP_WRITE, REG_FDRI, 0),
                          type2(OP_WRITE, frame_words)]
    frames = random.Random(seed).randbytes(4 * frame_words)
    words = array.array("I", frames)
    if sys.byteorder == "little":
        words.byteswap()  # the frame bytes are big-endian words
    # RCRC cleared the CRC; the IDCODE, FAR, CMD (WCFG) and FDRI writes since count.
    crc = icap_crc(REG_IDCODE, idcode, 0)
    crc = icap_crc(REG_FAR, 0, crc)
    crc = icap_crc(REG_CMD, CMD_WCFG, crc)
    crc = FdriCrc().update(crc, words)
    tail = [type1(OP_WRITE, REG_CRC, 1), crc ^ crc_fix,
            type1(OP_WRITE, REG_CMD, 1), CMD_GRESTORE,
            type1(OP_WRITE, REG_CMD, 1), CMD_START,
            NOOP, NOOP, NOOP, NOOP,
            type1(OP_WRITE, REG_CMD, 1), CMD_DESYNC] + [NOOP] * 16
    assert len(head) == HEAD_WORDS and len(tail) == TAIL_WORDS
    return Bitstream(_words_be(head) + frames + _words_be(tail))


def openfpgaloader_safe(data_bytes):
    """Whether openFPGALoader shifts a bitstream of this many data bytes exactly: it sends
    bursts of len // 100 bytes and leaves Shift-DR only after a burst that runs past the end,
    so a length that a whole number of bursts fills (len % (len // 100) == 0) is shifted with
    one extra bit (and lengths under 100 bytes never end)."""
    burst = data_bytes // 100
    return burst > 0 and data_bytes % burst != 0


def frame_words_for(data_bytes):
    """The frame-word count giving a data section of about `data_bytes` bytes that
    openFPGALoader shifts exactly."""
    n = max(1, (data_bytes // 4) - HEAD_WORDS - TAIL_WORDS)
    while not openfpgaloader_safe(4 * (n + HEAD_WORDS + TAIL_WORDS)):
        n += 1
    return n


def sized(data_bytes, seed):
    """A bitstream whose data section is about `data_bytes` long (see frame_words_for)."""
    return generate(frame_words_for(data_bytes), seed)


def frame_data_bit_range(bitstream):
    """Bit offsets [start, end) of the frame data within the data section, in shift order
    (byte by byte, each MSB first): where a flipped bit breaks only the CRC."""
    return 32 * HEAD_WORDS, 8 * len(bitstream.data) - 32 * TAIL_WORDS


def parse_bit_file(raw):
    """(fields, data) of a .bit file: the header's text fields by key and the data section."""
    assert raw[:13] == BIT_PREAMBLE, "not a .bit file: preamble differs"
    pos = 13
    fields = {}
    while True:
        key = chr(raw[pos])
        pos += 1
        if key == "e":
            (length,) = struct.unpack_from(">I", raw, pos)
            pos += 4
            data = raw[pos:pos + length]
            assert len(data) == length, "truncated .bit data section"
            return fields, data
        (length,) = struct.unpack_from(">H", raw, pos)
        pos += 2
        fields[key] = raw[pos:pos + length].rstrip(b"\0").decode()
        pos += length


def check_configuration(data, idcode=XC7A35T_IDCODE):
    """Reads a data section the way the configuration logic does (32-bit big-endian words
    after the sync word) and returns the commands written, in order; raises AssertionError on
    a CRC mismatch or a wrong IDCODE. Independent of generate()'s bookkeeping: it is how the
    self-test proves the generator's packets and CRC."""
    words = struct.unpack(f">{len(data) // 4}I", data[:len(data) // 4 * 4])
    i = words.index(SYNC_WORD) + 1
    crc = 0
    reg = None
    commands = []
    while i < len(words):
        header = words[i]
        i += 1
        kind = header >> 29
        if kind == 0b001:
            op = (header >> 27) & 3
            reg = (header >> 13) & 0x1F
            count = header & 0x7FF
        elif kind == 0b010:
            op = (header >> 27) & 3
            count = header & 0x7FFFFFF
        else:
            raise AssertionError(f"unknown packet header {header:#010x} at word {i - 1}")
        if op != OP_WRITE:
            continue
        for word in words[i:i + count]:
            if reg == REG_CRC:
                assert word == crc, f"CRC written {word:#010x}, computed {crc:#010x}"
                crc = 0
                continue
            crc = icap_crc(reg, word, crc)
            if reg == REG_IDCODE:
                assert word == idcode, f"IDCODE written {word:#010x}, part is {idcode:#010x}"
            if reg == REG_CMD:
                commands.append(word)
                if word == CMD_RCRC:
                    crc = 0
        i += count
        if commands and commands[-1] == CMD_DESYNC:
            break
    return commands


def self_test():
    """The generator against independent facts: the CRC primitive gives CRC-32C's published
    check value, a generated file parses back with the right header and data, the packets
    check out (CRC, IDCODE, START then DESYNC), a changed CRC word is caught, sizes avoid
    openFPGALoader's exact-burst case, and the same seed gives the same bytes."""
    # CRC-32C("123456789") = 0xE3069283 (init and final XOR all ones, bytes LSB first).
    crc = 0xFFFFFFFF
    for b in b"123456789":
        crc = crc_bits(crc, b, 8)
    assert crc ^ 0xFFFFFFFF == 0xE3069283, "CRC-32C primitive is wrong"
    # The table-driven run equals the bit-serial definition.
    words = [random.Random(1).getrandbits(32) for _ in range(50)]
    serial = 0x12345678
    for w in words:
        serial = icap_crc(REG_FDRI, w, serial)
    assert FdriCrc().update(0x12345678, words) == serial, "table-driven CRC differs"

    b = generate(1000, seed=7)
    fields, data = parse_bit_file(b.bit_file())
    assert data == b.data
    assert fields["b"] == XC7A35T_BIT_PART and fields["a"].startswith(b.design)
    assert len(b.data) == 4 * (1000 + HEAD_WORDS + TAIL_WORDS)
    assert check_configuration(b.data) == [CMD_RCRC, CMD_WCFG, CMD_GRESTORE, CMD_START,
                                           CMD_DESYNC]
    assert generate(1000, seed=7).data == b.data and generate(1000, seed=8).data != b.data
    try:
        check_configuration(generate(1000, seed=7, crc_fix=1).data)
    except AssertionError as e:
        assert "CRC" in str(e)
    else:
        raise AssertionError("a wrong CRC word went unnoticed")
    try:
        check_configuration(generate(10, seed=7, idcode=0x0362D092).data)
    except AssertionError as e:
        assert "IDCODE" in str(e)
    else:
        raise AssertionError("a wrong IDCODE went unnoticed")
    for size in (4096, 100_000, 2 << 20, 10 << 20):
        n = frame_words_for(size)
        total = 4 * (n + HEAD_WORDS + TAIL_WORDS)
        assert openfpgaloader_safe(total) and abs(total - size) < 4096, (size, total)
    assert not openfpgaloader_safe(20000) and not openfpgaloader_safe(1050)
    start, end = frame_data_bit_range(b)
    assert start == 32 * HEAD_WORDS and end - start == 32 * 1000

