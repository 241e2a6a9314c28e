//! Cable discovery: where [`CableEvent`]s come from.
//!
//! Cables present at start and cables plugged in later are reported the same way, as
//! `Attached`, so the supervisor has one code path (coldplug is just hotplug that happened
//! before we looked). Sources: udev (real hardware) and [`simulated`] (`--simulate N`).

pub mod simulated;
pub mod udev;

use std::path::PathBuf;

/// What discovery knows about a USB device that may be a JTAG cable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CableInfo {
    /// Stable key of the device for the lifetime of one attachment (udev syspath).
    pub syspath: PathBuf,
    /// USB serial number, if the device has one.
    pub serial: Option<String>,
    /// USB port path (udev sysname, e.g. `1-1.4`); stable across replugs into the same port.
    pub usb_path: String,
    pub busnum: u8,
    pub devnum: u8,
    pub vid: u16,
    pub pid: u16,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    /// The usbfs node to open (e.g. `/dev/bus/usb/001/004`); `None` for simulated cables.
    pub devnode: Option<PathBuf>,
}

impl CableInfo {
    /// The cable's identity: its serial, else its USB port path. Never bus/device numbers,
    /// which change on every replug.
    pub(crate) fn identity(&self) -> String {
        self.identity_str().to_string()
    }

    /// [`identity`](Self::identity), borrowed.
    pub(crate) fn identity_str(&self) -> &str {
        self.serial.as_deref().unwrap_or(&self.usb_path)
    }
}

/// A change in the set of attached devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CableEvent {
    /// A device is present (found at start or plugged in).
    Attached(CableInfo),
    /// The device at this syspath is gone.
    Detached { syspath: PathBuf },
}
