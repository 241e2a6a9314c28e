//! An IEEE 1149.1 scan chain: a shared TAP controller and, per device, an instruction register
//! and the data register its instruction selects (IDCODE, BYPASS, CFG_IN, ...), plus the
//! Xilinx 7-series configuration logic behind JPROGRAM / CFG_IN / JSTART.
//!
//! The model clocks one TCK cycle at a time ([`JtagChain::clock`]): TDO is what the last device
//! drives during the current state, then the rising edge performs the state's action and moves
//! the TAP. Outside Shift-IR/Shift-DR TDO is not driven and reads as 1 (pulled up).
//!
//! [`JtagChain::clock_run`] clocks many cycles with a constant TMS level and takes word-sized
//! steps while the chain sits in a shift state or in Run-Test/Idle; it is what lets the FT232H
//! emulator stream a bitstream quickly. [`JtagChain::shift`] stays one bit at a time: it is the
//! reference the fast paths are checked against.

use crate::jtag::TapState;
use crate::sim::parts::{series7, Part};
use crate::sim::series7::{ConfigRecord, OnConfigured, Series7Config};
use sha2::{Digest, Sha256};

/// The data register a device currently has between TDI and TDO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataRegister {
    /// One-bit bypass register (captures 0).
    Bypass,
    /// The 32-bit IDCODE register.
    Idcode,
    /// 7-series configuration input: every bit shifted in goes to the configuration logic.
    CfgIn,
}

#[inline]
fn mask(k: u32) -> u64 {
    if k >= 64 {
        u64::MAX
    } else {
        (1u64 << k) - 1
    }
}

/// One device on the chain.
#[derive(Debug, Clone)]
pub struct SimDevice {
    part: Part,
    /// Shift stage of the instruction register (bit 0 is next out on TDO).
    ir_shift: u64,
    /// The instruction in effect (latched in Update-IR).
    instruction: u64,
    /// Shift stage of the selected data register.
    dr_shift: u64,
    dr_len: u8,
    /// The register selected at the last Capture-DR.
    dr: DataRegister,
    config: Option<Series7Config>,
}

impl SimDevice {
    /// A device of the given part, in its Test-Logic-Reset condition (unconfigured).
    pub fn new(part: Part) -> Self {
        let mut d = SimDevice {
            part,
            ir_shift: 0,
            instruction: 0,
            dr_shift: 0,
            dr_len: 1,
            dr: DataRegister::Bypass,
            config: part
                .series7_config
                .then(|| Series7Config::new(part.name, part.idcode)),
        };
        d.reset();
        d
    }

    /// The part this device models.
    pub fn part(&self) -> &Part {
        &self.part
    }

    /// The 7-series configuration logic, for parts that have it.
    pub fn config(&self) -> Option<&Series7Config> {
        self.config.as_ref()
    }

    /// The instruction in effect.
    pub fn instruction(&self) -> u64 {
        self.instruction
    }

    fn ir_mask(&self) -> u64 {
        mask(u32::from(self.part.ir_len))
    }

    fn reset(&mut self) {
        self.instruction = u64::from(self.part.idcode_instr);
    }

    fn selected(&self) -> DataRegister {
        if self.instruction == u64::from(self.part.idcode_instr) {
            DataRegister::Idcode
        } else if self.config.is_some() && self.instruction == series7::CFG_IN {
            DataRegister::CfgIn
        } else {
            DataRegister::Bypass
        }
    }

    fn capture_ir(&mut self) {
        // IEEE 1149.1 requires the two least significant captured bits to be 0b01; 7-series
        // parts put their configuration status in the bits above.
        self.ir_shift = match &self.config {
            Some(c) => c.capture_bits() & self.ir_mask(),
            None => 0b01,
        };
    }

    fn update_ir(&mut self) {
        self.instruction = self.ir_shift & self.ir_mask();
        if let Some(c) = &mut self.config {
            match self.instruction {
                series7::JPROGRAM => c.jprogram(),
                series7::JSTART => c.jstart(),
                _ => {}
            }
        }
    }

    fn capture_dr(&mut self) {
        self.dr = self.selected();
        match self.dr {
            DataRegister::Idcode => {
                self.dr_shift = u64::from(self.part.idcode);
                self.dr_len = 32;
            }
            DataRegister::CfgIn => {
                self.dr_shift = 0;
                self.dr_len = series7::CFG_IN_LEN;
            }
            DataRegister::Bypass => {
                self.dr_shift = 0;
                self.dr_len = 1;
            }
        }
    }

    fn tdo(&self, state: TapState) -> bool {
        match state {
            TapState::ShiftIr => self.ir_shift & 1 != 0,
            TapState::ShiftDr => self.dr_shift & 1 != 0,
            _ => true,
        }
    }

    /// Length of the register between TDI and TDO in a shift state.
    fn reg_len(&self, state: TapState) -> u8 {
        match state {
            TapState::ShiftIr => self.part.ir_len,
            _ => self.dr_len,
        }
    }

    /// Shifts `k` bits (1 ≤ k ≤ register length, k ≤ 32) in from `input` (LSB first) and
    /// returns the `k` bits shifted out.
    fn shift_bits(&mut self, state: TapState, input: u64, k: u32) -> u64 {
        let (reg, len) = match state {
            TapState::ShiftIr => (&mut self.ir_shift, self.part.ir_len),
            TapState::ShiftDr => (&mut self.dr_shift, self.dr_len),
            _ => return 0,
        };
        let len = u32::from(len);
        debug_assert!(k >= 1 && k <= len);
        let out = *reg & mask(k);
        *reg = ((*reg >> k) | ((input & mask(k)) << (len - k))) & mask(len);
        if state == TapState::ShiftDr && self.dr == DataRegister::CfgIn {
            if let Some(c) = &mut self.config {
                c.append(input, k);
            }
        }
        out
    }

    fn elapse(&mut self, state: TapState, cycles: u64) {
        let instruction = self.instruction;
        if let Some(c) = &mut self.config {
            c.elapse(
                cycles,
                state == TapState::RunTestIdle && instruction == series7::JSTART,
            );
        }
    }
}

/// A scan chain of devices sharing TCK and TMS. Device 0 is nearest TDI; the last device
/// drives the chain's TDO.
#[derive(Debug, Clone)]
pub struct JtagChain {
    state: TapState,
    devices: Vec<SimDevice>,
    tck_cycles: u64,
}

impl JtagChain {
    /// A chain of the given parts (index 0 nearest TDI), in Test-Logic-Reset.
    pub fn new(parts: &[Part]) -> Self {
        JtagChain {
            state: TapState::TestLogicReset,
            devices: parts.iter().copied().map(SimDevice::new).collect(),
            tck_cycles: 0,
        }
    }

    /// The chain of the reference board: one xc7a35t.
    pub fn xc7a35t() -> Self {
        Self::new(&[crate::sim::parts::XC7A35T])
    }

    /// Current TAP controller state.
    pub fn state(&self) -> TapState {
        self.state
    }

    /// The devices on the chain, index 0 nearest TDI.
    pub fn devices(&self) -> &[SimDevice] {
        &self.devices
    }

    /// TCK cycles clocked since the chain was created.
    pub fn tck_cycles(&self) -> u64 {
        self.tck_cycles
    }

    /// The configuration logic of the first 7-series device on the chain.
    pub fn config(&self) -> Option<&Series7Config> {
        self.devices.iter().find_map(SimDevice::config)
    }

    /// CFG_IN bits received by the first 7-series device since its last JPROGRAM (0 without one).
    pub fn cfg_in_bits(&self) -> u64 {
        self.config().map_or(0, Series7Config::cfg_in_bits)
    }

    /// SHA-256 of those CFG_IN bits (see [`Series7Config::cfg_in_sha256`]).
    pub fn cfg_in_sha256(&self) -> [u8; 32] {
        self.config()
            .map_or_else(|| Sha256::digest([]).into(), Series7Config::cfg_in_sha256)
    }

    /// Whether the first 7-series device reports DONE.
    pub fn done(&self) -> bool {
        self.config().is_some_and(Series7Config::done)
    }

    /// The configuration record of every 7-series device on the chain, index 0 nearest TDI.
    pub fn config_records(&self) -> Vec<ConfigRecord> {
        self.devices
            .iter()
            .filter_map(SimDevice::config)
            .map(Series7Config::record)
            .collect()
    }

    /// Test-only fault: every 7-series device receives CFG_IN bit `n` (from 0, since each
    /// JPROGRAM) inverted (see [`Series7Config::flip_cfg_in_bit`]).
    pub fn flip_cfg_in_bit(&mut self, n: u64) {
        for c in self.devices.iter_mut().filter_map(|d| d.config.as_mut()) {
            c.flip_cfg_in_bit(n);
        }
    }

    /// Calls `f` each time a 7-series device on the chain completes a configuration.
    pub fn on_configured(&mut self, f: OnConfigured) {
        for c in self.devices.iter_mut().filter_map(|d| d.config.as_mut()) {
            c.on_configured(f.clone());
        }
    }

    /// The level on TDO during the current TCK cycle (before the rising edge).
    pub fn tdo(&self) -> bool {
        self.devices.last().is_none_or(|d| d.tdo(self.state))
    }

    /// Clocks one TCK cycle: returns TDO as sampled on the rising edge, then applies the
    /// current state's action with `tdi` and moves the TAP according to `tms`.
    pub fn clock(&mut self, tms: bool, tdi: bool) -> bool {
        self.tck_cycles += 1;
        let state = self.state;
        let tdo = self.tdo();
        match state {
            TapState::CaptureIr => self.devices.iter_mut().for_each(SimDevice::capture_ir),
            TapState::CaptureDr => self.devices.iter_mut().for_each(SimDevice::capture_dr),
            TapState::ShiftIr | TapState::ShiftDr => {
                let mut input = u64::from(tdi);
                for dev in self.devices.iter_mut() {
                    input = dev.shift_bits(state, input, 1);
                }
            }
            _ => {}
        }
        self.devices.iter_mut().for_each(|d| d.elapse(state, 1));
        self.state = state.next(tms);
        match self.state {
            TapState::UpdateIr => self.devices.iter_mut().for_each(SimDevice::update_ir),
            TapState::TestLogicReset => self.devices.iter_mut().for_each(SimDevice::reset),
            _ => {}
        }
        // A chain without devices passes TDI straight through while shifting.
        if self.devices.is_empty() && state.is_shift() {
            return tdi;
        }
        tdo
    }

    /// Clocks a whole shift of little-endian bit vectors, one cycle at a time, writing TDO
    /// into `tdo`. This is the reference behaviour.
    pub fn shift(&mut self, nbits: u32, tms: &[u8], tdi: &[u8], tdo: &mut [u8]) {
        let n = crate::jtag::bytes_for_bits(nbits);
        tdo[..n].fill(0);
        for i in 0..nbits as usize {
            let bit = self.clock(crate::jtag::get_bit(tms, i), crate::jtag::get_bit(tdi, i));
            if bit {
                tdo[i / 8] |= 1 << (i % 8);
            }
        }
    }

    /// Clocks `nbits` cycles with TMS held at `tms` and TDI bits from `tdi` (bit 0 first),
    /// writing TDO into `tdo` (padding bits of the last byte are 0). Equivalent to calling
    /// [`clock`](Self::clock) per bit, but takes word-sized steps where it can.
    pub fn clock_run(&mut self, tms: bool, nbits: usize, tdi: &[u8], tdo: &mut [u8]) {
        tdo[..nbits.div_ceil(8)].fill(0);
        let mut i = 0;
        while i < nbits {
            let state = self.state;
            let left = nbits - i;
            if !tms && state.is_shift() && !self.devices.is_empty() {
                let step = self
                    .devices
                    .iter()
                    .map(|d| d.reg_len(state))
                    .min()
                    .unwrap_or(1)
                    .min(32) as usize;
                let k = step.min(left);
                let mut bits = read_bits(tdi, i, k);
                for dev in self.devices.iter_mut() {
                    bits = dev.shift_bits(state, bits, k as u32);
                    dev.elapse(state, k as u64);
                }
                write_bits(tdo, i, k, bits);
                self.tck_cycles += k as u64;
                i += k;
            } else if !tms && state == TapState::RunTestIdle {
                // TDO is not driven in Run-Test/Idle: it reads 1.
                write_bits_ones(tdo, i, left);
                self.devices
                    .iter_mut()
                    .for_each(|d| d.elapse(state, left as u64));
                self.tck_cycles += left as u64;
                i = nbits;
            } else {
                let bit = self.clock(tms, tdi[i / 8] >> (i % 8) & 1 != 0);
                if bit {
                    tdo[i / 8] |= 1 << (i % 8);
                }
                i += 1;
            }
        }
    }
}

/// Reads `k` ≤ 57 bits starting at bit `at` of a little-endian bit vector.
#[inline]
fn read_bits(v: &[u8], at: usize, k: usize) -> u64 {
    let first = at / 8;
    let shift = at % 8;
    let nbytes = (shift + k).div_ceil(8);
    let mut word = [0u8; 8];
    word[..nbytes].copy_from_slice(&v[first..first + nbytes]);
    (u64::from_le_bytes(word) >> shift) & mask(k as u32)
}

/// ORs `k` ≤ 57 bits into a little-endian bit vector at bit `at`.
#[inline]
fn write_bits(v: &mut [u8], at: usize, k: usize, bits: u64) {
    let first = at / 8;
    let shift = at % 8;
    let nbytes = (shift + k).div_ceil(8);
    let word = ((bits & mask(k as u32)) << shift).to_le_bytes();
    for (dst, src) in v[first..first + nbytes].iter_mut().zip(word) {
        *dst |= src;
    }
}

fn write_bits_ones(v: &mut [u8], at: usize, k: usize) {
    let mut i = at;
    let end = at + k;
    while i < end && i % 8 != 0 {
        v[i / 8] |= 1 << (i % 8);
        i += 1;
    }
    let whole = (end - i) / 8;
    v[i / 8..i / 8 + whole].fill(0xFF);
    i += whole * 8;
    while i < end {
        v[i / 8] |= 1 << (i % 8);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::parts::{ARM_DAP, XC7A35T, XC7Z020};
    use proptest::prelude::*;

    /// Drives the chain from any state to Shift-DR through Test-Logic-Reset.
    fn reset_to_shift_dr(chain: &mut JtagChain) {
        for tms in [true, true, true, true, true, false, true, false, false] {
            chain.clock(tms, false);
        }
        assert_eq!(chain.state(), TapState::ShiftDr);
    }

    fn read_word(chain: &mut JtagChain) -> u32 {
        (0..32).fold(0u32, |acc, i| {
            acc | (u32::from(chain.clock(false, true)) << i)
        })
    }

    /// From Run-Test/Idle (or Update-*): loads `instr` and returns the captured IR value,
    /// ending in Run-Test/Idle.
    fn load_ir(chain: &mut JtagChain, instr: u64) -> u64 {
        for tms in [true, true, false, false] {
            chain.clock(tms, false);
        }
        assert_eq!(chain.state(), TapState::ShiftIr);
        let mut captured = 0;
        for i in 0..6 {
            let out = chain.clock(i == 5, instr >> i & 1 != 0);
            captured |= u64::from(out) << i;
        }
        chain.clock(true, false); // Update-IR
        chain.clock(false, false); // Run-Test/Idle
        captured
    }

    #[test]
    fn idcode_is_selected_after_reset() {
        let mut chain = JtagChain::xc7a35t();
        reset_to_shift_dr(&mut chain);
        assert_eq!(read_word(&mut chain), 0x0362_D093);
        // Past the single device the chain returns the ones fed into TDI.
        assert_eq!(read_word(&mut chain), 0xFFFF_FFFF);
    }

    #[test]
    fn two_device_chain_reads_last_device_first() {
        let mut chain = JtagChain::new(&[ARM_DAP, XC7Z020]);
        reset_to_shift_dr(&mut chain);
        assert_eq!(read_word(&mut chain), XC7Z020.idcode);
        assert_eq!(read_word(&mut chain), ARM_DAP.idcode);
    }

    #[test]
    fn ir_capture_reads_01_and_bypass_is_one_bit() {
        let mut chain = JtagChain::new(&[XC7A35T]);
        // TLR -> RTI -> SelDR -> SelIR -> CapIR -> ShiftIR
        for tms in [
            true, true, true, true, true, false, true, true, false, false,
        ] {
            chain.clock(tms, false);
        }
        assert_eq!(chain.state(), TapState::ShiftIr);
        let mut captured = 0u8;
        for i in 0..6 {
            let last = i == 5;
            captured |= u8::from(chain.clock(last, true)) << i;
        }
        assert_eq!(captured & 0b11, 0b01);
        // Exit1-IR -> Update-IR (BYPASS, all ones) -> Select-DR -> Capture-DR -> Shift-DR
        for tms in [true, true, false, false] {
            chain.clock(tms, false);
        }
        assert_eq!(chain.state(), TapState::ShiftDr);
        // Bypass: first bit out is the captured 0, then TDI delayed by one.
        let out: Vec<bool> = [true, false, true, true]
            .iter()
            .map(|&b| chain.clock(false, b))
            .collect();
        assert_eq!(out, vec![false, true, false, true]);
    }

    #[test]
    fn series7_program_sequence_sets_done() {
        let mut chain = JtagChain::xc7a35t();
        for tms in [true, true, true, true, true, false] {
            chain.clock(tms, false);
        }
        // Unconfigured part: INIT high, DONE low.
        let cap = load_ir(&mut chain, series7::JPROGRAM);
        assert_eq!(cap, series7::CAPTURE_FIXED | series7::CAPTURE_INIT);
        // Housecleaning: INIT low right after JPROGRAM, high again after enough clocks.
        let cap = load_ir(&mut chain, series7::BYPASS);
        assert_eq!(cap & series7::CAPTURE_INIT, 0);
        let mut rti = [0u8; 16];
        chain.clock_run(false, 100, &[0; 16], &mut rti);
        let cap = load_ir(&mut chain, series7::CFG_IN);
        assert_ne!(cap & series7::CAPTURE_INIT, 0);
        // Select-DR, Capture-DR, Shift-DR, then a bitstream MSB first per byte, the last bit
        // leaving to Exit1-DR.
        for tms in [true, false, false] {
            chain.clock(tms, false);
        }
        let frames: Vec<u32> = (0..64u32).map(|i| i.wrapping_mul(0x0101_0101)).collect();
        let body = crate::sim::series7::write_packets(XC7A35T.idcode, &frames);
        let n = body.len() * 8;
        for i in 0..n {
            chain.clock(i == n - 1, body[i / 8] >> (7 - i % 8) & 1 != 0);
        }
        chain.clock(true, false); // Update-DR
        chain.clock(false, false); // RTI
        assert_eq!(chain.cfg_in_bits(), n as u64);
        assert_eq!(
            chain.cfg_in_sha256(),
            <[u8; 32]>::from(Sha256::digest(&body))
        );
        assert!(!chain.done());
        load_ir(&mut chain, series7::JSTART);
        chain.clock_run(false, 20, &[0; 4], &mut [0; 4]);
        assert!(chain.done());
        let cap = load_ir(&mut chain, series7::BYPASS);
        assert_eq!(
            cap,
            series7::CAPTURE_FIXED
                | series7::CAPTURE_INIT
                | series7::CAPTURE_ISC_DONE
                | series7::CAPTURE_DONE
        );
        // JPROGRAM clears the configuration and the CFG_IN record.
        load_ir(&mut chain, series7::JPROGRAM);
        assert!(!chain.done());
        assert_eq!(chain.cfg_in_bits(), 0);
    }

    #[test]
    fn jstart_without_data_leaves_done_low() {
        let mut chain = JtagChain::xc7a35t();
        for tms in [true, true, true, true, true, false] {
            chain.clock(tms, false);
        }
        load_ir(&mut chain, series7::JSTART);
        chain.clock_run(false, 1000, &[0; 125], &mut [0; 125]);
        assert!(!chain.done());
    }

    fn parts_strategy() -> impl Strategy<Value = Vec<Part>> {
        prop::collection::vec(prop::sample::select(vec![XC7A35T, XC7Z020, ARM_DAP]), 0..3)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The word-stepping fast path equals clocking bit by bit.
        #[test]
        fn clock_run_equals_per_bit_clocking(
            parts in parts_strategy(),
            into_cfg_in in any::<bool>(),
            runs in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 1..40), 1usize..8), 1..30),
        ) {
            let mut fast = JtagChain::new(&parts);
            let mut slow = JtagChain::new(&parts);
            if into_cfg_in {
                // Every device gets CFG_IN (others fall back to BYPASS), then Shift-DR.
                for chain in [&mut fast, &mut slow] {
                    for tms in [true, true, true, true, true, false, true, true, false, false] {
                        chain.clock(tms, false);
                    }
                    let total: u32 = parts.iter().map(|p| u32::from(p.ir_len)).sum();
                    let mut bits = Vec::new();
                    for p in parts.iter().rev() {
                        bits.extend((0..p.ir_len).map(|i| series7::CFG_IN >> i & 1 != 0));
                    }
                    for (i, b) in bits.iter().enumerate() {
                        chain.clock(i as u32 + 1 == total, *b);
                    }
                    for tms in [true, true, false, false] {
                        chain.clock(tms, false);
                    }
                }
            }
            for (tms, tdi, cut) in runs {
                let nbits = tdi.len() * 8 - (cut - 1);
                let mut out_fast = vec![0xAAu8; tdi.len()];
                fast.clock_run(tms, nbits, &tdi, &mut out_fast);
                let mut out_slow = vec![0u8; tdi.len()];
                let tms_v = vec![if tms { 0xFF } else { 0 }; tdi.len()];
                slow.shift(nbits as u32, &tms_v, &tdi, &mut out_slow);
                prop_assert_eq!(&out_fast, &out_slow);
                prop_assert_eq!(fast.state(), slow.state());
                prop_assert_eq!(fast.tck_cycles(), slow.tck_cycles());
                prop_assert_eq!(fast.cfg_in_bits(), slow.cfg_in_bits());
            }
            prop_assert_eq!(fast.cfg_in_sha256(), slow.cfg_in_sha256());
        }
    }
}
