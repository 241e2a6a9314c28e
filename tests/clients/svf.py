"""SVF files for the client conformance suite: a few hundred SIR/SDR lines whose TDO the
simulated xc7a35t's answers fix, so a client that plays them proves its shifts (lengths that
are not multiples of 8 included) reach the chain and come back bit for bit.

Every expectation follows from IEEE 1149.1 and the part: Capture-IR loads ...01 (the upper
bits carry configuration status, so they are masked); IDCODE is a 32-bit register holding
0x0362D093, after which the bits shifted in come back out; BYPASS is one bit that captures 0.
One SVF dialect that openFPGALoader and OpenOCD both read: one command per line, values in
parentheses as separate words, TDI on every scan, MASK wherever TDO is given, no blank lines.
"""

import random

from facts import XC7A35T_IDCODE

IR_LEN = 6
IR_IDCODE = 0x09
IR_USERCODE = 0x08
IR_BYPASS = 0x3F


def _hex(value, nbits):
    return f"{value:0{(nbits + 3) // 4}X}"


def _mask(nbits):
    return (1 << nbits) - 1


class SvfWriter:
    def __init__(self):
        self.lines = []
        self.checks = 0

    def line(self, text):
        self.lines.append(text + ";")

    def comment(self, text):
        self.lines.append("! " + text)

    def scan(self, kind, nbits, tdi, tdo=None, mask=None):
        text = f"{kind} {nbits} TDI ({_hex(tdi, nbits)})"
        if tdo is not None:
            if mask is None:
                mask = _mask(nbits)
            text += f" TDO ({_hex(tdo & mask, nbits)}) MASK ({_hex(mask, nbits)})"
            self.checks += 1
        self.line(text)

    def sir(self, instruction):
        """Loads an instruction; the captured IR must end in 01."""
        self.scan("SIR", IR_LEN, instruction, tdo=0b01, mask=0b11)

    def text(self):
        return "\n".join(self.lines) + "\n"


def conformance_svf(seed=2542, rounds=48, wrong_idcode_at=None):
    """The SVF text and the number of TDO checks in it.

    Each round: IDCODE read (32 bits, and 32 + k bits that return the first k bits shifted
    in), BYPASS scans of lengths 1..71 (TDO is TDI one bit late), an IR scan longer than the
    IR (the captured bits, then what was shifted in), USERCODE selected and shifted, and a
    short RUNTEST. With `wrong_idcode_at` = r, round r expects an IDCODE one off: a client
    must report that mismatch and fail."""
    rng = random.Random(seed)
    w = SvfWriter()
    w.comment("xvc-agent client conformance: IDCODE, BYPASS, USERCODE, long IR scans")
    for cmd in ("TRST ABSENT", "ENDIR IDLE", "ENDDR IDLE", "HIR 0", "HDR 0", "TIR 0", "TDR 0",
                "STATE RESET", "STATE IDLE"):
        w.line(cmd)
    for r in range(rounds):
        idcode = XC7A35T_IDCODE ^ (1 if r == wrong_idcode_at else 0)
        w.sir(IR_IDCODE)
        w.scan("SDR", 32, rng.getrandbits(32), tdo=idcode)
        k = rng.randint(1, 40)
        tdi = rng.getrandbits(32 + k)
        # Shift-DR holds IDCODE again after Capture-DR: 32 bits out, then TDI's low k bits.
        w.scan("SDR", 32 + k, tdi, tdo=idcode | ((tdi & _mask(k)) << 32))
        w.sir(IR_BYPASS)
        for n in sorted(rng.sample(range(1, 72), 3)):
            tdi = rng.getrandbits(n)
            w.scan("SDR", n, tdi, tdo=(tdi << 1) & _mask(n))
        # An IR scan of 6 + k bits: the 6 captured bits (...01) come out first, then the low
        # k bits shifted in; the IR keeps the last 6 (BYPASS here).
        k = rng.randint(1, 10)
        low = rng.getrandbits(k)
        tdi = (IR_BYPASS << k) | low
        w.scan("SIR", IR_LEN + k, tdi, tdo=0b01 | (low << IR_LEN),
               mask=0b11 | (_mask(k) << IR_LEN))
        w.scan("SDR", 1, 1, tdo=0)
        w.sir(IR_USERCODE)
        w.scan("SDR", 32, rng.getrandbits(32))
        w.line(f"RUNTEST {rng.randint(1, 40)} TCK")
    w.sir(IR_BYPASS)
    w.line("STATE RESET")
    return w.text(), w.checks
