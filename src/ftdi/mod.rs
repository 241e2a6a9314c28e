//! FTDI MPSSE driver: turns JTAG shifts into MPSSE command bytes and moves them over USB.
//!
//! Kept apart from USB I/O so the encoder and decoder are pure and testable; the hardware is
//! reached only through the [`UsbTransport`](crate::ftdi) seam.

pub(crate) mod chip;
pub mod clock;
pub mod device;
pub mod eeprom_reader;
pub mod identify;
pub mod mpsse;
pub mod profiles;
pub(crate) mod transport;
pub mod usb;

pub use device::{CableOptions, Desync, FtdiCable, FtdiError, Stage, Timeouts};
pub use profiles::TdoEdge;
pub use transport::{UsbError, UsbTransport};
