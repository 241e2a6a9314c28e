//! Opening a discovered device as a [`Cable`]: the seam between discovery and the drivers.
//!
//! Real devices are opened through the usbfs node named by their udev event; simulated ones
//! get an emulated FT232H (a JTAG-HS2 with an xc7a35t on its chain) driven through the same
//! FTDI driver as real hardware.

use crate::hotplug::CableInfo;
use crate::jtag::{Cable, CableError};

/// Opens cables for the supervisor.
pub trait CableOpener: Send + Sync {
    fn open(&self, info: &CableInfo) -> Result<Box<dyn Cable>, CableError>;
}

/// Opens simulated cables: each is an emulated HS2 (FT232H) with its own chain holding one
/// xc7a35t, driven by [`FtdiCable`](crate::ftdi::FtdiCable) with the `hs2` profile.
/// ([`DirectCable`](crate::sim::DirectCable) remains the driver-free reference.)
#[derive(Debug, Default, Clone)]
pub struct SimulatedOpener;

impl CableOpener for SimulatedOpener {
    fn open(&self, _info: &CableInfo) -> Result<Box<dyn Cable>, CableError> {
        let chip = crate::sim::ft232h::Ft232h::hs2(crate::sim::JtagChain::xc7a35t());
        let profile = &crate::ftdi::profiles::HS2;
        let cable = crate::ftdi::FtdiCable::open(chip, profile, profile.default_tdo_edge)?;
        Ok(Box::new(cable))
    }
}
