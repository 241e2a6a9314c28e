//! Simulated hardware: a JTAG TAP chain model and the cables that drive it.
//!
//! [`ft232h`] emulates the FTDI chip of a JTAG-HS2 so the production driver runs against it;
//! [`ftdi_device`] puts one to four of its channels together into an FT232H, FT2232H or FT4232H.
//!
//! This is product code, not test scaffolding: it backs `xvc-agent run --simulate N`, the unit
//! and integration tests, and the benchmarks. There is exactly one model of the target so that
//! every path is checked against the same behaviour.

pub mod boards;
pub mod chain;
pub mod direct;
pub mod ft232h;
pub mod ftdi_device;
pub mod parts;
pub mod series7;
pub mod transfer;
pub mod usb_pipe;
pub mod usbredir;

pub use boards::SimBoard;
pub use chain::{JtagChain, SimDevice};
pub use direct::DirectCable;
pub use ft232h::Ft232h;
pub use ftdi_device::{FtdiChannel, FtdiDevice};
pub use parts::Part;
