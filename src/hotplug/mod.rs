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
    /// bcdDevice: the chip revision (an FTDI chip type has one value; a clone may not).
    pub bcd_device: u16,
    /// bNumInterfaces of the active configuration (an FTDI chip: one per channel).
    pub interfaces: u8,
    /// The usbfs node to open (e.g. `/dev/bus/usb/001/004`); `None` for simulated cables.
    pub devnode: Option<PathBuf>,
    /// How the device is named to rules, leases and reservations; set once it is identified.
    pub naming: Naming,
}

/// How a device's identity is formed from its facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Naming {
    /// Its serial, else its USB path (a single-channel cable, or not identified yet).
    #[default]
    Serial,
    /// Its serial followed by the letter of the served channel (`210276A1B2C3B`), as Vivado
    /// names a channel of a multi-channel chip; its USB path if it has no serial.
    SerialAndChannel(u8),
    /// Its USB path: its serial is one every unit of its board carries.
    UsbPath,
}

impl CableInfo {
    /// The cable's identity (see [`Naming`]). Never bus/device numbers, which change on every
    /// replug.
    pub(crate) fn identity(&self) -> String {
        match (self.naming, self.serial.as_deref()) {
            (Naming::UsbPath, _) | (_, None) => self.usb_path.clone(),
            (Naming::Serial, Some(serial)) => serial.to_string(),
            (Naming::SerialAndChannel(channel), Some(serial)) => {
                format!("{serial}{}", channel_letter(channel))
            }
        }
    }
}

/// The letter FTDI and Vivado give a channel (0 = A).
pub fn channel_letter(channel: u8) -> char {
    char::from(b'A' + channel.min(25))
}

/// A change in the set of attached devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CableEvent {
    /// A device is present (found at start or plugged in).
    Attached(CableInfo),
    /// The device at this syspath is gone.
    Detached { syspath: PathBuf },
}
