//! MPSSE command encoding for JTAG shifts, and decoding of the chip's reply into TDO.
//!
//! Pure: no I/O, so the exact bytes can be tested and benchmarked. An XVC shift (TMS and TDI
//! vectors) becomes a command stream plus a [`Plan`] that says where each reply byte's bits
//! belong in the TDO vector.
//!
//! How bits are encoded:
//! - Runs with TMS at 0 while the TMS pin is already 0 become byte commands (`0x39`, up to
//!   65536 bytes each, copied straight from the TDI vector) plus bit commands (`0x3B`) for the
//!   unaligned head and the tail. A data command clocks with TMS held at the pin's level, so
//!   it is used only when that level is what the bits need.
//! - Everything else (TMS transitions, TMS at 1, and the first TMS-0 bit after the pin was
//!   left at 1) becomes TMS commands (`0x6B`): up to 6 TMS bits with TDI constant in bit 7,
//!   and the last TMS bit repeated in the first unclocked bit, because that bit is the level
//!   the pin keeps afterwards.
//! - With TDO sampled on the falling edge the read variants are `0x3D`/`0x3F`/`0x6F`.
//! - Each shift ends with an echo guard (the invalid opcode `0xAA`, answered `FA AA`) and
//!   send-immediate (`0x87`): the guard proves the reply is aligned with the commands, the
//!   flush makes the chip send at once instead of after its latency timer.
//!
//! Bit-mode replies arrive left-justified: n bits read by one bit command are the top n bits
//! of the reply byte.

use crate::ftdi::chip::{op, Gpio, MAX_BITS_PER_COMMAND, MAX_BYTES_PER_COMMAND};
use crate::jtag::{get_bit, TapState};

/// Most TMS bits one TMS command carries here: bit 7 of its data byte is TDI, and the bit
/// after the last TMS bit must repeat it.
pub(crate) const MAX_TMS_BITS: usize = MAX_BITS_PER_COMMAND - 2;

/// The TCK edge on which TDO is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Edge {
    Rising,
    Falling,
}

impl Edge {
    fn read_flag(self) -> u8 {
        match self {
            Edge::Rising => 0,
            Edge::Falling => op::READ_NEG,
        }
    }
}

/// The MPSSE setup for a cable: clock options, loopback off, the low GPIO byte, the high one
/// when `writes_high` (else it stays as the chip reset it: inputs), divisor.
pub(crate) fn init_commands(gpio: Gpio, writes_high: bool, divisor: u16) -> Vec<u8> {
    let mut v = vec![
        op::DIV5_OFF,
        op::ADAPTIVE_OFF,
        op::THREE_PHASE_OFF,
        op::LOOPBACK_OFF,
        op::SET_LOW,
        gpio.low.value,
        gpio.low.dir,
    ];
    if writes_high {
        v.extend_from_slice(&[op::SET_HIGH, gpio.high.value, gpio.high.dir]);
    }
    v.extend_from_slice(&divisor_command(divisor));
    v
}

/// `86 lo hi`: sets the TCK divisor.
pub(crate) fn divisor_command(divisor: u16) -> [u8; 3] {
    let [lo, hi] = divisor.to_le_bytes();
    [op::SET_DIVISOR, lo, hi]
}

/// Where one piece of the reply goes in the TDO vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `len` reply bytes are TDO bytes starting at byte `at` (a byte command's reply).
    Bytes { at: usize, len: usize },
    /// One reply byte holds `n` bits (left-justified) for TDO bits starting at bit `at`.
    Bits { at: usize, n: u8 },
}

/// How to turn one shift's reply into TDO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    steps: Vec<Step>,
    nbits: usize,
    reply_len: usize,
    guard: bool,
}

impl Plan {
    /// Reply bytes the chip sends for the commands (echo guard included).
    pub fn reply_len(&self) -> usize {
        self.reply_len
    }

    /// Number of TDO bits the plan fills.
    pub fn nbits(&self) -> usize {
        self.nbits
    }

    fn clear(&mut self) {
        self.steps.clear();
        self.nbits = 0;
        self.reply_len = 0;
        self.guard = false;
    }

    fn push(&mut self, step: Step) {
        match (self.steps.last_mut(), step) {
            // Consecutive byte commands reply with contiguous bytes for contiguous TDO bytes.
            (Some(Step::Bytes { at, len }), Step::Bytes { at: at2, len: len2 })
                if *at + *len == at2 =>
            {
                *len += len2;
            }
            _ => self.steps.push(step),
        }
        self.reply_len += match step {
            Step::Bytes { len, .. } => len,
            Step::Bits { .. } => 1,
        };
    }
}

/// Why a reply could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("reply is {got} bytes, the commands produce {want}")]
    Length { got: usize, want: usize },
    #[error("echo guard reads {got:02X?}, expected [FA, AA]: reply out of step with commands")]
    Guard { got: [u8; 2] },
    #[error("TDO buffer of {got} bytes is too small for {nbits} bits")]
    TdoTooSmall { got: usize, nbits: usize },
}

/// Encodes shifts, carrying the TMS pin level and the TAP position from one shift to the next.
#[derive(Debug, Clone)]
pub struct Encoder {
    tms_pin: bool,
    edge: Edge,
    tap: Option<TapState>,
    /// Consecutive TMS ones seen while the TAP position is unknown.
    ones_run: usize,
    guard: bool,
}

impl Encoder {
    /// An encoder for a chip just initialised (GPIO init leaves the TMS pin at 1); the TAP
    /// position is unknown until five TMS ones have been clocked.
    pub fn new(edge: Edge) -> Self {
        Encoder {
            tms_pin: true,
            edge,
            tap: None,
            ones_run: 0,
            guard: true,
        }
    }

    /// Sets the level the TMS pin is known to have (after a GPIO write, say).
    pub fn set_tms_pin(&mut self, level: bool) {
        self.tms_pin = level;
    }

    /// The level the TMS pin holds after the commands encoded so far.
    pub fn tms_pin(&self) -> bool {
        self.tms_pin
    }

    /// The edge TDO is sampled on.
    pub fn edge(&self) -> Edge {
        self.edge
    }

    pub(crate) fn set_edge(&mut self, edge: Edge) {
        self.edge = edge;
    }

    /// Enables or disables the `AA` echo guard at the end of each shift (on by default).
    pub fn set_echo_guard(&mut self, on: bool) {
        self.guard = on;
    }

    /// Where the target's TAP stands after the shifts encoded so far, if known.
    pub fn tap_state(&self) -> Option<TapState> {
        self.tap
    }

    /// Appends the commands for one shift to `out` and fills `plan` to decode its reply.
    /// `tms` and `tdi` hold at least `ceil(nbits / 8)` bytes; padding bits are ignored.
    pub fn encode(
        &mut self,
        nbits: u32,
        tms: &[u8],
        tdi: &[u8],
        out: &mut Vec<u8>,
        plan: &mut Plan,
    ) {
        plan.clear();
        let n = nbits as usize;
        plan.nbits = n;
        out.reserve(n / 8 + 16 + n / (MAX_BYTES_PER_COMMAND * 8) * 3);
        let mut i = 0;
        while i < n {
            if !self.tms_pin && !get_bit(tms, i) {
                let end = zero_run_end(tms, i, n);
                self.data_run(tdi, i, end, out, plan);
                self.advance_tap(false, end - i);
                i = end;
            } else {
                i = self.tms_command(tms, tdi, i, n, out, plan);
            }
        }
        if self.guard {
            out.push(op::ECHO);
            plan.reply_len += 2;
            plan.guard = true;
        }
        out.push(op::SEND_IMMEDIATE);
    }

    /// One TMS command for up to six bits from `i` sharing one TDI level; returns the next
    /// bit position.
    fn tms_command(
        &mut self,
        tms: &[u8],
        tdi: &[u8],
        i: usize,
        n: usize,
        out: &mut Vec<u8>,
        plan: &mut Plan,
    ) -> usize {
        let d = get_bit(tdi, i);
        let mut k = 0;
        let mut bits = 0u8;
        let mut last = false;
        while k < MAX_TMS_BITS && i + k < n && get_bit(tdi, i + k) == d {
            last = get_bit(tms, i + k);
            bits |= u8::from(last) << k;
            self.advance_tap(last, 1);
            k += 1;
        }
        // The first unclocked bit is the level the pin keeps: repeat the last TMS bit there.
        let data = bits | (u8::from(last) << k) | (u8::from(d) << 7);
        out.extend_from_slice(&[op::SHIFT_TMS | self.edge.read_flag(), (k - 1) as u8, data]);
        plan.push(Step::Bits { at: i, n: k as u8 });
        self.tms_pin = last;
        i + k
    }

    /// Data commands for bits `start..end`, all with TMS 0 (the pin is already 0).
    fn data_run(&self, tdi: &[u8], start: usize, end: usize, out: &mut Vec<u8>, plan: &mut Plan) {
        let bits_op = op::SHIFT_BITS | self.edge.read_flag();
        let bytes_op = op::SHIFT_BYTES | self.edge.read_flag();
        let mut i = start;
        let head = (8 - i % 8) % 8;
        if head > 0 && i + head + 8 <= end {
            out.extend_from_slice(&[bits_op, (head - 1) as u8, read_bits8(tdi, i, head)]);
            plan.push(Step::Bits {
                at: i,
                n: head as u8,
            });
            i += head;
        }
        if i % 8 == 0 {
            let nbytes = (end - i) / 8;
            let first = i / 8;
            for (c, chunk) in tdi[first..first + nbytes]
                .chunks(MAX_BYTES_PER_COMMAND)
                .enumerate()
            {
                let [lo, hi] = ((chunk.len() - 1) as u16).to_le_bytes();
                out.extend_from_slice(&[bytes_op, lo, hi]);
                out.extend_from_slice(chunk);
                plan.push(Step::Bytes {
                    at: first + c * MAX_BYTES_PER_COMMAND,
                    len: chunk.len(),
                });
            }
            i += nbytes * 8;
        }
        while i < end {
            let k = (end - i).min(8);
            out.extend_from_slice(&[bits_op, (k - 1) as u8, read_bits8(tdi, i, k)]);
            plan.push(Step::Bits { at: i, n: k as u8 });
            i += k;
        }
    }

    fn advance_tap(&mut self, tms: bool, count: usize) {
        match self.tap {
            // Every state settles after at most five equal TMS bits.
            Some(mut s) => {
                for _ in 0..count.min(5) {
                    s = s.next(tms);
                }
                self.tap = Some(s);
            }
            None if tms => {
                self.ones_run += count;
                if self.ones_run >= 5 {
                    self.tap = Some(TapState::TestLogicReset);
                }
            }
            None => self.ones_run = 0,
        }
    }
}

/// First bit at or after `i` (and before `n`) whose TMS is 1, else `n`. Scans a word at a time.
fn zero_run_end(tms: &[u8], mut i: usize, n: usize) -> usize {
    while i < n && i % 8 != 0 {
        if get_bit(tms, i) {
            return i;
        }
        i += 1;
    }
    while i + 64 <= n {
        let b = i / 8;
        let w = u64::from_le_bytes(tms[b..b + 8].try_into().expect("8 bytes"));
        if w != 0 {
            return i + w.trailing_zeros() as usize;
        }
        i += 64;
    }
    while i + 8 <= n {
        let b = tms[i / 8];
        if b != 0 {
            return i + b.trailing_zeros() as usize;
        }
        i += 8;
    }
    while i < n {
        if get_bit(tms, i) {
            return i;
        }
        i += 1;
    }
    n
}

/// Reads `k` ≤ 8 bits starting at bit `at` (bits above `k` are 0).
#[inline]
fn read_bits8(v: &[u8], at: usize, k: usize) -> u8 {
    let b = at / 8;
    let lo = u16::from(v[b]);
    let hi = if at % 8 + k > 8 {
        u16::from(v[b + 1])
    } else {
        0
    };
    let w = (lo | hi << 8) >> (at % 8);
    (w & ((1u16 << k) - 1)) as u8
}

/// ORs `k` ≤ 8 bits into a bit vector at bit `at`.
#[inline]
fn or_bits8(v: &mut [u8], at: usize, k: usize, bits: u8) {
    let b = at / 8;
    let w = (u16::from(bits) & ((1u16 << k) - 1)) << (at % 8);
    v[b] |= w as u8;
    if at % 8 + k > 8 {
        v[b + 1] |= (w >> 8) as u8;
    }
}

/// Turns the reply to one shift's commands into TDO bits (LSB first, padding bits 0).
pub fn decode(plan: &Plan, reply: &[u8], tdo: &mut [u8]) -> Result<(), DecodeError> {
    if reply.len() != plan.reply_len {
        return Err(DecodeError::Length {
            got: reply.len(),
            want: plan.reply_len,
        });
    }
    let nbytes = plan.nbits.div_ceil(8);
    if tdo.len() < nbytes {
        return Err(DecodeError::TdoTooSmall {
            got: tdo.len(),
            nbits: plan.nbits,
        });
    }
    if plan.guard {
        let got = [reply[reply.len() - 2], reply[reply.len() - 1]];
        if got != [op::BAD_COMMAND, op::ECHO] {
            return Err(DecodeError::Guard { got });
        }
    }
    tdo[..nbytes].fill(0);
    let mut pos = 0;
    for step in &plan.steps {
        match *step {
            Step::Bytes { at, len } => {
                tdo[at..at + len].copy_from_slice(&reply[pos..pos + len]);
                pos += len;
            }
            Step::Bits { at, n } => {
                // Bits enter the reply byte from the top: n bits sit left-justified.
                or_bits8(tdo, at, n as usize, reply[pos] >> (8 - n));
                pos += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftdi::chip::{self, Port};

    fn encode(enc: &mut Encoder, nbits: u32, tms: &[u8], tdi: &[u8]) -> (Vec<u8>, Plan) {
        let mut out = Vec::new();
        let mut plan = Plan::default();
        enc.encode(nbits, tms, tdi, &mut out, &mut plan);
        (out, plan)
    }

    #[test]
    fn hs2_init_bytes() {
        assert_eq!(
            init_commands(
                Gpio {
                    low: Port::new(0xE8, 0xEB),
                    high: Port::new(0x00, 0x60),
                },
                true,
                0
            ),
            [0x8A, 0x97, 0x8D, 0x85, 0x80, 0xE8, 0xEB, 0x82, 0x00, 0x60, 0x86, 0x00, 0x00]
        );
        // A board whose high byte is unknown (or an FT4232H, which has none): never written.
        assert_eq!(
            init_commands(
                Gpio {
                    low: Port::new(0x88, 0x8B),
                    high: Port::new(0, 0),
                },
                false,
                0
            ),
            [0x8A, 0x97, 0x8D, 0x85, 0x80, 0x88, 0x8B, 0x86, 0x00, 0x00]
        );
        assert_eq!(divisor_command(0x1234), [0x86, 0x34, 0x12]);
    }

    #[test]
    fn test_logic_reset_is_one_tms_command() {
        let mut enc = Encoder::new(Edge::Rising);
        let (out, plan) = encode(&mut enc, 5, &[0x1F], &[0]);
        // Five ones, the sixth (unclocked) bit repeats the last so TMS stays high.
        assert_eq!(out, [0x6B, 0x04, 0x3F, 0xAA, 0x87]);
        assert_eq!(plan.reply_len(), 3);
        assert!(enc.tms_pin());
        assert_eq!(enc.tap_state(), Some(TapState::TestLogicReset));
    }

    #[test]
    fn ir_scan_bytes() {
        let mut enc = Encoder::new(Edge::Rising);
        enc.set_tms_pin(false);
        // From Run-Test/Idle: Select-DR, Select-IR, Capture-IR, Shift-IR; IDCODE (0x09) in six
        // bits, the last leaving to Exit1-IR; Update-IR; Run-Test/Idle.
        let tms = [0x03, 0x06];
        let tdi = [0x90, 0x00];
        let (out, plan) = encode(&mut enc, 12, &tms, &tdi);
        assert_eq!(
            out,
            [0x6B, 0x03, 0x03, 0x3B, 0x04, 0x09, 0x6B, 0x02, 0x03, 0xAA, 0x87]
        );
        assert_eq!(plan.reply_len(), 5);
        assert!(!enc.tms_pin());
        // Captured IR 0b010001 (DONE low, INIT high, fixed 01), TDO high outside Shift-IR.
        // TMS command 1: four bits, TDO 1 1 1 1 -> left-justified 0xF0.
        // Bit command: five bits 1 0 0 0 1 -> 0b10001 << 3.
        // TMS command 2: three bits 0 1 1 -> 0b110 << 5.
        let reply = [0xF0, 0b1000_1000, 0b1100_0000, 0xFA, 0xAA];
        let mut tdo = [0xFF; 2];
        decode(&plan, &reply, &mut tdo).unwrap();
        assert_eq!(tdo, [0b0001_1111, 0b0000_1101]);
    }

    #[test]
    fn dr_scan_bytes() {
        let mut enc = Encoder::new(Edge::Rising);
        enc.set_tms_pin(false);
        // Select-DR, Capture-DR, Shift-DR, 32 bits (last to Exit1-DR), Update-DR, Run-Test/Idle.
        let mut tms = [0u8; 5];
        for i in [0, 34, 35] {
            tms[i / 8] |= 1 << (i % 8);
        }
        let (out, plan) = encode(&mut enc, 37, &tms, &[0; 5]);
        assert_eq!(
            out,
            [
                0x6B, 0x05, 0x01, // TMS 1 0 0 0 0 0: into Shift-DR, three data bits
                0x3B, 0x01, 0x00, // two bits up to the byte boundary
                0x39, 0x02, 0x00, 0x00, 0x00, 0x00, // three bytes
                0x3B, 0x01, 0x00, // two more bits
                0x6B, 0x02, 0x03, // last data bit with TMS 1, Update-DR, Run-Test/Idle
                0xAA, 0x87,
            ]
        );
        assert_eq!(plan.reply_len(), 1 + 1 + 3 + 1 + 1 + 2);
        assert_eq!(enc.tap_state(), None);
    }

    #[test]
    fn falling_edge_variants() {
        let mut enc = Encoder::new(Edge::Falling);
        let (out, _) = encode(&mut enc, 20, &[0x01, 0, 0], &[0; 3]);
        assert_eq!(out[0], 0x6F);
        assert!(out.contains(&0x3D) || out.contains(&0x3F));
        assert!(!out.contains(&0x39) && !out.contains(&0x3B) && !out.contains(&0x6B));
    }

    #[test]
    fn long_runs_split_into_64k_commands_and_stay_lean() {
        let mut enc = Encoder::new(Edge::Rising);
        enc.set_tms_pin(false);
        let nbytes = 3 * MAX_BYTES_PER_COMMAND + 10;
        let tdi: Vec<u8> = (0..nbytes).map(|i| (i * 7) as u8).collect();
        let tms = vec![0u8; nbytes];
        let (out, plan) = encode(&mut enc, (nbytes * 8) as u32, &tms, &tdi);
        assert_eq!(&out[..3], &[0x39, 0xFF, 0xFF]);
        assert_eq!(
            &out[3..3 + MAX_BYTES_PER_COMMAND],
            &tdi[..MAX_BYTES_PER_COMMAND]
        );
        let second = 3 + MAX_BYTES_PER_COMMAND;
        assert_eq!(&out[second..second + 3], &[0x39, 0xFF, 0xFF]);
        assert_eq!(out.len(), nbytes + 4 * 3 + 2);
        assert!(out.len() as f64 <= nbytes as f64 * 1.01);
        assert_eq!(plan.reply_len(), nbytes + 2);
        // The decoder puts the reply bytes back in place.
        let mut reply = tdi.clone();
        reply.extend_from_slice(&[0xFA, 0xAA]);
        let mut tdo = vec![0; nbytes];
        decode(&plan, &reply, &mut tdo).unwrap();
        assert_eq!(tdo, tdi);
    }

    #[test]
    fn first_zero_after_tms_high_uses_a_tms_command() {
        // Pin at 1 (after init): a TMS-0 data run must not be clocked by a data command.
        let mut enc = Encoder::new(Edge::Rising);
        let tdi = [0x5A; 4];
        let (out, _) = encode(&mut enc, 32, &[0; 4], &tdi);
        assert_eq!(out[0], 0x6B);
        assert_eq!(
            out[2] & 0x7F,
            0x00,
            "TMS bits 0, repeated 0 holds the pin low"
        );
        assert!(!enc.tms_pin());
    }

    #[test]
    fn guard_and_length_errors() {
        let mut enc = Encoder::new(Edge::Rising);
        let (_, plan) = encode(&mut enc, 5, &[0x1F], &[0]);
        let mut tdo = [0];
        assert_eq!(
            decode(&plan, &[0, 0xFA, 0xAB], &mut tdo),
            Err(DecodeError::Guard { got: [0xFA, 0xAB] })
        );
        assert!(matches!(
            decode(&plan, &[0, 0xFA], &mut tdo),
            Err(DecodeError::Length { got: 2, want: 3 })
        ));
        decode(&plan, &[0xF8, 0xFA, 0xAA], &mut tdo).unwrap();
        assert_eq!(tdo, [0x1F]);
    }

    #[test]
    fn padding_bits_are_ignored_and_zeroed() {
        let mut enc = Encoder::new(Edge::Rising);
        enc.set_tms_pin(false);
        // 3 bits, junk in the padding bits of both vectors.
        let (out, plan) = encode(&mut enc, 3, &[0xF8], &[0xFD]);
        assert_eq!(out, [0x3B, 0x02, 0x05, 0xAA, 0x87]);
        let mut tdo = [0xFF];
        decode(&plan, &[0xE0, 0xFA, 0xAA], &mut tdo).unwrap();
        assert_eq!(tdo, [0x07]);
    }

    /// Parsed with the chip's command table, an encoded stream is whole commands whose
    /// replies add up to what the plan expects.
    #[test]
    fn encoded_streams_parse_as_the_chip_parses_them() {
        let mut seed = 0x1234_5678u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        };
        for (edge, nbytes) in [
            (Edge::Rising, 40),
            (Edge::Falling, 300),
            (Edge::Rising, 3000),
        ] {
            let mut enc = Encoder::new(edge);
            let tdi: Vec<u8> = (0..nbytes).map(|_| next()).collect();
            // Sparse TMS ones: long data runs broken by TMS commands.
            let tms: Vec<u8> = (0..nbytes).map(|_| next() & next() & next()).collect();
            let nbits = (nbytes * 8 - 3) as u32;
            let (out, plan) = encode(&mut enc, nbits, &tms, &tdi);
            assert_eq!(chip::reply_len(&out), Some(plan.reply_len()));
        }
    }
}
