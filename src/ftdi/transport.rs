//! The USB seam: everything the FTDI driver needs from a USB device, and nothing more.
//!
//! Implemented by the rusb backend (real hardware, or umockdev in tests) and by the in-process
//! FT232H emulator (`--simulate`). Methods take `&self` so a reader thread and a writer thread
//! can use one device at the same time, which is how reads and writes are overlapped.

use std::time::Duration;

/// USB-level failures, classified the way the driver needs to react to them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsbError {
    /// The device is gone (unplugged): stop using this handle.
    #[error("device disconnected")]
    Disconnected,
    /// The transfer did not complete in time.
    #[error("USB transfer timed out")]
    Timeout,
    /// Access to the device node was denied.
    #[error("permission denied opening the USB device")]
    Access,
    /// The device or interface is held by someone else.
    #[error("USB device busy (claimed by another program)")]
    Busy,
    /// Anything else reported by the USB stack.
    #[error("USB error: {0}")]
    Other(String),
}

/// Vendor-specific control requests and bulk transfers on one FTDI interface.
pub trait UsbTransport: Send + Sync {
    /// Host-to-device vendor request (bmRequestType 0x40) with no data stage.
    fn control_out(
        &self,
        request: u8,
        value: u16,
        index: u16,
        timeout: Duration,
    ) -> Result<(), UsbError>;

    /// Device-to-host vendor request (bmRequestType 0xC0); returns bytes read into `buf`.
    fn control_in(
        &self,
        request: u8,
        value: u16,
        index: u16,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, UsbError>;

    /// Writes to the bulk OUT endpoint; returns bytes written.
    fn write_bulk(&self, data: &[u8], timeout: Duration) -> Result<usize, UsbError>;

    /// Reads from the bulk IN endpoint into `buf` (a whole number of packets, each starting
    /// with the FTDI's two modem-status bytes); returns bytes read.
    fn read_bulk(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, UsbError>;

    /// Max packet size of the bulk IN endpoint (512 at high speed, 64 at full speed).
    fn max_packet_size(&self) -> usize;
}

macro_rules! forward_transport {
    ($wrapper:ident) => {
        impl<T: UsbTransport + ?Sized> UsbTransport for $wrapper<T> {
            fn control_out(
                &self,
                request: u8,
                value: u16,
                index: u16,
                timeout: Duration,
            ) -> Result<(), UsbError> {
                (**self).control_out(request, value, index, timeout)
            }

            fn control_in(
                &self,
                request: u8,
                value: u16,
                index: u16,
                buf: &mut [u8],
                timeout: Duration,
            ) -> Result<usize, UsbError> {
                (**self).control_in(request, value, index, buf, timeout)
            }

            fn write_bulk(&self, data: &[u8], timeout: Duration) -> Result<usize, UsbError> {
                (**self).write_bulk(data, timeout)
            }

            fn read_bulk(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, UsbError> {
                (**self).read_bulk(buf, timeout)
            }

            fn max_packet_size(&self) -> usize {
                (**self).max_packet_size()
            }
        }
    };
}

// A boxed or shared transport is a transport, so drivers can hold `Box<dyn UsbTransport>`.
use std::sync::Arc;
forward_transport!(Box);
forward_transport!(Arc);
