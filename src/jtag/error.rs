//! Why a cable operation failed: [`CableError`], the one error the [`Cable`](super::Cable)
//! trait returns, classified by what the caller should do, with the driver's own error as its
//! [`source`](std::error::Error::source).
//!
//! The JTAG layer sits below every driver, so it cannot name their error types: the cause is
//! carried as a [`Cause`] (any error, shared), which a caller that knows the driver can
//! downcast. Each message includes its cause's, because log lines print the top error only.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Why a cable operation failed. The variants let callers tell a cable that is gone for good
/// from one that may recover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CableError {
    /// The device disappeared (unplugged, or the USB node went away).
    #[error("cable disconnected")]
    Gone,
    /// The cable did not answer in time; it may recover after a reopen.
    #[error("cable timed out: {0}")]
    Timeout(#[source] Cause),
    /// The reply did not match what was sent: the command stream and the device are out of step.
    #[error("cable protocol desynchronised: {0}")]
    Desync(#[source] Cause),
    /// The request itself is invalid (for example vectors shorter than `nbits`).
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] VectorError),
    /// Any other I/O failure talking to the cable.
    #[error("cable I/O error: {0}")]
    Io(#[source] Cause),
}

impl CableError {
    /// True when the cable is gone and retrying on the same handle is pointless.
    pub fn is_gone(&self) -> bool {
        matches!(self, CableError::Gone)
    }
}

/// Shift vectors too short for their bit count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{nbits} bits need {need} bytes per vector (got tms {tms}, tdi {tdi}, tdo {tdo})")]
pub struct VectorError {
    pub nbits: u32,
    pub need: usize,
    pub tms: usize,
    pub tdi: usize,
    pub tdo: usize,
}

/// The error underneath a [`CableError`]: the driver's (an FTDI protocol error, a USB error),
/// or a plain message. Cheap to clone; displays as the error it holds. Two causes are equal
/// when they are the same error or say the same thing.
#[derive(Clone)]
pub struct Cause(Arc<dyn Error + Send + Sync + 'static>);

impl Cause {
    pub fn new(e: impl Error + Send + Sync + 'static) -> Self {
        Cause(Arc::new(e))
    }

    /// The error held, as its own type if it is one.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref()
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.to_string() == other.to_string()
    }
}

impl Eq for Cause {}

/// A cause that is only a message (no error type behind it).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

impl From<String> for Cause {
    fn from(s: String) -> Self {
        Cause::new(Message(s))
    }
}

impl From<&str> for Cause {
    fn from(s: &str) -> Self {
        Cause::new(Message(s.to_owned()))
    }
}

/// Checks that shift vectors are long enough for `nbits` and returns their byte length.
pub(crate) fn check_vectors(
    nbits: u32,
    tms: &[u8],
    tdi: &[u8],
    tdo: &[u8],
) -> Result<usize, VectorError> {
    let need = super::bytes_for_bits(nbits);
    if tms.len() < need || tdi.len() < need || tdo.len() < need {
        return Err(VectorError {
            nbits,
            need,
            tms: tms.len(),
            tdi: tdi.len(),
            tdo: tdo.len(),
        });
    }
    Ok(need)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[test]
    fn the_cause_is_the_source_and_part_of_the_message() {
        let e = CableError::Io(Cause::new(Outer(Inner)));
        assert_eq!(e.to_string(), "cable I/O error: outer");
        let cause = e.source().expect("a cause");
        assert_eq!(cause.to_string(), "outer");
        assert_eq!(cause.source().map(|s| s.to_string()), Some("inner".into()));
        let CableError::Io(c) = &e else {
            unreachable!()
        };
        assert!(c.downcast_ref::<Outer>().is_some());
        assert_eq!(e.clone(), e);
        assert_ne!(
            CableError::Timeout("a".into()),
            CableError::Timeout("b".into())
        );
    }

    #[test]
    fn short_vectors_are_an_invalid_request() {
        assert_eq!(check_vectors(9, &[0; 2], &[0; 2], &[0; 2]), Ok(2));
        let e = CableError::from(check_vectors(9, &[0; 2], &[0; 1], &[0; 2]).unwrap_err());
        assert_eq!(
            e.to_string(),
            "invalid request: 9 bits need 2 bytes per vector (got tms 2, tdi 1, tdo 2)"
        );
    }
}
