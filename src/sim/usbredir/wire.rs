//! The usbredir wire format (protocol 0.7, the subset a bulk-only device needs): packet
//! types, capabilities, statuses, headers whose id width the hellos negotiate, and the
//! setup packet of a control transfer. Pure encoding and parsing; no sockets.

use crate::sim::transfer::StatusTable;
use std::io;

/// Packet types.
pub mod ptype {
    pub const HELLO: u32 = 0;
    pub const DEVICE_CONNECT: u32 = 1;
    pub const DEVICE_DISCONNECT: u32 = 2;
    pub const RESET: u32 = 3;
    pub const INTERFACE_INFO: u32 = 4;
    pub const EP_INFO: u32 = 5;
    pub const SET_CONFIGURATION: u32 = 6;
    pub const GET_CONFIGURATION: u32 = 7;
    pub const CONFIGURATION_STATUS: u32 = 8;
    pub const SET_ALT_SETTING: u32 = 9;
    pub const GET_ALT_SETTING: u32 = 10;
    pub const ALT_SETTING_STATUS: u32 = 11;
    pub const CANCEL_DATA_PACKET: u32 = 21;
    pub const FILTER_REJECT: u32 = 22;
    pub const FILTER_FILTER: u32 = 23;
    pub const DEVICE_DISCONNECT_ACK: u32 = 24;
    pub const CONTROL_PACKET: u32 = 100;
    pub const BULK_PACKET: u32 = 101;
}

/// Capability bits (word 0 of the hello's capability array).
pub mod cap {
    pub const BULK_STREAMS: u32 = 0;
    pub const CONNECT_DEVICE_VERSION: u32 = 1;
    pub const FILTER: u32 = 2;
    pub const DEVICE_DISCONNECT_ACK: u32 = 3;
    pub const EP_INFO_MAX_PACKET_SIZE: u32 = 4;
    pub const IDS_64BITS: u32 = 5;
    pub const BULK_LENGTH_32BITS: u32 = 6;
    pub const BULK_RECEIVING: u32 = 7;
}

/// Transfer status codes.
pub mod status {
    pub const SUCCESS: u8 = 0;
    pub const CANCELLED: u8 = 1;
    pub const INVAL: u8 = 2;
    pub const IOERROR: u8 = 3;
    pub const STALL: u8 = 4;
    pub const TIMEOUT: u8 = 5;
}

/// The status of a transfer for each way it can end.
pub const STATUSES: StatusTable = StatusTable {
    ok: status::SUCCESS,
    timed_out: status::TIMEOUT,
    cancelled: status::CANCELLED,
    unplugged: status::IOERROR,
    failed: status::STALL,
};

/// What this server offers. Never `bulk_receiving` (see the module documentation).
pub const OUR_CAPS: u32 = 1 << cap::CONNECT_DEVICE_VERSION
    | 1 << cap::EP_INFO_MAX_PACKET_SIZE
    | 1 << cap::IDS_64BITS
    | 1 << cap::BULK_LENGTH_32BITS;

/// Largest packet accepted from the peer (a 16 MiB bulk transfer plus headers); guards
/// against a corrupt length making us allocate gigabytes.
pub const MAX_PACKET: usize = 16 * 1024 * 1024 + 64;

/// Errors that end a connection or the server.
#[derive(Debug, thiserror::Error)]
pub enum RedirError {
    #[error("usbredir I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("usbredir protocol error: {0}")]
    Protocol(String),
}

/// A packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub ptype: u32,
    pub length: u32,
    pub id: u64,
}

/// One parsed packet: its header, its body, and the bytes it took.
pub type Parsed<'a> = (Header, &'a [u8], usize);

/// Header encoding, which depends on what the hellos agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    pub ids64: bool,
    pub bulk_len32: bool,
}

impl Codec {
    /// Before the hellos: 32-bit ids.
    pub const HELLO: Codec = Codec {
        ids64: false,
        bulk_len32: false,
    };

    /// What both sides' capabilities allow.
    pub fn negotiated(peer_caps: u32) -> Codec {
        let both = peer_caps & OUR_CAPS;
        Codec {
            ids64: both & (1 << cap::IDS_64BITS) != 0,
            bulk_len32: both & (1 << cap::BULK_LENGTH_32BITS) != 0,
        }
    }

    pub fn header_len(&self) -> usize {
        if self.ids64 {
            16
        } else {
            12
        }
    }

    /// Splits one whole packet off the front of `buf`: its header and body (type header
    /// plus data), and how many bytes it took. `None` while incomplete.
    pub fn parse<'a>(&self, buf: &'a [u8]) -> Result<Option<Parsed<'a>>, RedirError> {
        let hl = self.header_len();
        if buf.len() < hl {
            return Ok(None);
        }
        let ptype = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes"));
        let length = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
        let id = if self.ids64 {
            u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"))
        } else {
            u64::from(u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes")))
        };
        if length as usize > MAX_PACKET {
            return Err(RedirError::Protocol(format!(
                "packet of {length} bytes is over the limit"
            )));
        }
        let total = hl + length as usize;
        if buf.len() < total {
            return Ok(None);
        }
        Ok(Some((Header { ptype, length, id }, &buf[hl..total], total)))
    }

    /// One packet: header, type-specific header, data.
    pub fn encode(&self, ptype: u32, id: u64, type_header: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.header_len() + type_header.len() + data.len());
        out.extend_from_slice(&ptype.to_le_bytes());
        out.extend_from_slice(&((type_header.len() + data.len()) as u32).to_le_bytes());
        if self.ids64 {
            out.extend_from_slice(&id.to_le_bytes());
        } else {
            out.extend_from_slice(&(id as u32).to_le_bytes());
        }
        out.extend_from_slice(type_header);
        out.extend_from_slice(data);
        out
    }

    /// Size of a bulk packet's type header.
    pub fn bulk_header_len(&self) -> usize {
        if self.bulk_len32 {
            10
        } else {
            8
        }
    }

    /// A bulk packet's type header.
    pub fn bulk_header(&self, endpoint: u8, st: u8, length: u32) -> Vec<u8> {
        let mut h = vec![endpoint, st];
        h.extend_from_slice(&(length as u16).to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes()); // stream id
        if self.bulk_len32 {
            h.extend_from_slice(&((length >> 16) as u16).to_le_bytes());
        }
        h
    }

    /// Parses a bulk packet's type header: (endpoint, length), and the data after it.
    pub fn parse_bulk<'a>(&self, body: &'a [u8]) -> Option<(u8, u32, &'a [u8])> {
        let hl = self.bulk_header_len();
        if body.len() < hl {
            return None;
        }
        let mut length = u32::from(u16::from_le_bytes([body[2], body[3]]));
        if self.bulk_len32 {
            length |= u32::from(u16::from_le_bytes([body[8], body[9]])) << 16;
        }
        Some((body[0], length, &body[hl..]))
    }
}

/// Our hello: a version string padded to 64 bytes, then the capabilities.
pub fn hello_body() -> Vec<u8> {
    let mut v = format!("xvc-agent {} sim-usbredir", env!("CARGO_PKG_VERSION")).into_bytes();
    v.resize(64, 0);
    v.extend_from_slice(&OUR_CAPS.to_le_bytes());
    v
}

/// The capabilities in a peer's hello body.
pub fn hello_caps(body: &[u8]) -> Result<u32, RedirError> {
    if body.len() < 68 {
        return Err(RedirError::Protocol("short hello".into()));
    }
    Ok(u32::from_le_bytes(
        body[64..68].try_into().expect("4 bytes"),
    ))
}

/// A control transfer's setup, as the control packet's type header carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub endpoint: u8,
    pub request: u8,
    pub request_type: u8,
    pub value: u16,
    pub index: u16,
    pub length: u16,
}

impl Setup {
    pub const LEN: usize = 10;

    pub fn parse(body: &[u8]) -> Option<Setup> {
        if body.len() < Self::LEN {
            return None;
        }
        Some(Setup {
            endpoint: body[0],
            request: body[1],
            request_type: body[2],
            value: u16::from_le_bytes([body[4], body[5]]),
            index: u16::from_le_bytes([body[6], body[7]]),
            length: u16::from_le_bytes([body[8], body[9]]),
        })
    }

    /// The answer's type header: the setup with a status and the actual length.
    pub fn answer(&self, st: u8, length: u16) -> Vec<u8> {
        let mut h = vec![self.endpoint, self.request, self.request_type, st];
        h.extend_from_slice(&self.value.to_le_bytes());
        h.extend_from_slice(&self.index.to_le_bytes());
        h.extend_from_slice(&length.to_le_bytes());
        h
    }
}
