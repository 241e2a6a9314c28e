//! FTDI MPSSE driver: turns JTAG shifts into MPSSE command bytes and moves them over USB.
//!
//! Kept apart from USB I/O so the encoder and decoder are pure and testable; the hardware is
//! reached only through the [`UsbTransport`](crate::ftdi) seam.

pub mod cable;
pub(crate) mod chip;
pub mod clock;
pub mod device;
pub mod eeprom_reader;
pub mod error;
pub mod identify;
pub mod mpsse;
pub mod profiles;
pub(crate) mod transport;
pub mod usb;

pub use cable::{CableOptions, FtdiCable};
pub use device::Timeouts;
pub use error::{Desync, FtdiError, Stage};
pub use profiles::TdoEdge;
pub use transport::{UsbError, UsbTransport};
