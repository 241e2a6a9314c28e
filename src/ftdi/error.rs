//! What can go wrong in the FTDI layer, typed by what the caller should do:
//! [`FtdiError::Gone`] (unplugged: stop), [`FtdiError::Timeout`] (no answer: reopen may help),
//! [`FtdiError::Desync`] (the reply does not match the commands: resynchronise). Through the
//! [`Cable`](crate::jtag::Cable) trait each becomes the matching [`CableError`], with the
//! `FtdiError` (and under it the [`UsbError`]) as its source.

use crate::ftdi::mpsse::DecodeError;
use crate::ftdi::transport::UsbError;
use crate::jtag::{CableError, Cause};

/// Failures of the FTDI layer: what the driver saw. Under a [`CableError`] it is the
/// cause, so each message reads as the detail of the cable error's (`cable timed out:
/// waiting for a 6-byte reply`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FtdiError {
    /// The device went away.
    #[error("cable disconnected")]
    Gone,
    /// The device did not answer in time.
    #[error("{0}")]
    Timeout(Stage),
    /// The reply does not match the commands sent.
    #[error(transparent)]
    Desync(#[from] Desync),
    /// Any other USB failure.
    #[error("USB error {stage}: {source}")]
    Usb {
        stage: Stage,
        #[source]
        source: UsbError,
    },
}

impl FtdiError {
    pub(crate) fn usb(stage: Stage, e: UsbError) -> FtdiError {
        match e {
            UsbError::Disconnected => FtdiError::Gone,
            UsbError::Timeout => FtdiError::Timeout(stage),
            source => FtdiError::Usb { stage, source },
        }
    }
}

/// What the driver was doing when the chip failed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Reset,
    Purge,
    LatencyTimer,
    BitModeReset,
    EnterMpsse,
    WriteCommands,
    /// Waiting for a reply of this many bytes.
    AwaitReply(usize),
    ReadReply,
    StartReader,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Reset => "resetting the chip",
            Stage::Purge => "purging",
            Stage::LatencyTimer => "setting the latency timer",
            Stage::BitModeReset => "resetting the bit mode",
            Stage::EnterMpsse => "entering MPSSE mode",
            Stage::WriteCommands => "writing commands",
            Stage::AwaitReply(n) => return write!(f, "waiting for a {n}-byte reply"),
            Stage::ReadReply => "reading the reply",
            Stage::StartReader => "starting the reply reader",
        })
    }
}

/// How the chip's replies and the commands sent fell out of step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Desync {
    #[error("sync check: sent invalid opcode {sent:02X}, chip answered {got:02X?}")]
    SyncCheck { sent: u8, got: [u8; 2] },
    #[error("MPSSE setup: expected [FA, AB], chip answered {got:02X?}")]
    Setup { got: [u8; 2] },
    #[error("reply stopped after {got} of {want} bytes")]
    ReplyStopped { got: usize, want: usize },
    #[error("chip sent {extra} bytes more than the {want} expected")]
    ReplyTooLong { extra: usize, want: usize },
    #[error("{len}-byte packet without modem status")]
    NoModemStatus { len: usize },
    #[error("reply read abandoned")]
    ReadAbandoned,
    #[error("reply reader failed unexpectedly")]
    ReaderFailed,
    /// The reply has the expected length but not the expected shape.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl From<FtdiError> for CableError {
    fn from(e: FtdiError) -> Self {
        match e {
            FtdiError::Gone => CableError::Gone,
            FtdiError::Timeout(_) => CableError::Timeout(Cause::new(e)),
            FtdiError::Desync(_) => CableError::Desync(Cause::new(e)),
            FtdiError::Usb { .. } => CableError::Io(Cause::new(e)),
        }
    }
}
