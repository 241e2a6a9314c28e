//! What the emulated device says about itself over usbredir: its USB descriptors (the ids and
//! strings of a JTAG-HS2, or of a simulated board's FT2232H / FT4232H with one interface per
//! channel), and the interface, endpoint and connect packets that describe it to QEMU.
//!
//! Exists so that one description of "an FTDI chip with N channels" serves both the
//! single-chip cable and the boards: every interface is vendor class with the FTDI's bulk
//! pair (IN 0x81 + 2n, OUT 0x02 + 2n), as `usb_pipe::endpoint_interface` numbers them.

use crate::ftdi::chip::{self, HIGH_SPEED_PACKET as PACKET_SIZE};
use crate::sim::usb_pipe::PipeIdentity;

/// The bulk IN endpoint of interface `interface` (A: 0x81, B: 0x83, ...).
pub(super) const fn bulk_in_ep(interface: u8) -> u8 {
    0x81 + 2 * interface
}

/// The bulk OUT endpoint of interface `interface` (A: 0x02, B: 0x04, ...).
pub(super) const fn bulk_out_ep(interface: u8) -> u8 {
    0x02 + 2 * interface
}

/// What the descriptors describe: the device's ids and strings, and its interface count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub identity: PipeIdentity,
    pub interfaces: u8,
}

impl Described {
    /// A JTAG-HS2 (FT232H, one interface) with this serial number.
    pub fn hs2(serial: &str) -> Self {
        Described {
            identity: PipeIdentity {
                vid: chip::VID,
                pid: chip::PID_FT232H,
                bcd_device: chip::BCD_FT232H,
                manufacturer: "Digilent".into(),
                product: "Digilent Adept USB Device".into(),
                serial: serial.into(),
            },
            interfaces: 1,
        }
    }

    /// The device descriptor (strings 1, 2, 3: manufacturer, product, serial).
    pub fn device_descriptor(&self) -> Vec<u8> {
        let id = &self.identity;
        let mut d = vec![18, 1, 0x00, 0x02, 0, 0, 0, 64];
        d.extend_from_slice(&id.vid.to_le_bytes());
        d.extend_from_slice(&id.pid.to_le_bytes());
        d.extend_from_slice(&id.bcd_device.to_le_bytes());
        d.extend_from_slice(&[1, 2, 3, 1]);
        d
    }

    /// Configuration 1: per channel one vendor-specific interface with its two bulk
    /// endpoints of 512 bytes.
    pub fn config_descriptor(&self) -> Vec<u8> {
        let mps = (PACKET_SIZE as u16).to_le_bytes();
        let total = (9 + 23 * u16::from(self.interfaces)).to_le_bytes();
        let mut d = vec![9, 2, total[0], total[1], self.interfaces, 1, 0, 0x80, 45];
        for i in 0..self.interfaces {
            d.extend_from_slice(&[9, 4, i, 0, 2, 0xFF, 0xFF, 0xFF, 2]);
            d.extend_from_slice(&[7, 5, bulk_in_ep(i), 2, mps[0], mps[1], 0]);
            d.extend_from_slice(&[7, 5, bulk_out_ep(i), 2, mps[0], mps[1], 0]);
        }
        d
    }

    /// The answer to GET_DESCRIPTOR(value), or `None` (stall) for a descriptor the chip lacks.
    pub fn descriptor(&self, value: u16) -> Option<Vec<u8>> {
        let (kind, index) = ((value >> 8) as u8, value as u8);
        let id = &self.identity;
        match (kind, index) {
            (1, 0) => Some(self.device_descriptor()),
            (2, 0) => Some(self.config_descriptor()),
            (3, 0) => Some(vec![4, 3, 0x09, 0x04]), // English (US)
            (3, 1) => Some(string_descriptor(&id.manufacturer)),
            (3, 2) => Some(string_descriptor(&id.product)),
            (3, 3) => Some(string_descriptor(&id.serial)),
            _ => None,
        }
    }

    /// `interface_info`: every interface, vendor class.
    pub fn interface_info(&self) -> Vec<u8> {
        let n = usize::from(self.interfaces);
        let mut h = u32::from(self.interfaces).to_le_bytes().to_vec();
        for class in [None, Some(0xFF), Some(0xFF), Some(0xFF)] {
            let mut row = [0u8; 32];
            for (i, v) in row.iter_mut().enumerate().take(n) {
                *v = class.unwrap_or(i as u8);
            }
            h.extend_from_slice(&row);
        }
        h
    }

    /// `ep_info` (with max packet sizes, without streams): control EP0 and every interface's
    /// bulk pair.
    pub fn ep_info(&self) -> Vec<u8> {
        const INVALID: u8 = 255;
        let mut types = [INVALID; 32];
        let mut interfaces = [0u8; 32];
        let mut mps = [0u16; 32];
        let mut endpoints = vec![(0x00, 0u8, 64u16, 0u8), (0x80, 0, 64, 0)];
        for i in 0..self.interfaces {
            endpoints.push((bulk_out_ep(i), 2, PACKET_SIZE as u16, i));
            endpoints.push((bulk_in_ep(i), 2, PACKET_SIZE as u16, i));
        }
        for (ep, ty, size, interface) in endpoints {
            types[ep_index(ep)] = ty;
            mps[ep_index(ep)] = size;
            interfaces[ep_index(ep)] = interface;
        }
        let mut h = types.to_vec();
        h.extend_from_slice(&[0u8; 32]); // intervals
        h.extend_from_slice(&interfaces);
        for m in mps {
            h.extend_from_slice(&m.to_le_bytes());
        }
        h
    }

    /// `device_connect`: high speed, class in the interface, with bcdDevice.
    pub fn device_connect(&self) -> Vec<u8> {
        let id = &self.identity;
        let mut h = vec![2, 0, 0, 0];
        h.extend_from_slice(&id.vid.to_le_bytes());
        h.extend_from_slice(&id.pid.to_le_bytes());
        h.extend_from_slice(&id.bcd_device.to_le_bytes());
        h
    }
}

fn string_descriptor(s: &str) -> Vec<u8> {
    let units: Vec<u16> = s.encode_utf16().take(126).collect();
    let mut d = vec![(2 + 2 * units.len()) as u8, 3];
    for u in units {
        d.extend_from_slice(&u.to_le_bytes());
    }
    d
}

/// Index of an endpoint address in the `ep_info` arrays.
pub(super) fn ep_index(ep: u8) -> usize {
    usize::from(((ep & 0x80) >> 3) | (ep & 0x0F))
}
