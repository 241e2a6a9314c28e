//! An IEEE 1149.1 scan chain: a shared TAP controller and, per device, an instruction register
//! and the data register its instruction selects (IDCODE, BYPASS, ...).
//!
//! The model clocks one TCK cycle at a time ([`JtagChain::clock`]): TDO is what the last device
//! drives during the current state, then the rising edge performs the state's action and moves
//! the TAP. Outside Shift-IR/Shift-DR TDO is not driven and reads as 1 (pulled up).

use crate::jtag::TapState;
use crate::sim::parts::Part;

/// The data register a device currently has between TDI and TDO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataRegister {
    /// One-bit bypass register (captures 0).
    Bypass,
    /// The 32-bit IDCODE register.
    Idcode,
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
}

impl SimDevice {
    /// A device of the given part, in its Test-Logic-Reset condition.
    pub fn new(part: Part) -> Self {
        let mut d = SimDevice {
            part,
            ir_shift: 0,
            instruction: 0,
            dr_shift: 0,
            dr_len: 1,
        };
        d.reset();
        d
    }

    /// The part this device models.
    pub fn part(&self) -> &Part {
        &self.part
    }

    fn ir_mask(&self) -> u64 {
        (1u64 << self.part.ir_len) - 1
    }

    fn reset(&mut self) {
        self.instruction = u64::from(self.part.idcode_instr);
    }

    fn selected(&self) -> DataRegister {
        if self.instruction == u64::from(self.part.idcode_instr) {
            DataRegister::Idcode
        } else {
            DataRegister::Bypass
        }
    }

    fn capture_ir(&mut self) {
        // IEEE 1149.1 requires the two least significant captured bits to be 0b01.
        self.ir_shift = 0b01;
    }

    fn update_ir(&mut self) {
        self.instruction = self.ir_shift & self.ir_mask();
    }

    fn capture_dr(&mut self) {
        match self.selected() {
            DataRegister::Idcode => {
                self.dr_shift = u64::from(self.part.idcode);
                self.dr_len = 32;
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

    fn shift(&mut self, state: TapState, tdi: bool) {
        let (reg, len) = match state {
            TapState::ShiftIr => (&mut self.ir_shift, self.part.ir_len),
            TapState::ShiftDr => (&mut self.dr_shift, self.dr_len),
            _ => return,
        };
        *reg = (*reg >> 1) | (u64::from(tdi) << (len - 1));
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
                let mut input = tdi;
                for dev in self.devices.iter_mut() {
                    let out = dev.tdo(state);
                    dev.shift(state, input);
                    input = out;
                }
            }
            _ => {}
        }
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

    /// Clocks a whole shift of little-endian bit vectors, writing TDO into `tdo`.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::parts::{ARM_DAP, XC7A35T, XC7Z020};

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
}
