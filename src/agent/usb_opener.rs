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
        let devnode = info.devnode.as_deref().ok_or_else(|| {
            CableError::Io(format!("{} has no device node", info.usb_path).into())
        })?;
        crate::ftdi::usb::open_cable(devnode, profile, *options)
    }
}
