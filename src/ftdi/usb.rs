//! The rusb backend of [`UsbTransport`]: a real FTDI chip behind the host's libusb.
//!
//! A cable is opened through the exact usbfs node its udev event names (for example
//! `/dev/bus/usb/001/004`): we open that file ourselves and hand the descriptor to libusb
//! (`libusb_wrap_sys_device`). libusb then never scans the bus, which is both cheaper and
//! right: the node is the device udev told us about and whose permissions udev set, not
//! whichever device happens to carry the same VID:PID. Device discovery is switched off
//! globally before the first libusb context exists, so no context starts its own hotplug
//! machinery.
//!
//! `ftdi_sio` binds every FT232H; its driver is detached from the JTAG interface only (never
//! from other interfaces, which may be a UART someone uses), and only when it is attached.
//! libusb is the system library (rusb's default, found through pkg-config), not a vendored
//! copy.

use crate::ftdi::profiles::Profile;
use crate::ftdi::transport::{UsbError, UsbTransport};
use crate::ftdi::{CableOptions, FtdiCable};
use crate::jtag::{Cable, CableError, Cause};
use rusb::UsbContext;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

/// Maps a libusb error to the driver's classification.
pub fn map_error(e: rusb::Error) -> UsbError {
    match e {
        rusb::Error::NoDevice => UsbError::Disconnected,
        rusb::Error::Timeout => UsbError::Timeout,
        rusb::Error::Access => UsbError::Access,
        rusb::Error::Busy => UsbError::Busy,
        other => UsbError::Other(other.to_string()),
    }
}

/// Maps a failure to open the device node.
fn map_open_error(e: &std::io::Error) -> UsbError {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => UsbError::Access,
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => UsbError::Disconnected,
        Some(libc::EBUSY) => UsbError::Busy,
        _ => UsbError::Other(e.to_string()),
    }
}

/// libusb wants its timeouts in whole milliseconds and treats 0 as "forever"; a zero or
/// sub-millisecond timeout here means "as short as possible".
fn usb_timeout(t: Duration) -> Duration {
    t.max(Duration::from_millis(1))
}

static DISABLE_DISCOVERY: Once = Once::new();

/// Bulk endpoints of the JTAG interface, read from the configuration descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    pub bulk_in: u8,
    pub bulk_out: u8,
    pub in_max_packet: usize,
}

/// An opened, claimed FTDI interface.
///
/// Field order matters: the handle (and with it the claimed interface) is released before
/// the device node it wraps is closed.
pub struct RusbTransport {
    handle: rusb::DeviceHandle<rusb::Context>,
    _node: File,
    devnode: PathBuf,
    interface: u8,
    endpoints: Endpoints,
    detached_driver: bool,
}

impl std::fmt::Debug for RusbTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RusbTransport")
            .field("devnode", &self.devnode)
            .field("interface", &self.interface)
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

impl RusbTransport {
    /// Opens the usbfs node `devnode`, detaches a kernel driver from `interface` if one is
    /// bound, and claims the interface.
    pub fn open(devnode: &Path, interface: u8) -> Result<Self, UsbError> {
        let (handle, node) = open_unclaimed(devnode)?;
        let endpoints = find_endpoints(&handle.device(), interface)?;
        let detached_driver = match handle.kernel_driver_active(interface) {
            Ok(true) => {
                handle.detach_kernel_driver(interface).map_err(map_error)?;
                true
            }
            Ok(false) | Err(rusb::Error::NotSupported) | Err(rusb::Error::NotFound) => false,
            Err(e) => return Err(map_error(e)),
        };
        handle.claim_interface(interface).map_err(map_error)?;
        tracing::debug!(
            devnode = %devnode.display(),
            interface,
            detached_driver,
            "opened USB device (IN {:#04x}, OUT {:#04x}, packet {})",
            endpoints.bulk_in,
            endpoints.bulk_out,
            endpoints.in_max_packet
        );
        Ok(RusbTransport {
            handle,
            _node: node,
            devnode: devnode.to_path_buf(),
            interface,
            endpoints,
            detached_driver,
        })
    }

    /// The node this transport was opened from.
    pub fn devnode(&self) -> &Path {
        &self.devnode
    }

    /// The bulk endpoints in use.
    pub fn endpoints(&self) -> Endpoints {
        self.endpoints
    }

    /// True when a kernel driver had to be detached before claiming.
    pub fn detached_driver(&self) -> bool {
        self.detached_driver
    }
}

/// Opens the usbfs node `devnode` and wraps it in a libusb handle of its own context, claiming
/// nothing. The handle must be dropped before the returned node.
fn open_unclaimed(devnode: &Path) -> Result<(rusb::DeviceHandle<rusb::Context>, File), UsbError> {
    DISABLE_DISCOVERY.call_once(|| {
        if let Err(e) = rusb::disable_device_discovery() {
            tracing::warn!("cannot disable libusb device discovery: {e}");
        }
    });
    let node = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(devnode)
        .map_err(|e| map_open_error(&e))?;
    // One context per cable: one cable's event handling never waits on another's.
    let context = rusb::Context::new().map_err(map_error)?;
    // SAFETY: the caller keeps `node` open for as long as the handle exists (RusbTransport
    // by its field order, read_eeprom by dropping the handle first).
    let handle = unsafe { context.open_device_with_fd(node.as_raw_fd()) }.map_err(map_error)?;
    Ok((handle, node))
}

/// Finds the bulk IN and OUT endpoints of `interface` (alternate setting 0).
fn find_endpoints(
    device: &rusb::Device<rusb::Context>,
    interface: u8,
) -> Result<Endpoints, UsbError> {
    let config = device
        .active_config_descriptor()
        .or_else(|_| device.config_descriptor(0))
        .map_err(map_error)?;
    let iface = config
        .interfaces()
        .find(|i| i.number() == interface)
        .ok_or_else(|| UsbError::Other(format!("device has no interface {interface}")))?;
    let alt = iface
        .descriptors()
        .next()
        .ok_or_else(|| UsbError::Other(format!("interface {interface} has no descriptor")))?;
    let mut bulk_in = None;
    let mut bulk_out = None;
    for ep in alt.endpoint_descriptors() {
        if ep.transfer_type() != rusb::TransferType::Bulk {
            continue;
        }
        match ep.direction() {
            rusb::Direction::In if bulk_in.is_none() => {
                bulk_in = Some((ep.address(), ep.max_packet_size() as usize))
            }
            rusb::Direction::Out if bulk_out.is_none() => bulk_out = Some(ep.address()),
            _ => {}
        }
    }
    match (bulk_in, bulk_out) {
        (Some((bulk_in, in_max_packet)), Some(bulk_out)) => Ok(Endpoints {
            bulk_in,
            bulk_out,
            in_max_packet: in_max_packet.max(1),
        }),
        _ => Err(UsbError::Other(format!(
            "interface {interface} lacks a bulk IN/OUT endpoint pair"
        ))),
    }
}

/// bmRequestType of FTDI vendor requests (host to device, device to host). The caller passes
/// wIndex as the chip expects it (channel number, 1-based), so nothing is rewritten here.
const VENDOR_OUT: u8 = 0x40;
const VENDOR_IN: u8 = 0xC0;

impl UsbTransport for RusbTransport {
    fn control_out(
        &self,
        request: u8,
        value: u16,
        index: u16,
        timeout: Duration,
    ) -> Result<(), UsbError> {
        self.handle
            .write_control(VENDOR_OUT, request, value, index, &[], usb_timeout(timeout))
            .map(|_| ())
            .map_err(map_error)
    }

    fn control_in(
        &self,
        request: u8,
        value: u16,
        index: u16,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, UsbError> {
        self.handle
            .read_control(VENDOR_IN, request, value, index, buf, usb_timeout(timeout))
            .map_err(map_error)
    }

    fn write_bulk(&self, data: &[u8], timeout: Duration) -> Result<usize, UsbError> {
        self.handle
            .write_bulk(self.endpoints.bulk_out, data, usb_timeout(timeout))
            .map_err(map_error)
    }

    fn read_bulk(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, UsbError> {
        self.handle
            .read_bulk(self.endpoints.bulk_in, buf, usb_timeout(timeout))
            .map_err(map_error)
    }

    fn max_packet_size(&self) -> usize {
        self.endpoints.in_max_packet
    }
}

/// Reads the EEPROM image of the FTDI chip behind the usbfs node `devnode` for
/// identification: vendor requests to the device only, so no interface is claimed and no
/// kernel driver is detached (see [`eeprom_reader`](crate::ftdi::eeprom_reader)).
pub fn read_eeprom(devnode: &Path) -> Result<Vec<u8>, UsbError> {
    let (handle, node) = open_unclaimed(devnode)?;
    let image = crate::ftdi::eeprom_reader::read_image(|address, word| {
        handle
            .read_control(
                VENDOR_IN,
                crate::ftdi::chip::request::READ_EEPROM,
                0,
                address,
                word,
                usb_timeout(crate::ftdi::eeprom_reader::WORD_TIMEOUT),
            )
            .map_err(map_error)
    });
    drop(handle);
    drop(node);
    image
}

/// Classifies a USB failure for the JTAG layer.
pub fn cable_error(e: UsbError) -> CableError {
    match e {
        UsbError::Disconnected => CableError::Gone,
        UsbError::Timeout => CableError::Timeout(Cause::new(e)),
        _ => CableError::Io(Cause::new(e)),
    }
}

/// Opens the FTDI chip behind the usbfs node `devnode` as a JTAG [`Cable`] wired like
/// `profile`: claims the profile's interface, then initialises the MPSSE engine with
/// `options` (TDO edge, clock cap, timeouts).
pub fn open_cable(
    devnode: &Path,
    profile: &Profile,
    options: CableOptions,
) -> Result<Box<dyn Cable>, CableError> {
    let transport = RusbTransport::open(devnode, profile.interface).map_err(cable_error)?;
    let cable = FtdiCable::open_with(transport, profile, options)?;
    Ok(Box::new(cable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        assert_eq!(map_error(rusb::Error::NoDevice), UsbError::Disconnected);
        assert_eq!(map_error(rusb::Error::Timeout), UsbError::Timeout);
        assert_eq!(map_error(rusb::Error::Access), UsbError::Access);
        assert_eq!(map_error(rusb::Error::Busy), UsbError::Busy);
        assert!(matches!(map_error(rusb::Error::Pipe), UsbError::Other(_)));
    }

    #[test]
    fn missing_node_is_disconnected() {
        let err = RusbTransport::open(Path::new("/nonexistent/bus/usb/001/001"), 0).unwrap_err();
        assert_eq!(err, UsbError::Disconnected);
    }

    #[test]
    fn zero_timeout_is_not_forever() {
        assert_eq!(usb_timeout(Duration::ZERO), Duration::from_millis(1));
        assert_eq!(usb_timeout(Duration::from_secs(2)), Duration::from_secs(2));
    }
}
