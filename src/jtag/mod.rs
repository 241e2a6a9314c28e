//! JTAG abstractions shared by the XVC server and the cable drivers.
//!
//! The XVC server only ever sees a [`Cable`]: something that clocks TMS/TDI bit vectors and
//! returns TDO. Whether an FTDI chip, an emulator or a test double sits behind it is invisible
//! to the protocol layer.

pub mod identify;
pub mod parts;
pub mod tap;

pub use tap::TapState;

/// Why a cable operation failed. The variants let callers tell a cable that is gone for good
/// from one that may recover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CableError {
    /// The device disappeared (unplugged, or the USB node went away).
    #[error("cable disconnected")]
    Gone,
    /// The cable did not answer in time; it may recover after a reopen.
    #[error("cable timed out: {0}")]
    Timeout(String),
    /// The reply did not match what was sent: the command stream and the device are out of step.
    #[error("cable protocol desynchronised: {0}")]
    Desync(String),
    /// The request itself is invalid (for example vectors shorter than `nbits`).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Any other I/O failure talking to the cable.
    #[error("cable I/O error: {0}")]
    Io(String),
}

impl CableError {
    /// True when the cable is gone and retrying on the same handle is pointless.
    pub fn is_gone(&self) -> bool {
        matches!(self, CableError::Gone)
    }
}

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
pub fn get_bit(bits: &[u8], i: usize) -> bool {
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

/// Checks that shift vectors are long enough for `nbits` and returns their byte length.
pub fn check_vectors(nbits: u32, tms: &[u8], tdi: &[u8], tdo: &[u8]) -> Result<usize, CableError> {
    let n = bytes_for_bits(nbits);
    if tms.len() < n || tdi.len() < n || tdo.len() < n {
        return Err(CableError::InvalidRequest(format!(
            "{nbits} bits need {n} bytes per vector (got tms {}, tdi {}, tdo {})",
            tms.len(),
            tdi.len(),
            tdo.len()
        )));
    }
    Ok(n)
}
