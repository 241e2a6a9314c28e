//! Opening a discovered device as a [`Cable`], and reading its EEPROM to identify it: the
//! seam between discovery and the drivers.
//!
//! Real devices ([`usb`]) are opened through the usbfs node named by their udev event;
//! simulated ones ([`simulated`]) get an emulated FT232H (a JTAG-HS2 with an xc7a35t on its
//! chain) driven through the same FTDI driver as real hardware.

mod simulated;
mod usb;

pub use simulated::SimulatedOpener;
pub(crate) use usb::UsbOpener;

use crate::ftdi::profiles::Profile;
use crate::ftdi::CableOptions;
use crate::hotplug::CableInfo;
use crate::jtag::{Cable, CableError};
use crate::sim::series7::ConfigRecord;

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

    /// Reads the EEPROM image of the device `info` describes, for identification: vendor
    /// requests only, no interface claimed. `Err` says why it could not be read; the
    /// default (an opener with no device behind it) cannot read one.
    fn read_eeprom(&self, _info: &CableInfo) -> Result<Vec<u8>, String> {
        Err("this opener has no EEPROM to read".into())
    }

    /// What the simulated FPGAs behind the cable `info` describes received (empty for real
    /// hardware, which cannot tell).
    fn simulated_fpga(&self, _info: &CableInfo) -> Vec<ConfigRecord> {
        Vec::new()
    }
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
