//! Opens discovered USB cables: picks the cable profile and hands the udev-named device node
//! to the FTDI driver over the rusb backend.

use crate::agent::opener::CableOpener;
use crate::ftdi::profiles::{self, Profile};
use crate::hotplug::CableInfo;
use crate::jtag::{Cable, CableError};

/// Chooses the profile a device is driven with (`None`: not a cable we can drive).
pub type ProfileChooser = fn(&CableInfo) -> Option<&'static Profile>;

/// The built-in choice: the profile the device matches without any rule.
pub fn detected_profile(info: &CableInfo) -> Option<&'static Profile> {
    profiles::detect(
        info.vid,
        info.pid,
        info.manufacturer.as_deref(),
        info.product.as_deref(),
    )
}

/// Opens real cables through their usbfs node.
#[derive(Debug, Clone, Copy)]
pub struct UsbOpener {
    pub profile_for: ProfileChooser,
}

impl Default for UsbOpener {
    fn default() -> Self {
        UsbOpener {
            profile_for: detected_profile,
        }
    }
}

impl CableOpener for UsbOpener {
    fn open(&self, info: &CableInfo) -> Result<Box<dyn Cable>, CableError> {
        let profile = (self.profile_for)(info).ok_or_else(|| {
            CableError::InvalidRequest(format!(
                "no cable profile for {:04x}:{:04x} ({})",
                info.vid,
                info.pid,
                info.manufacturer.as_deref().unwrap_or("no manufacturer")
            ))
        })?;
        crate::ftdi::usb::open_usb_cable(info, profile)
    }
}
