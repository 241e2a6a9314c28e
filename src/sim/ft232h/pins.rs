//! The emulated chip's pins and what lies behind them: the two GPIO bytes as the MPSSE
//! engine leaves them, the board's wiring (buffer enables, mode selects) and the JTAG chain.
//!
//! Kept apart from the engine because what the target sees is a property of the pins, not of
//! the command that moved them: an undriven TMS or TDI reads high (pull-ups), the chain is
//! clocked only while TCK is an output and the board's buffers are enabled, and TDO reads
//! high when the chain is not connected.

use crate::ftdi::chip::{pin, Gpio, Port};
use crate::sim::chain::JtagChain;

/// Board wiring between the chip and the JTAG connector: the target sees TCK only while these
/// GPIO outputs hold these levels (buffer enables, mux selects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wiring {
    pub low_mask: u8,
    pub low_value: u8,
    pub high_mask: u8,
    pub high_value: u8,
    /// No TAP behind these pins at all (a UART or FIFO channel of a multi-channel chip).
    pub no_tap: bool,
}

impl Wiring {
    /// JTAG-HS2: ADBUS5 high enables the TMS buffer, ACBUS5/6 low select JTAG.
    pub const HS2: Wiring = Wiring {
        low_mask: 0x20,
        low_value: 0x20,
        high_mask: 0x60,
        high_value: 0x00,
        no_tap: false,
    };

    /// A channel with no JTAG behind it: the chain is never clocked, TDO reads high.
    pub const NO_TAP: Wiring = Wiring {
        low_mask: 0,
        low_value: 0,
        high_mask: 0,
        high_value: 0,
        no_tap: true,
    };
}

/// The GPIO state and the target behind it.
pub(super) struct Pins {
    pub(super) gpio: Gpio,
    /// Every pin ever made an output (direction bits ORed over all writes).
    pub(super) ever_out_low: u8,
    pub(super) ever_out_high: u8,
    wiring: Wiring,
    pub(super) chain: JtagChain,
}

impl Pins {
    pub(super) fn new(chain: JtagChain, wiring: Wiring) -> Self {
        Pins {
            gpio: Gpio::default(),
            ever_out_low: 0,
            ever_out_high: 0,
            wiring,
            chain,
        }
    }

    /// Sets the low byte (ADBUS), remembering which pins were ever outputs.
    pub(super) fn set_low(&mut self, port: Port) {
        self.gpio.low = port;
        self.ever_out_low |= port.dir;
    }

    /// Sets the high byte (ACBUS), remembering which pins were ever outputs.
    pub(super) fn set_high(&mut self, port: Port) {
        self.gpio.high = port;
        self.ever_out_high |= port.dir;
    }

    /// Whether TCK reaches the chain: TCK is an output and the wiring's enables hold.
    pub(super) fn jtag_connected(&self) -> bool {
        let (w, low, high) = (&self.wiring, self.gpio.low, self.gpio.high);
        let tck_out = low.dir & pin::TCK != 0;
        let low_ok = low.dir & w.low_mask == w.low_mask && low.value & w.low_mask == w.low_value;
        let high_ok =
            high.dir & w.high_mask == w.high_mask && high.value & w.high_mask == w.high_value;
        !w.no_tap && tck_out && low_ok && high_ok
    }

    /// The level the chip drives on TMS.
    pub(super) fn tms(&self) -> bool {
        self.gpio.low.value & pin::TMS != 0
    }

    /// The level the chip drives on TDI.
    pub(super) fn tdi(&self) -> bool {
        self.gpio.low.value & pin::TDI != 0
    }

    pub(super) fn set_tms(&mut self, level: bool) {
        self.set(pin::TMS, level);
    }

    pub(super) fn set_tdi(&mut self, level: bool) {
        self.set(pin::TDI, level);
    }

    fn set(&mut self, mask: u8, level: bool) {
        if level {
            self.gpio.low.value |= mask;
        } else {
            self.gpio.low.value &= !mask;
        }
    }

    /// TMS as the target sees it at `level` (pulled up when not driven).
    pub(super) fn tms_seen(&self, level: bool) -> bool {
        level || self.gpio.low.dir & pin::TMS == 0
    }

    /// TDI as the target sees it at `level` (pulled up when not driven).
    pub(super) fn tdi_seen(&self, level: bool) -> bool {
        level || self.gpio.low.dir & pin::TDI == 0
    }

    /// One TCK cycle with TMS and TDI at these levels; returns the TDO the chip samples.
    pub(super) fn clock(&mut self, tms: bool, tdi: bool) -> bool {
        let (tms, tdi) = (self.tms_seen(tms), self.tdi_seen(tdi));
        if self.jtag_connected() {
            self.chain.clock(tms, tdi)
        } else {
            true
        }
    }

    /// `nbits` TCK cycles with TMS at `tms` and TDI from `tdi` (LSB first); TDO into `tdo`.
    pub(super) fn clock_run(&mut self, tms: bool, nbits: usize, tdi: &[u8], tdo: &mut [u8]) {
        let tms = self.tms_seen(tms);
        if !self.jtag_connected() {
            tdo.fill(0xFF);
        } else if self.gpio.low.dir & pin::TDI == 0 {
            let ones = vec![0xFF; tdi.len()];
            self.chain.clock_run(tms, nbits, &ones, tdo);
        } else {
            self.chain.clock_run(tms, nbits, tdi, tdo);
        }
    }

    /// TDO now, as a GPIO read sees it.
    pub(super) fn tdo(&self) -> bool {
        !self.jtag_connected() || self.chain.tdo()
    }

    /// What `GET_LOW` reads: outputs as driven, inputs high (pull-ups) except TDO.
    pub(super) fn read_low(&self, tdo: bool) -> u8 {
        let low = self.gpio.low;
        let inputs = !pin::TDO | if tdo { pin::TDO } else { 0 };
        (low.value & low.dir) | (inputs & !low.dir)
    }

    /// What `GET_HIGH` reads: outputs as driven, inputs high.
    pub(super) fn read_high(&self) -> u8 {
        let high = self.gpio.high;
        (high.value & high.dir) | !high.dir
    }
}
