//! Opening a discovered device as a [`Cable`]: the seam between discovery and the drivers.
//!
//! Real devices are opened through the usbfs node named by their udev event; simulated ones
//! get an emulated cable with an xc7a35t on its chain.

use crate::hotplug::CableInfo;
use crate::jtag::{Cable, CableError};

/// Opens cables for the supervisor.
pub trait CableOpener: Send + Sync {
    fn open(&self, info: &CableInfo) -> Result<Box<dyn Cable>, CableError>;
}

/// Opens simulated cables: each gets its own chain with one xc7a35t.
#[derive(Debug, Default, Clone)]
pub struct SimulatedOpener;

impl CableOpener for SimulatedOpener {
    fn open(&self, _info: &CableInfo) -> Result<Box<dyn Cable>, CableError> {
        Ok(Box::new(crate::sim::DirectCable::new(
            crate::sim::JtagChain::xc7a35t(),
        )))
    }
}
