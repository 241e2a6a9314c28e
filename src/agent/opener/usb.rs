//! Opens discovered USB cables: hands the udev-named device node to the FTDI driver over the
//! rusb backend, wired as the assigned profile says.

use super::CableOpener;
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

    fn read_eeprom(&self, info: &CableInfo) -> Result<Vec<u8>, String> {
        let devnode = info
            .devnode
            .as_deref()
            .ok_or_else(|| format!("{} has no device node", info.usb_path))?;
        crate::ftdi::usb::read_eeprom(devnode).map_err(|e| e.to_string())
    }
}
