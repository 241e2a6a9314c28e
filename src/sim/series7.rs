//! The configuration logic of a simulated Xilinx 7-series part: what happens to the bits a
//! programmer shifts into CFG_IN, so that a simulated FPGA says DONE only for a real
//! configuration and reports exactly what it received.
//!
//! Two things are kept apart:
//! - the **record** ([`Series7Config::cfg_in_bits`], [`Series7Config::cfg_in_sha256`]): every
//!   bit shifted while CFG_IN was selected since the last JPROGRAM, packed as the
//!   configuration logic reads them — most significant bit of each byte first, in arrival
//!   order — so that its SHA-256 equals `sha256sum` of the raw bitstream (a `.bin` file, or a
//!   `.bit` without its header) for a client that sends each byte MSB first, as
//!   openFPGALoader and OpenOCD's `pld load` do;
//! - the **packet processor** ([`PacketProcessor`], pure): UG470's configuration packets read
//!   from those bits. It finds the sync word `0xAA995566` at any bit offset, then reads 32-bit
//!   words: type-1 and type-2 headers and the register writes they announce. It keeps the
//!   configuration CRC (CRC-32C over 37-bit `(register << 32) | word` values, least
//!   significant bit first, as the part computes it), checks it at each write to the CRC
//!   register, checks a write to the IDCODE register against the part, and notes the START
//!   and DESYNC commands. A stream that holds a sync word, then START, then DESYNC, with no
//!   CRC or IDCODE error and no undefined packet, is a complete configuration.
//!
//! DONE then rises once the startup sequence has run: a number of TCK cycles in
//! Run-Test/Idle after the configuration completed. JSTART restarts that count but is not
//! required: UG470 lists it as optional in the JTAG configuration flow (the startup clock of
//! a default bitstream is the part's own), and OpenOCD's 7-series driver does not send it.
//! A stream shifted by a dropped bit, truncated or garbled leaves DONE low, and a failed CRC
//! or IDCODE check also drops INIT (the capture bits of the instruction register show both),
//! as INIT_B goes low on the chip.
//!
//! [`write_packets`] is the inverse: it builds a well-formed bitstream body (the bytes of a
//! `.bin`) around frame data, which the tests and the examples use.

use crate::sim::parts::series7;
use sha2::{Digest, Sha256};

/// Configuration registers (UG470, "Type 1 packet registers").
pub mod reg {
    pub const CRC: u8 = 0x00;
    pub const FAR: u8 = 0x01;
    pub const FDRI: u8 = 0x02;
    pub const CMD: u8 = 0x04;
    pub const IDCODE: u8 = 0x0C;
}

/// Commands written to the CMD register (UG470, "Command register").
pub mod cmd {
    pub const WCFG: u32 = 0x01;
    pub const START: u32 = 0x05;
    pub const RCRC: u32 = 0x07;
    pub const GRESTORE: u32 = 0x0A;
    pub const DESYNC: u32 = 0x0D;
}

/// The word that starts packet processing.
pub const SYNC_WORD: u32 = 0xAA99_5566;
/// A type-1 NOP packet.
pub const NOP: u32 = 0x2000_0000;
/// Dummy padding before the sync word.
pub const DUMMY: u32 = 0xFFFF_FFFF;
/// The bus-width detection pattern that precedes the sync word in every bitstream.
pub const BUS_WIDTH_DETECT: [u32; 2] = [0x0000_00BB, 0x1122_0044];

const OP_NOP: u32 = 0;
const OP_READ: u32 = 1;
const OP_WRITE: u32 = 2;

/// A type-1 header: write `count` words to `register`.
pub fn type1_write(register: u8, count: u32) -> u32 {
    debug_assert!(count < 1 << 11);
    (1 << 29) | (OP_WRITE << 27) | (u32::from(register & 0x1F) << 13) | count
}

/// A type-2 header: write `count` words to the register of the type-1 header before it.
pub fn type2_write(count: u32) -> u32 {
    debug_assert!(count < 1 << 27);
    (2 << 29) | (OP_WRITE << 27) | count
}

/// The configuration CRC extended by one register write: CRC-32C (reflected polynomial
/// 0x82F63B78) over the 37-bit value `(register << 32) | word`, least significant bit first.
pub fn crc_step(crc: u32, register: u8, word: u32) -> u32 {
    const POLY: u32 = 0x82F6_3B78;
    let mut value = (u64::from(register & 0x1F) << 32) | u64::from(word);
    let mut crc = crc;
    for _ in 0..37 {
        let feedback = (crc ^ value as u32) & 1;
        crc >>= 1;
        if feedback != 0 {
            crc ^= POLY;
        }
        value >>= 1;
    }
    crc
}

/// Why a configuration failed, as the part would flag it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("CRC mismatch: the stream says {given:#010x}, the data gives {computed:#010x}")]
    Crc { given: u32, computed: u32 },
    #[error("IDCODE mismatch: the stream is for {given:#010x}, the part is {part:#010x}")]
    Idcode { given: u32, part: u32 },
    #[error("undefined packet header {0:#010x}")]
    Packet(u32),
}

/// Where the packet processor stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Looking for the sync word, one bit at a time.
    Hunting,
    /// Expecting a packet header.
    Header,
    /// Taking `remaining` data words for `register`.
    Data { register: u8, remaining: u32 },
    /// An error was flagged: nothing more is processed until JPROGRAM.
    Failed,
}

/// UG470's packet processing over the configuration words, from the sync word on. Pure: it
/// is given bits and words and says whether a complete, error-free configuration arrived.
#[derive(Debug, Clone)]
pub struct PacketProcessor {
    idcode: u32,
    stage: Stage,
    /// The last 32 bits while hunting, the first one received in bit 31.
    window: u32,
    /// The register the last type-1 header named (for type-2 headers).
    last_register: u8,
    crc: u32,
    started: bool,
    complete: bool,
    error: Option<ConfigError>,
}

impl PacketProcessor {
    /// A processor for a part whose IDCODE is `idcode`, hunting for the sync word.
    pub fn new(idcode: u32) -> Self {
        PacketProcessor {
            idcode,
            stage: Stage::Hunting,
            window: 0,
            last_register: 0,
            crc: 0,
            started: false,
            complete: false,
            error: None,
        }
    }

    /// Whether a sync word was followed by START and DESYNC without an error.
    pub fn complete(&self) -> bool {
        self.complete && self.error.is_none()
    }

    /// The error that stopped processing, if any.
    pub fn error(&self) -> Option<&ConfigError> {
        self.error.as_ref()
    }

    /// Whether the processor is between a sync word and a DESYNC (takes whole words).
    fn synced(&self) -> bool {
        matches!(self.stage, Stage::Header | Stage::Data { .. })
    }

    /// Takes one bit while hunting for the sync word.
    fn hunt(&mut self, bit: bool) {
        self.window = (self.window << 1) | u32::from(bit);
        if self.window == SYNC_WORD {
            self.stage = Stage::Header;
        }
    }

    /// Takes one 32-bit configuration word after the sync word.
    pub fn word(&mut self, w: u32) {
        match self.stage {
            Stage::Hunting | Stage::Failed => {}
            Stage::Header => self.header(w),
            Stage::Data {
                register,
                remaining,
            } => {
                self.stage = if remaining > 1 {
                    Stage::Data {
                        register,
                        remaining: remaining - 1,
                    }
                } else {
                    Stage::Header
                };
                self.write(register, w);
            }
        }
    }

    fn header(&mut self, w: u32) {
        let op = (w >> 27) & 0b11;
        let (register, count) = match w >> 29 {
            1 => {
                let register = ((w >> 13) & 0x1F) as u8;
                self.last_register = register;
                (register, w & 0x7FF)
            }
            2 => (self.last_register, w & 0x07FF_FFFF),
            _ => return self.fail(ConfigError::Packet(w)),
        };
        match op {
            OP_NOP => {}
            // Read data leaves through CFG_OUT; nothing follows on CFG_IN.
            OP_READ => {}
            OP_WRITE if count > 0 => {
                self.stage = Stage::Data {
                    register,
                    remaining: count,
                }
            }
            OP_WRITE => {}
            _ => self.fail(ConfigError::Packet(w)),
        }
    }

    fn write(&mut self, register: u8, w: u32) {
        if register == reg::CRC {
            if w != self.crc {
                return self.fail(ConfigError::Crc {
                    given: w,
                    computed: self.crc,
                });
            }
            self.crc = 0;
            return;
        }
        self.crc = crc_step(self.crc, register, w);
        match register {
            reg::IDCODE if w != self.idcode => self.fail(ConfigError::Idcode {
                given: w,
                part: self.idcode,
            }),
            reg::CMD => match w & 0x1F {
                cmd::RCRC => self.crc = 0,
                cmd::START => self.started = true,
                cmd::DESYNC => {
                    self.complete = self.started;
                    self.stage = Stage::Hunting;
                    self.window = 0;
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn fail(&mut self, e: ConfigError) {
        self.error = Some(e);
        self.stage = Stage::Failed;
    }
}

/// A well-formed bitstream body (the bytes of a `.bin`, big-endian words) for a part with
/// `idcode`: padding, bus-width detection and sync, RCRC, the IDCODE check, a frame address,
/// WCFG, `frames` written to FDRI, the CRC check, GRESTORE, START and DESYNC.
pub fn write_packets(idcode: u32, frames: &[u32]) -> Vec<u8> {
    let mut words = vec![DUMMY; 8];
    words.extend(BUS_WIDTH_DETECT);
    words.extend([DUMMY, DUMMY, SYNC_WORD, NOP]);
    // RCRC clears the CRC: it covers the writes after it.
    words.extend([type1_write(reg::CMD, 1), cmd::RCRC, NOP, NOP]);
    let mut crc = 0;
    let mut write = |words: &mut Vec<u32>, header: u32, register: u8, data: &[u32]| {
        words.push(header);
        for &w in data {
            words.push(w);
            crc = crc_step(crc, register, w);
        }
    };
    write(
        &mut words,
        type1_write(reg::IDCODE, 1),
        reg::IDCODE,
        &[idcode],
    );
    write(&mut words, type1_write(reg::FAR, 1), reg::FAR, &[0]);
    write(&mut words, type1_write(reg::CMD, 1), reg::CMD, &[cmd::WCFG]);
    words.push(type1_write(reg::FDRI, 0));
    write(
        &mut words,
        type2_write(frames.len() as u32),
        reg::FDRI,
        frames,
    );
    words.extend([type1_write(reg::CRC, 1), crc]);
    words.extend([type1_write(reg::CMD, 1), cmd::GRESTORE]);
    words.extend([type1_write(reg::CMD, 1), cmd::START]);
    words.extend([NOP; 4]);
    words.extend([type1_write(reg::CMD, 1), cmd::DESYNC]);
    words.extend([NOP; 16]);
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// What a simulated 7-series part received and made of it: the record status shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRecord {
    /// The part's name, e.g. `xc7a35t`.
    pub part: &'static str,
    /// CFG_IN bits since the last JPROGRAM.
    pub cfg_in_bits: u64,
    /// SHA-256 of those bits, MSB first per byte (see the module documentation).
    pub sha256: [u8; 32],
    /// The DONE signal.
    pub done: bool,
    /// Why the configuration logic stopped, if it flagged an error.
    pub error: Option<String>,
}

impl ConfigRecord {
    /// The SHA-256 in hex, as `sha256sum` prints it.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Called with the record when a configuration completes (DONE rises).
pub type OnConfigured = std::sync::Arc<dyn Fn(&ConfigRecord) + Send + Sync>;

/// State of a 7-series part's configuration logic.
#[derive(Clone)]
pub struct Series7Config {
    part: &'static str,
    done: bool,
    isc_done: bool,
    /// TCK cycles of housecleaning left before INIT reads back high.
    housecleaning: u64,
    /// Run-Test/Idle cycles clocked under JSTART.
    startup: u64,
    bits: u64,
    /// Bits not yet forming a whole byte (first received in bit 0) and how many there are.
    acc: u64,
    acc_n: u32,
    /// Whole bytes waiting to be hashed (hashing in blocks is much faster than per byte).
    pending: Vec<u8>,
    hasher: Sha256,
    /// Bits towards the next configuration word (first received in bit 0) and their count.
    word_acc: u64,
    word_n: u32,
    packets: PacketProcessor,
    /// Test-only fault: this CFG_IN bit (counted from 0 since JPROGRAM) arrives inverted.
    flip_bit: Option<u64>,
    on_configured: Option<OnConfigured>,
}

impl std::fmt::Debug for Series7Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series7Config")
            .field("part", &self.part)
            .field("done", &self.done)
            .field("bits", &self.bits)
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

const PENDING_BYTES: usize = 4096;

impl Series7Config {
    /// The configuration logic of an unconfigured `part` (named `name`, IDCODE `idcode`).
    pub fn new(name: &'static str, idcode: u32) -> Self {
        Series7Config {
            part: name,
            done: false,
            isc_done: false,
            housecleaning: 0,
            startup: 0,
            bits: 0,
            acc: 0,
            acc_n: 0,
            pending: Vec::with_capacity(PENDING_BYTES),
            hasher: Sha256::new(),
            word_acc: 0,
            word_n: 0,
            packets: PacketProcessor::new(idcode),
            flip_bit: None,
            on_configured: None,
        }
    }

    /// Makes CFG_IN bit `n` (from 0, since each JPROGRAM) arrive inverted: a one-bit glitch
    /// on TDI, to prove that the record and DONE catch a corrupted stream.
    pub fn flip_cfg_in_bit(&mut self, n: u64) {
        self.flip_bit = Some(n);
    }

    /// Calls `f` with the record each time a configuration completes.
    pub fn on_configured(&mut self, f: OnConfigured) {
        self.on_configured = Some(f);
    }

    /// Whether the DONE signal is high.
    pub fn done(&self) -> bool {
        self.done
    }

    /// Whether housecleaning after JPROGRAM has finished and no configuration error was
    /// flagged (INIT high).
    pub fn init_complete(&self) -> bool {
        self.housecleaning == 0 && self.packets.error().is_none()
    }

    /// CFG_IN bits received since the last JPROGRAM.
    pub fn cfg_in_bits(&self) -> u64 {
        self.bits
    }

    /// SHA-256 of the CFG_IN bits received since the last JPROGRAM, packed MSB first in
    /// arrival order (the first bit is bit 7 of byte 0); a trailing partial byte is padded
    /// with zero bits.
    pub fn cfg_in_sha256(&self) -> [u8; 32] {
        let mut h = self.hasher.clone();
        h.update(&self.pending);
        if self.acc_n > 0 {
            h.update([(self.acc as u8).reverse_bits()]);
        }
        h.finalize().into()
    }

    /// The record status shows.
    pub fn record(&self) -> ConfigRecord {
        ConfigRecord {
            part: self.part,
            cfg_in_bits: self.bits,
            sha256: self.cfg_in_sha256(),
            done: self.done,
            error: self.packets.error().map(ToString::to_string),
        }
    }

    pub(crate) fn capture_bits(&self) -> u64 {
        let mut v = series7::CAPTURE_FIXED;
        if self.isc_done {
            v |= series7::CAPTURE_ISC_DONE;
        }
        if self.init_complete() {
            v |= series7::CAPTURE_INIT;
        }
        if self.done {
            v |= series7::CAPTURE_DONE;
        }
        v
    }

    /// JPROGRAM: clears the configuration and the record; the fault and the observer stay.
    pub(crate) fn jprogram(&mut self) {
        *self = Series7Config {
            housecleaning: series7::HOUSECLEANING_CYCLES,
            flip_bit: self.flip_bit,
            on_configured: self.on_configured.take(),
            ..Series7Config::new(self.part, self.packets.idcode)
        };
    }

    /// JSTART: the startup sequence counts Run-Test/Idle cycles afresh.
    pub(crate) fn jstart(&mut self) {
        self.startup = 0;
    }

    /// Appends `k` (≤ 32) bits, the first received in bit 0.
    pub(crate) fn append(&mut self, bits: u64, k: u32) {
        let mut bits = bits & low_bits(k);
        if let Some(n) = self.flip_bit {
            if (self.bits..self.bits + u64::from(k)).contains(&n) {
                bits ^= 1 << (n - self.bits);
            }
        }
        self.bits += u64::from(k);
        self.acc |= bits << self.acc_n;
        self.acc_n += k;
        while self.acc_n >= 8 {
            self.pending.push((self.acc as u8).reverse_bits());
            self.acc >>= 8;
            self.acc_n -= 8;
        }
        if self.pending.len() >= PENDING_BYTES {
            self.hasher.update(&self.pending);
            self.pending.clear();
        }
        self.feed_packets(bits, k);
    }

    /// Hands the bits to the packet processor: one at a time while it hunts for the sync
    /// word, as whole words once it has found it.
    fn feed_packets(&mut self, mut bits: u64, mut k: u32) {
        while k > 0 {
            if self.packets.synced() {
                let take = k.min(32 - self.word_n);
                self.word_acc |= (bits & low_bits(take)) << self.word_n;
                self.word_n += take;
                bits >>= take;
                k -= take;
                if self.word_n == 32 {
                    // The first bit received is the word's most significant.
                    self.packets.word((self.word_acc as u32).reverse_bits());
                    self.word_acc = 0;
                    self.word_n = 0;
                }
            } else {
                self.packets.hunt(bits & 1 != 0);
                bits >>= 1;
                k -= 1;
            }
        }
    }

    /// `cycles` TCK cycles elapse; `in_run_test_idle` when the TAP spends them in
    /// Run-Test/Idle, where they clock the startup sequence of a completed configuration.
    pub(crate) fn elapse(&mut self, cycles: u64, in_run_test_idle: bool) {
        self.housecleaning = self.housecleaning.saturating_sub(cycles);
        if in_run_test_idle && !self.done && self.packets.complete() {
            self.startup = self.startup.saturating_add(cycles);
            if self.startup >= series7::STARTUP_CYCLES
                && self.packets.complete()
                && self.init_complete()
            {
                self.done = true;
                self.isc_done = true;
                if let Some(f) = &self.on_configured {
                    f(&self.record());
                }
            }
        }
    }
}

/// The low `k` bits set (k ≤ 32: CFG_IN moves at most a word at a time).
#[inline]
fn low_bits(k: u32) -> u64 {
    debug_assert!(k <= 32);
    (1u64 << k) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDCODE: u32 = 0x0362_D093;

    /// Feeds `body` to a fresh configuration logic MSB first per byte, as a client shifts it,
    /// in chunks of `chunk` bits.
    fn feed(body: &[u8], chunk: u32) -> Series7Config {
        let mut c = Series7Config::new("xc7a35t", IDCODE);
        feed_into(&mut c, body, chunk);
        c
    }

    fn feed_into(c: &mut Series7Config, body: &[u8], chunk: u32) {
        let bits: Vec<bool> = body
            .iter()
            .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1 != 0))
            .collect();
        for part in bits.chunks(chunk as usize) {
            let v = part
                .iter()
                .enumerate()
                .fold(0u64, |acc, (i, &b)| acc | (u64::from(b) << i));
            c.append(v, part.len() as u32);
        }
    }

    fn start(c: &mut Series7Config) {
        c.jstart();
        c.elapse(series7::STARTUP_CYCLES, true);
    }

    fn frames(n: usize) -> Vec<u32> {
        (0..n as u32)
            .map(|i| i.wrapping_mul(0x9E37_79B9) ^ 0x5A5A)
            .collect()
    }

    #[test]
    fn crc_matches_the_published_vectors() {
        // The values the open-source 7-series tools publish for their CRC routine.
        assert_eq!(crc_step(0, 0, 0), 0);
        assert_eq!(crc_step(0, 1 << 4, 0), 0x82F6_3B78);
        assert_eq!(crc_step(0, 0x1F, !0), 0xBF86_D4DF);
        assert_eq!(crc_step(!0, 0, 0), 0xC631_E365);
    }

    #[test]
    fn a_well_formed_stream_configures_and_its_hash_is_the_files() {
        let body = write_packets(IDCODE, &frames(1000));
        for chunk in [1, 7, 32] {
            let mut c = feed(&body, chunk);
            assert!(c.packets.complete(), "chunk {chunk}: {:?}", c.packets);
            assert!(!c.done(), "DONE waits for the startup sequence");
            start(&mut c);
            assert!(c.done());
            assert_eq!(c.cfg_in_bits(), body.len() as u64 * 8);
            assert_eq!(c.cfg_in_sha256(), <[u8; 32]>::from(Sha256::digest(&body)));
        }
    }

    #[test]
    fn one_flipped_frame_bit_fails_the_crc_and_drops_init() {
        let body = write_packets(IDCODE, &frames(100));
        let mut c = Series7Config::new("xc7a35t", IDCODE);
        c.flip_cfg_in_bit(8 * 200 + 3); // inside the frame data
        feed_into(&mut c, &body, 32);
        start(&mut c);
        assert!(!c.done());
        assert!(matches!(c.packets.error(), Some(ConfigError::Crc { .. })));
        assert_eq!(c.capture_bits() & series7::CAPTURE_INIT, 0);
        assert_ne!(c.cfg_in_sha256(), <[u8; 32]>::from(Sha256::digest(&body)));
    }

    #[test]
    fn a_stream_missing_one_bit_or_cut_short_leaves_done_low() {
        let body = write_packets(IDCODE, &frames(100));
        // Drop bit 1000 (inside the frames): every word after it is misaligned.
        let bits: Vec<bool> = body
            .iter()
            .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1 != 0))
            .enumerate()
            .filter(|&(i, _)| i != 1000)
            .map(|(_, b)| b)
            .collect();
        let mut c = Series7Config::new("xc7a35t", IDCODE);
        for b in bits {
            c.append(u64::from(b), 1);
        }
        start(&mut c);
        assert!(!c.done());

        let mut cut = feed(&body[..body.len() - 80], 32); // before DESYNC
        start(&mut cut);
        assert!(!cut.done());
    }

    #[test]
    fn jstart_is_optional_run_test_idle_cycles_clock_the_startup() {
        let mut c = feed(&write_packets(IDCODE, &frames(10)), 32);
        c.elapse(series7::STARTUP_CYCLES - 1, true);
        c.elapse(100, false); // other states do not clock it
        assert!(!c.done());
        c.elapse(1, true);
        assert!(c.done());
    }

    #[test]
    fn a_stream_for_another_part_is_refused() {
        let mut c = feed(&write_packets(0x0372_7093, &frames(10)), 32);
        start(&mut c);
        assert!(!c.done());
        assert!(matches!(
            c.packets.error(),
            Some(ConfigError::Idcode { .. })
        ));
    }

    #[test]
    fn bits_before_the_sync_word_at_any_offset_are_skipped() {
        let body = write_packets(IDCODE, &frames(10));
        let mut c = Series7Config::new("xc7a35t", IDCODE);
        c.append(0b101, 3); // three stray bits before the padding
        feed_into(&mut c, &body, 32);
        start(&mut c);
        assert!(c.done());
        assert_eq!(c.cfg_in_bits(), body.len() as u64 * 8 + 3);
    }

    #[test]
    fn the_observer_hears_of_each_completed_configuration_once() {
        use std::sync::{Arc, Mutex};
        let heard = Arc::new(Mutex::new(Vec::new()));
        let mut c = Series7Config::new("xc7a35t", IDCODE);
        let h = heard.clone();
        c.on_configured(Arc::new(move |r: &ConfigRecord| {
            h.lock().unwrap().push(r.clone())
        }));
        let body = write_packets(IDCODE, &frames(10));
        feed_into(&mut c, &body, 32);
        start(&mut c);
        start(&mut c);
        c.jprogram();
        c.elapse(series7::HOUSECLEANING_CYCLES, false);
        feed_into(&mut c, &body, 32);
        start(&mut c);
        let heard = heard.lock().unwrap();
        assert_eq!(heard.len(), 2);
        assert!(heard.iter().all(|r| r.done && r.part == "xc7a35t"));
        assert_eq!(heard[0].sha256, <[u8; 32]>::from(Sha256::digest(&body)));
    }
}
