//! JTAG abstractions shared by the XVC server and the cable drivers.
//!
//! The XVC server only ever sees a [`Cable`]: something that clocks TMS/TDI bit vectors and
//! returns TDO. Whether an FTDI chip, an emulator or a test double sits behind it is invisible
//! to the protocol layer.

mod error;
pub(crate) mod identify;
pub(crate) mod parts;
mod tap;

pub(crate) use error::check_vectors;
pub use error::{CableError, Cause, VectorError};
pub use tap::TapState;

/// A JTAG adapter able to shift bit vectors.
///
/// Bit vectors are little-endian bit strings: bit `i` is `byte[i / 8] >> (i % 8) & 1`, and bit 0
/// is clocked first, exactly as in the XVC `shift:` command. Implementations must keep the TMS
/// level and TAP position across calls: a long scan arrives as many consecutive shifts.
pub trait Cable: Send {
    /// Clocks `nbits` TCK cycles with the given TMS and TDI bits and writes the sampled TDO bits
    /// into `tdo`. All three slices hold at least `ceil(nbits / 8)` bytes; TDO padding bits above
    /// `nbits` are written as 0.
    fn shift(
        &mut self,
        nbits: u32,
        tms: &[u8],
        tdi: &[u8],
        tdo: &mut [u8],
    ) -> Result<(), CableError>;

    /// Requests a TCK period in nanoseconds and returns the period actually applied. The
    /// applied period is never shorter (faster) than requested unless the request is below
    /// the cable's fastest clock, in which case the fastest clock is used.
    fn set_tck_period(&mut self, period_ns: u32) -> Result<u32, CableError>;
}

impl<C: Cable + ?Sized> Cable for Box<C> {
    fn shift(
        &mut self,
        nbits: u32,
        tms: &[u8],
        tdi: &[u8],
        tdo: &mut [u8],
    ) -> Result<(), CableError> {
        (**self).shift(nbits, tms, tdi, tdo)
    }

    fn set_tck_period(&mut self, period_ns: u32) -> Result<u32, CableError> {
        (**self).set_tck_period(period_ns)
    }
}

/// Number of bytes holding `nbits` bits.
pub fn bytes_for_bits(nbits: u32) -> usize {
    (nbits as usize).div_ceil(8)
}

/// Reads bit `i` of a little-endian bit vector.
#[inline]
pub(crate) fn get_bit(bits: &[u8], i: usize) -> bool {
    bits[i / 8] >> (i % 8) & 1 != 0
}

/// Sets bit `i` of a little-endian bit vector to `value`.
#[inline]
pub fn set_bit(bits: &mut [u8], i: usize, value: bool) {
    let mask = 1u8 << (i % 8);
    if value {
        bits[i / 8] |= mask;
    } else {
        bits[i / 8] &= !mask;
    }
}
