//! Opens discovered USB cables: hands the udev-named device node to the FTDI driver over the
//! rusb backend, wired as the assigned profile says.

use crate::agent::opener::CableOpener;
use crate::ftdi::profiles::Profile;
use crate::ftdi::CableOptions;
use crate::hotplug::CableInfo;
use crate::jtag::{Cable, CableError};

/// Opens real cables through their usbfs node.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct UsbOpener;

impl CableOpener for UsbOpener {
    fn open(
        &self,
        info: &CableInfo,
        profile: &'static Profile,
        options: &CableOptions,
    ) -> Result<Box<dyn Cable>, CableError> {
        crate::ftdi::usb::open_usb_cable_with(info, profile, *options)
    }
}
