//! What the emulated cable says about itself over usbredir: its USB descriptors (the same
//! ids and strings as a Digilent JTAG-HS2), and the interface, endpoint and connect packets
//! that describe it to QEMU.

use crate::ftdi::chip::{self, HIGH_SPEED_PACKET as PACKET_SIZE};

/// The FT232H's bulk endpoints (interface A).
pub(super) const BULK_OUT_EP: u8 = 0x02;
pub(super) const BULK_IN_EP: u8 = 0x81;

/// The identity the emulated cable reports over USB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CableIdentity {
    pub manufacturer: String,
    pub product: String,
    pub serial: String,
}

impl CableIdentity {
    /// A JTAG-HS2 with this serial number.
    pub fn hs2(serial: &str) -> Self {
        CableIdentity {
            manufacturer: "Digilent".into(),
            product: "Digilent Adept USB Device".into(),
            serial: serial.into(),
        }
    }
}

/// The FT232H's device descriptor (strings 1, 2, 3: manufacturer, product, serial).
pub fn device_descriptor() -> Vec<u8> {
    let mut d = vec![18, 1, 0x00, 0x02, 0, 0, 0, 64];
    d.extend_from_slice(&chip::VID.to_le_bytes());
    d.extend_from_slice(&chip::PID_FT232H.to_le_bytes());
    d.extend_from_slice(&chip::BCD_FT232H.to_le_bytes());
    d.extend_from_slice(&[1, 2, 3, 1]);
    d
}

/// Configuration 1: one vendor-specific interface with bulk endpoints 0x81 and 0x02 of
/// 512 bytes.
pub fn config_descriptor() -> Vec<u8> {
    let mps = (PACKET_SIZE as u16).to_le_bytes();
    let mut d = vec![9, 2, 32, 0, 1, 1, 0, 0x80, 45];
    d.extend_from_slice(&[9, 4, 0, 0, 2, 0xFF, 0xFF, 0xFF, 2]);
    d.extend_from_slice(&[7, 5, BULK_IN_EP, 2, mps[0], mps[1], 0]);
    d.extend_from_slice(&[7, 5, BULK_OUT_EP, 2, mps[0], mps[1], 0]);
    d
}

fn string_descriptor(s: &str) -> Vec<u8> {
    let units: Vec<u16> = s.encode_utf16().take(126).collect();
    let mut d = vec![(2 + 2 * units.len()) as u8, 3];
    for u in units {
        d.extend_from_slice(&u.to_le_bytes());
    }
    d
}

/// The answer to GET_DESCRIPTOR(value), or `None` (stall) for a descriptor the chip lacks.
pub fn descriptor(id: &CableIdentity, value: u16) -> Option<Vec<u8>> {
    let (kind, index) = ((value >> 8) as u8, value as u8);
    match (kind, index) {
        (1, 0) => Some(device_descriptor()),
        (2, 0) => Some(config_descriptor()),
        (3, 0) => Some(vec![4, 3, 0x09, 0x04]), // English (US)
        (3, 1) => Some(string_descriptor(&id.manufacturer)),
        (3, 2) => Some(string_descriptor(&id.product)),
        (3, 3) => Some(string_descriptor(&id.serial)),
        _ => None,
    }
}

/// `interface_info`: one interface, vendor class.
pub fn interface_info() -> Vec<u8> {
    let mut h = 1u32.to_le_bytes().to_vec();
    for value in [0u8, 0xFF, 0xFF, 0xFF] {
        let mut row = [0u8; 32];
        row[0] = value;
        h.extend_from_slice(&row);
    }
    h
}

/// Index of an endpoint address in the `ep_info` arrays.
pub(super) fn ep_index(ep: u8) -> usize {
    usize::from(((ep & 0x80) >> 3) | (ep & 0x0F))
}

/// `ep_info` (with max packet sizes, without streams): control EP0, bulk 0x02 and 0x81.
pub fn ep_info() -> Vec<u8> {
    const INVALID: u8 = 255;
    let mut types = [INVALID; 32];
    let mut mps = [0u16; 32];
    for (ep, ty, size) in [
        (0x00, 0u8, 64u16),
        (0x80, 0, 64),
        (BULK_OUT_EP, 2, PACKET_SIZE as u16),
        (BULK_IN_EP, 2, PACKET_SIZE as u16),
    ] {
        types[ep_index(ep)] = ty;
        mps[ep_index(ep)] = size;
    }
    let mut h = types.to_vec();
    h.extend_from_slice(&[0u8; 32]); // intervals
    h.extend_from_slice(&[0u8; 32]); // interfaces: all on interface 0
    for m in mps {
        h.extend_from_slice(&m.to_le_bytes());
    }
    h
}

/// `device_connect`: high speed, class in the interface, with bcdDevice.
pub fn device_connect() -> Vec<u8> {
    let mut h = vec![2, 0, 0, 0];
    h.extend_from_slice(&chip::VID.to_le_bytes());
    h.extend_from_slice(&chip::PID_FT232H.to_le_bytes());
    h.extend_from_slice(&chip::BCD_FT232H.to_le_bytes());
    h
}
