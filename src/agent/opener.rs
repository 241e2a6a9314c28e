//! Opening a discovered device as a [`Cable`]: the seam between discovery and the drivers.
//!
//! Real devices are opened through the usbfs node named by their udev event; simulated ones
//! get an emulated FT232H (a JTAG-HS2 with an xc7a35t on its chain) driven through the same
//! FTDI driver as real hardware.

use crate::ftdi::profiles::Profile;
use crate::ftdi::CableOptions;
use crate::hotplug::CableInfo;
use crate::jtag::{Cable, CableError};

/// Opens cables for the supervisor.
pub trait CableOpener: Send + Sync {
    /// Opens the device `info` describes as a cable wired like `profile`, initialised with
    /// `options` (TDO edge, clock cap).
    fn open(
        &self,
        info: &CableInfo,
        profile: &'static Profile,
        options: &CableOptions,
    ) -> Result<Box<dyn Cable>, CableError>;
}

/// A function with the signature of [`CableOpener::open`] is an opener, so a caller that only
/// needs to wrap or gate an opener writes what it does differently, not the trait.
impl<F> CableOpener for F
where
    F: Fn(&CableInfo, &'static Profile, &CableOptions) -> Result<Box<dyn Cable>, CableError>
        + Send
        + Sync,
{
    fn open(
        &self,
        info: &CableInfo,
        profile: &'static Profile,
        options: &CableOptions,
    ) -> Result<Box<dyn Cable>, CableError> {
        self(info, profile, options)
    }
}

/// Opens simulated cables: each is an emulated HS2 (FT232H) with its own chain holding one
/// xc7a35t, driven by [`FtdiCable`](crate::ftdi::FtdiCable) with the `hs2` profile.
/// ([`DirectCable`](crate::sim::DirectCable) remains the driver-free reference.)
#[derive(Debug, Default, Clone)]
pub struct SimulatedOpener;

impl CableOpener for SimulatedOpener {
    fn open(
        &self,
        _info: &CableInfo,
        profile: &'static Profile,
        options: &CableOptions,
    ) -> Result<Box<dyn Cable>, CableError> {
        let chip = crate::sim::ft232h::Ft232h::hs2(crate::sim::JtagChain::xc7a35t());
        let cable = crate::ftdi::FtdiCable::open_with(chip, profile, *options)?;
        Ok(Box::new(cable))
    }
}
