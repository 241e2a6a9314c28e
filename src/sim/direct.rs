//! A cable that clocks the TAP chain model directly, with no FTDI chip in between.
//!
//! It is the reference the FTDI encoder/emulator path is checked against, and a zero-overhead
//! cable for tests of the protocol layer. Its clock follows the FT232H divisor arithmetic so
//! `settck` answers like a real HS2.

use crate::ftdi::clock;
use crate::jtag::{check_vectors, Cable, CableError};
use crate::sim::chain::JtagChain;

/// A [`Cable`] that drives a [`JtagChain`] bit by bit.
#[derive(Debug, Clone)]
pub struct DirectCable {
    chain: JtagChain,
    period_ns: u32,
}

impl DirectCable {
    pub fn new(chain: JtagChain) -> Self {
        DirectCable {
            chain,
            period_ns: clock::period_for_divisor(0),
        }
    }

    /// The chain behind the cable.
    pub fn chain(&self) -> &JtagChain {
        &self.chain
    }
}

impl Cable for DirectCable {
    fn shift(
        &mut self,
        nbits: u32,
        tms: &[u8],
        tdi: &[u8],
        tdo: &mut [u8],
    ) -> Result<(), CableError> {
        check_vectors(nbits, tms, tdi, tdo)?;
        self.chain.shift(nbits, tms, tdi, tdo);
        Ok(())
    }

    fn set_tck_period(&mut self, period_ns: u32) -> Result<u32, CableError> {
        self.period_ns = clock::setting_for_period(period_ns, clock::BASE_TCK_HZ).period_ns;
        Ok(self.period_ns)
    }
}
