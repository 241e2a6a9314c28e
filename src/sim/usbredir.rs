//! An emulated JTAG-HS2 as a usbredir device server, for QEMU's `usb-redir` device.
//!
//! It exists so that the virtual-machine tests can hot-plug cables into a guest's real
//! kernel (xHCI, usbfs, `ftdi_sio`) while the chip behind them is the project's one FT232H
//! model ([`Ft232h`]), exactly as `sim-usb-device` serves the same model to the umockdev
//! harness. Reached through the hidden subcommand `xvc-agent sim-usbredir`.
//!
//! The server listens on a unix socket; QEMU connects to it (a `socket` chardev with
//! `server: false`, then `device_add usb-redir`). Each connection is one plug-in of a fresh
//! chip; the connection ending is the cable being pulled on the QEMU side. The cable can
//! also be pulled from the device side (`device_disconnect`) and plugged in again, by
//! writing `unplug` or `plug` lines to the server's standard input.
//!
//! # Protocol (usbredir 0.7, the subset a bulk-only full/high-speed device needs)
//! All integers little-endian. Each packet is a header `u32 type | u32 length | id`, where
//! `length` counts what follows the header (a type-specific header, then data) and `id` is
//! a u32 until both sides' hellos offered `64bits_ids`, a u64 from then on. QEMU speaks
//! first; the server answers with its hello, then describes the device (`interface_info`,
//! `ep_info`, `device_connect`). QEMU handles SET_ADDRESS itself, turns SET_CONFIGURATION /
//! SET_INTERFACE into their own packets, and forwards every other control transfer and
//! every bulk transfer as a data packet, which the server answers with the same id.
//! `bulk_receiving` is deliberately not offered: QEMU would then switch the FTDI's IN
//! endpoint to its own buffered path, and the point here is the kernel's plain bulk path.
//! An IN request with nothing to read waits for the chip's latency timer and returns the two
//! modem-status bytes, as the chip does.

use crate::ftdi::chip::{self, HIGH_SPEED_PACKET as PACKET_SIZE};
use crate::ftdi::transport::{UsbError, UsbTransport};
use crate::sim::ft232h::Ft232h;
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

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

/// What this server offers. Never `bulk_receiving` (see the module documentation).
pub const OUR_CAPS: u32 = 1 << cap::CONNECT_DEVICE_VERSION
    | 1 << cap::EP_INFO_MAX_PACKET_SIZE
    | 1 << cap::IDS_64BITS
    | 1 << cap::BULK_LENGTH_32BITS;

/// Largest packet accepted from the peer (a 16 MiB bulk transfer plus headers); guards
/// against a corrupt length making us allocate gigabytes.
pub const MAX_PACKET: usize = 16 * 1024 * 1024 + 64;

const BULK_OUT_EP: u8 = 0x02;
const BULK_IN_EP: u8 = 0x81;
/// How long one chip call may block before a worker looks at cancellations again.
const SLICE: Duration = Duration::from_millis(50);

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
fn ep_index(ep: u8) -> usize {
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A command to the cable from the device side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Pull the cable (`device_disconnect`).
    Unplug,
    /// Plug a fresh chip in again.
    Plug,
}

/// The chip currently plugged in (replaced on every plug-in).
type ChipFactory = Arc<dyn Fn() -> Ft232h + Send + Sync>;

struct Conn {
    out: Mutex<UnixStream>,
    codec: Codec,
    chip: Mutex<Option<Ft232h>>,
    cancelled: Mutex<HashSet<u64>>,
    identity: CableIdentity,
    configuration: Mutex<u8>,
}

impl Conn {
    fn send(&self, ptype: u32, id: u64, type_header: &[u8], data: &[u8]) {
        let packet = self.codec.encode(ptype, id, type_header, data);
        // A peer that went away cannot be answered; the reader notices the end.
        let _ = lock(&self.out).write_all(&packet);
    }

    fn chip(&self) -> Option<Ft232h> {
        lock(&self.chip).clone()
    }

    fn take_cancel(&self, id: u64) -> bool {
        lock(&self.cancelled).remove(&id)
    }

    fn describe(&self) {
        self.send(ptype::INTERFACE_INFO, 0, &interface_info(), &[]);
        self.send(ptype::EP_INFO, 0, &ep_info(), &[]);
    }

    fn plug(&self, chip: Ft232h) {
        *lock(&self.chip) = Some(chip);
        self.describe();
        self.send(ptype::DEVICE_CONNECT, 0, &device_connect(), &[]);
    }

    fn unplug(&self) {
        if let Some(chip) = lock(&self.chip).take() {
            chip.unplug();
        }
        self.send(ptype::DEVICE_DISCONNECT, 0, &[], &[]);
    }

    fn control(&self, id: u64, setup: Setup, data: &[u8]) {
        let input = setup.endpoint & 0x80 != 0;
        let Some(chip) = self.chip() else {
            return self.send(
                ptype::CONTROL_PACKET,
                id,
                &setup.answer(status::IOERROR, 0),
                &[],
            );
        };
        let kind = setup.request_type & 0x60;
        let reply: Result<Vec<u8>, u8> = if kind == 0x40 {
            // Vendor requests go to the chip as they are.
            let index = setup.index;
            let t = Duration::from_secs(1);
            if input {
                let mut buf = vec![0u8; usize::from(setup.length)];
                chip.control_in(setup.request, setup.value, index, &mut buf, t)
                    .map(|n| buf[..n].to_vec())
                    .map_err(|e| usb_status(&e))
            } else {
                chip.control_out(setup.request, setup.value, index, t)
                    .map(|()| Vec::new())
                    .map_err(|e| usb_status(&e))
            }
        } else if kind == 0 {
            match (setup.request_type, setup.request) {
                (0x80, 6) => descriptor(&self.identity, setup.value).ok_or(status::STALL),
                (0x80..=0x82, 0) => Ok(vec![0, 0]), // GET_STATUS
                (0x00..=0x02, 1 | 3) => Ok(Vec::new()), // CLEAR/SET_FEATURE
                _ => Err(status::STALL),
            }
        } else {
            Err(status::STALL)
        };
        match reply {
            Ok(mut bytes) if input => {
                bytes.truncate(usize::from(setup.length));
                let n = bytes.len() as u16;
                self.send(
                    ptype::CONTROL_PACKET,
                    id,
                    &setup.answer(status::SUCCESS, n),
                    &bytes,
                )
            }
            Ok(_) => self.send(
                ptype::CONTROL_PACKET,
                id,
                &setup.answer(status::SUCCESS, setup.length.min(data.len() as u16)),
                &[],
            ),
            Err(st) => self.send(ptype::CONTROL_PACKET, id, &setup.answer(st, 0), &[]),
        }
    }

    fn bulk_out(&self, id: u64, data: &[u8]) {
        let mut written = 0usize;
        let st = loop {
            if written == data.len() {
                break status::SUCCESS;
            }
            if self.take_cancel(id) {
                break status::CANCELLED;
            }
            let Some(chip) = self.chip() else {
                break status::IOERROR;
            };
            let before = chip.counters().bytes_out;
            match chip.write_bulk(&data[written..], SLICE) {
                Ok(n) => written += n,
                // Count what went in before the time ran out, so it is not sent again.
                Err(UsbError::Timeout) => {
                    let taken = chip.counters().bytes_out.saturating_sub(before) as usize;
                    written = (written + taken).min(data.len());
                }
                Err(e) => break usb_status(&e),
            }
        };
        let h = self.codec.bulk_header(BULK_OUT_EP, st, written as u32);
        self.send(ptype::BULK_PACKET, id, &h, &[]);
    }

    fn bulk_in(&self, id: u64, length: u32, leftover: &mut Vec<u8>) {
        let want = length as usize;
        let (st, bytes) = loop {
            if want == 0 {
                break (status::SUCCESS, Vec::new());
            }
            if !leftover.is_empty() {
                let n = want.min(leftover.len());
                break (status::SUCCESS, leftover.drain(..n).collect());
            }
            if self.take_cancel(id) {
                break (status::CANCELLED, Vec::new());
            }
            let Some(chip) = self.chip() else {
                break (status::IOERROR, Vec::new());
            };
            // The chip hands out whole packets: read at least one, keep any excess.
            let mut buf = vec![0u8; want.max(PACKET_SIZE).div_ceil(PACKET_SIZE) * PACKET_SIZE];
            match chip.read_bulk(&mut buf, SLICE) {
                Ok(n) => {
                    buf.truncate(n);
                    if n > want {
                        leftover.extend_from_slice(&buf[want..]);
                        buf.truncate(want);
                    }
                    break (status::SUCCESS, buf);
                }
                Err(UsbError::Timeout) => continue,
                Err(e) => break (usb_status(&e), Vec::new()),
            }
        };
        let h = self.codec.bulk_header(BULK_IN_EP, st, bytes.len() as u32);
        self.send(ptype::BULK_PACKET, id, &h, &bytes);
    }
}

fn usb_status(e: &UsbError) -> u8 {
    match e {
        UsbError::Timeout => status::TIMEOUT,
        UsbError::Disconnected => status::IOERROR,
        _ => status::STALL,
    }
}

/// Bulk work queued to an endpoint's worker.
enum Bulk {
    Out(u64, Vec<u8>),
    In(u64, u32),
}

fn bulk_worker(conn: Arc<Conn>, rx: mpsc::Receiver<Bulk>) {
    let mut leftover = Vec::new();
    for job in rx {
        match job {
            Bulk::Out(id, data) => conn.bulk_out(id, &data),
            Bulk::In(id, len) => conn.bulk_in(id, len, &mut leftover),
        }
    }
}

/// Reads packets until the peer closes, answering each one.
struct Reader {
    stream: UnixStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Reader {
    fn new(stream: UnixStream) -> Self {
        Reader {
            stream,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// The next whole packet, or `None` at the end of the stream.
    fn next(&mut self, codec: &Codec) -> Result<Option<(Header, Vec<u8>)>, RedirError> {
        loop {
            if let Some((h, body, used)) = codec.parse(&self.buf[self.start..self.end])? {
                let body = body.to_vec();
                self.start += used;
                return Ok(Some((h, body)));
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                let grown = (self.buf.len() * 2).min(MAX_PACKET + 64);
                self.buf.resize(grown, 0);
            }
            let n = match self.stream.read(&mut self.buf[self.end..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => 0,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                return Ok(None);
            }
            self.end += n;
        }
    }
}

/// The device side of one connection: the plug-in of a fresh chip, until the peer closes.
/// `commands` delivers device-side unplug/plug requests while it lasts.
pub fn serve_connection(
    stream: UnixStream,
    identity: &CableIdentity,
    make_chip: &ChipFactory,
    commands: &Mutex<Option<mpsc::Receiver<Command>>>,
) -> Result<(), RedirError> {
    let mut reader = Reader::new(stream.try_clone()?);
    let Some(codec) = handshake(&mut reader, &stream)? else {
        return Ok(());
    };
    let conn = Arc::new(Conn {
        out: Mutex::new(stream.try_clone()?),
        codec,
        chip: Mutex::new(None),
        cancelled: Mutex::new(HashSet::new()),
        identity: identity.clone(),
        configuration: Mutex::new(0),
    });
    conn.plug(make_chip());

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cmd_thread = spawn_commands(lock(commands).take(), &conn, make_chip, &done)?;
    let (out_tx, out_rx) = mpsc::channel();
    let (in_tx, in_rx) = mpsc::channel();
    let workers = [
        spawn_bulk_worker("usbredir-out", &conn, out_rx)?,
        spawn_bulk_worker("usbredir-in", &conn, in_rx)?,
    ];
    let bulk = BulkQueues {
        out: out_tx,
        r#in: in_tx,
    };

    let result = loop {
        match reader.next(&codec) {
            Ok(Some((h, body))) => {
                if let Err(e) = dispatch(&conn, &bulk, &h, &body) {
                    break Err(e);
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    // The cable is gone with the connection: end what is still running.
    if let Some(chip) = lock(&conn.chip).take() {
        chip.unplug();
    }
    drop(bulk);
    for w in workers {
        let _ = w.join();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Ok(Some(rx)) = cmd_thread.join() {
        *lock(commands) = Some(rx);
    }
    result
}

/// QEMU speaks first; its hello decides the header size of everything after it. `None`: the
/// peer left before saying hello.
fn handshake(reader: &mut Reader, stream: &UnixStream) -> Result<Option<Codec>, RedirError> {
    let Some((h, body)) = reader.next(&Codec::HELLO)? else {
        return Ok(None);
    };
    if h.ptype != ptype::HELLO {
        return Err(RedirError::Protocol(format!(
            "expected a hello, got packet type {}",
            h.ptype
        )));
    }
    let codec = Codec::negotiated(hello_caps(&body)?);
    let mut out = stream;
    out.write_all(&Codec::HELLO.encode(ptype::HELLO, 0, &hello_body(), &[]))?;
    Ok(Some(codec))
}

/// Device-side commands (unplug, plug) for as long as this connection lasts; the thread hands
/// the command queue back when it ends, for the next connection.
fn spawn_commands(
    rx: Option<mpsc::Receiver<Command>>,
    conn: &Arc<Conn>,
    make_chip: &ChipFactory,
    done: &Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<Option<mpsc::Receiver<Command>>>> {
    let (conn, done, make_chip) = (conn.clone(), done.clone(), make_chip.clone());
    std::thread::Builder::new()
        .name("usbredir-cmd".into())
        .spawn(move || {
            let rx = rx?;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(Command::Unplug) => conn.unplug(),
                    Ok(Command::Plug) => conn.plug(make_chip()),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                }
            }
            Some(rx)
        })
}

fn spawn_bulk_worker(
    name: &str,
    conn: &Arc<Conn>,
    rx: mpsc::Receiver<Bulk>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let conn = conn.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || bulk_worker(conn, rx))
}

/// Where bulk requests go: one worker per direction, so a pending IN never holds up an OUT.
struct BulkQueues {
    out: mpsc::Sender<Bulk>,
    r#in: mpsc::Sender<Bulk>,
}

/// Answers one packet from QEMU (bulk transfers are queued for their worker).
fn dispatch(conn: &Conn, bulk: &BulkQueues, h: &Header, body: &[u8]) -> Result<(), RedirError> {
    match h.ptype {
        ptype::RESET | ptype::FILTER_FILTER | ptype::FILTER_REJECT => {}
        ptype::DEVICE_DISCONNECT_ACK => {}
        ptype::SET_CONFIGURATION => {
            let value = body.first().copied().unwrap_or(0);
            *lock(&conn.configuration) = value;
            conn.describe();
            conn.send(
                ptype::CONFIGURATION_STATUS,
                h.id,
                &[status::SUCCESS, value],
                &[],
            );
        }
        ptype::GET_CONFIGURATION => {
            let value = *lock(&conn.configuration);
            conn.send(
                ptype::CONFIGURATION_STATUS,
                h.id,
                &[status::SUCCESS, value],
                &[],
            );
        }
        ptype::SET_ALT_SETTING | ptype::GET_ALT_SETTING => {
            let interface = body.first().copied().unwrap_or(0);
            let (st, alt) = match (h.ptype, body.get(1).copied()) {
                (ptype::SET_ALT_SETTING, Some(0)) | (ptype::GET_ALT_SETTING, _) => {
                    (status::SUCCESS, 0)
                }
                _ => (status::STALL, 0),
            };
            if h.ptype == ptype::SET_ALT_SETTING {
                conn.describe();
            }
            conn.send(ptype::ALT_SETTING_STATUS, h.id, &[st, interface, alt], &[]);
        }
        ptype::CANCEL_DATA_PACKET => {
            lock(&conn.cancelled).insert(h.id);
        }
        ptype::CONTROL_PACKET => match Setup::parse(body) {
            Some(setup) => conn.control(h.id, setup, &body[Setup::LEN..]),
            None => return Err(RedirError::Protocol("short control packet".into())),
        },
        ptype::BULK_PACKET => match conn.codec.parse_bulk(body) {
            Some((ep, _, data)) if ep == BULK_OUT_EP => {
                let _ = bulk.out.send(Bulk::Out(h.id, data.to_vec()));
            }
            Some((ep, length, _)) if ep == BULK_IN_EP => {
                let _ = bulk.r#in.send(Bulk::In(h.id, length));
            }
            Some((ep, _, _)) => {
                let h2 = conn.codec.bulk_header(ep, status::INVAL, 0);
                conn.send(ptype::BULK_PACKET, h.id, &h2, &[]);
            }
            None => return Err(RedirError::Protocol("short bulk packet".into())),
        },
        other => {
            tracing::debug!("usbredir: ignoring packet type {other}");
        }
    }
    Ok(())
}

/// Serves the cable on the unix socket `path`, one plug-in per connection, forever.
/// Lines `unplug` / `plug` on `control` pull and replug the cable from the device side.
pub fn serve(
    path: &Path,
    identity: CableIdentity,
    control: impl Read + Send + 'static,
) -> Result<(), RedirError> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    let make_chip: ChipFactory = Arc::new(|| Ft232h::hs2(crate::sim::JtagChain::xc7a35t()));
    let (tx, rx) = mpsc::channel();
    let commands = Mutex::new(Some(rx));
    std::thread::Builder::new()
        .name("usbredir-stdin".into())
        .spawn(move || {
            use std::io::BufRead;
            for line in io::BufReader::new(control).lines() {
                let Ok(line) = line else { break };
                let cmd = match line.trim() {
                    "unplug" => Command::Unplug,
                    "plug" => Command::Plug,
                    "" => continue,
                    other => {
                        eprintln!("sim-usbredir: unknown command {other:?} (unplug, plug)");
                        continue;
                    }
                };
                if tx.send(cmd).is_err() {
                    break;
                }
            }
        })?;
    for stream in listener.incoming() {
        let stream = stream?;
        if let Err(e) = serve_connection(stream, &identity, &make_chip, &commands) {
            eprintln!("sim-usbredir {}: {e}", identity.serial);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_sizes_follow_the_hellos() {
        let c = Codec::HELLO;
        let p = c.encode(ptype::HELLO, 7, &hello_body(), &[]);
        assert_eq!(p.len(), 12 + 68);
        let (h, body, used) = c.parse(&p).unwrap().unwrap();
        assert_eq!((h.ptype, h.length, h.id, used), (0, 68, 7, 80));
        assert_eq!(hello_caps(body).unwrap(), OUR_CAPS);
        assert!(c.parse(&p[..79]).unwrap().is_none());

        let qemu_caps = (1 << cap::IDS_64BITS)
            | (1 << cap::BULK_LENGTH_32BITS)
            | (1 << cap::BULK_RECEIVING)
            | (1 << cap::EP_INFO_MAX_PACKET_SIZE);
        let n = Codec::negotiated(qemu_caps);
        assert!(n.ids64 && n.bulk_len32);
        let p = n.encode(ptype::RESET, 1 << 40, &[], &[]);
        assert_eq!(p.len(), 16);
        assert_eq!(n.parse(&p).unwrap().unwrap().0.id, 1 << 40);
        assert!(!Codec::negotiated(0).ids64);
        assert_eq!(OUR_CAPS & (1 << cap::BULK_RECEIVING), 0);
    }

    #[test]
    fn bulk_headers_carry_32_bit_lengths() {
        let c = Codec::negotiated(OUR_CAPS);
        let h = c.bulk_header(0x81, status::SUCCESS, 0x0001_0203);
        assert_eq!(h, vec![0x81, 0, 0x03, 0x02, 0, 0, 0, 0, 0x01, 0x00]);
        let mut body = h.clone();
        body.extend_from_slice(b"xy");
        assert_eq!(c.parse_bulk(&body), Some((0x81, 0x0001_0203, &b"xy"[..])));
        assert!(c
            .parse(&[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0])
            .is_err());
    }

    #[test]
    fn descriptors_are_an_hs2() {
        let id = CableIdentity::hs2("210249A8E7E2");
        let dev = descriptor(&id, 0x0100).unwrap();
        assert_eq!(dev.len(), 18);
        assert_eq!(&dev[8..12], &[0x03, 0x04, 0x14, 0x60]);
        let cfg = descriptor(&id, 0x0200).unwrap();
        assert_eq!(cfg.len(), usize::from(cfg[2]));
        let serial = descriptor(&id, 0x0303).unwrap();
        assert_eq!(serial[0] as usize, serial.len());
        let text: Vec<u16> = serial[2..]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(String::from_utf16(&text).unwrap(), "210249A8E7E2");
        assert!(descriptor(&id, 0x0304).is_none());
        assert_eq!(interface_info().len(), 132);
        assert_eq!(ep_info().len(), 160);
        assert_eq!(ep_info()[ep_index(0x81)], 2);
        assert_eq!(device_connect().len(), 10);
    }

    /// A peer playing QEMU's part over a socket pair.
    struct Qemu {
        s: UnixStream,
        codec: Codec,
        reader: Reader,
    }

    impl Qemu {
        fn send(&mut self, ptype: u32, id: u64, th: &[u8], data: &[u8]) {
            let p = self.codec.encode(ptype, id, th, data);
            self.s.write_all(&p).unwrap();
        }
        fn recv(&mut self) -> (Header, Vec<u8>) {
            self.reader.next(&self.codec).unwrap().unwrap()
        }
        fn recv_type(&mut self, t: u32) -> (Header, Vec<u8>) {
            loop {
                let p = self.recv();
                if p.0.ptype == t {
                    return p;
                }
            }
        }
    }

    fn start() -> (Qemu, std::thread::JoinHandle<Result<(), RedirError>>) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let server = std::thread::spawn(move || {
            let make: ChipFactory = Arc::new(|| Ft232h::hs2(crate::sim::JtagChain::xc7a35t()));
            serve_connection(
                theirs,
                &CableIdentity::hs2("SIMREDIR0001"),
                &make,
                &Mutex::new(None),
            )
        });
        let mut q = Qemu {
            reader: Reader::new(ours.try_clone().unwrap()),
            s: ours,
            codec: Codec::HELLO,
        };
        let mut hello = b"qemu test".to_vec();
        hello.resize(64, 0);
        let caps = (1u32 << cap::IDS_64BITS)
            | (1 << cap::BULK_LENGTH_32BITS)
            | (1 << cap::EP_INFO_MAX_PACKET_SIZE)
            | (1 << cap::CONNECT_DEVICE_VERSION);
        hello.extend_from_slice(&caps.to_le_bytes());
        q.send(ptype::HELLO, 0, &hello, &[]);
        let (h, _) = q.recv();
        assert_eq!(h.ptype, ptype::HELLO);
        q.codec = Codec::negotiated(caps);
        assert_eq!(q.recv().0.ptype, ptype::INTERFACE_INFO);
        assert_eq!(q.recv().0.ptype, ptype::EP_INFO);
        assert_eq!(q.recv().0.ptype, ptype::DEVICE_CONNECT);
        (q, server)
    }

    fn control(
        q: &mut Qemu,
        id: u64,
        rt: u8,
        req: u8,
        value: u16,
        index: u16,
        len: u16,
    ) -> (u8, Vec<u8>) {
        let ep = rt & 0x80;
        let mut th = vec![ep, req, rt, 0];
        th.extend_from_slice(&value.to_le_bytes());
        th.extend_from_slice(&index.to_le_bytes());
        th.extend_from_slice(&len.to_le_bytes());
        q.send(ptype::CONTROL_PACKET, id, &th, &[]);
        let (h, body) = q.recv_type(ptype::CONTROL_PACKET);
        assert_eq!(h.id, id);
        (body[3], body[Setup::LEN..].to_vec())
    }

    fn bulk_in(q: &mut Qemu, id: u64, len: u32) -> (u8, Vec<u8>) {
        let th = q.codec.bulk_header(BULK_IN_EP, 0, len);
        q.send(ptype::BULK_PACKET, id, &th, &[]);
        let (h, body) = q.recv_type(ptype::BULK_PACKET);
        assert_eq!(h.id, id);
        let (ep, length, data) = q.codec.parse_bulk(&body).unwrap();
        assert_eq!((ep, length as usize), (BULK_IN_EP, data.len()));
        (body[1], data.to_vec())
    }

    #[test]
    fn descriptors_vendor_requests_and_mpsse_over_usbredir() {
        let (mut q, server) = start();
        let (st, dev) = control(&mut q, 1, 0x80, 6, 0x0100, 0, 64);
        assert_eq!((st, dev.len()), (status::SUCCESS, 18));
        let (st, short) = control(&mut q, 2, 0x80, 6, 0x0200, 0, 9);
        assert_eq!((st, short.len()), (status::SUCCESS, 9));
        assert_eq!(
            control(&mut q, 3, 0x80, 6, 0x0307, 0x0409, 255).0,
            status::STALL
        );
        q.send(ptype::SET_CONFIGURATION, 4, &[1], &[]);
        let (h, body) = q.recv_type(ptype::CONFIGURATION_STATUS);
        assert_eq!((h.id, body), (4, vec![status::SUCCESS, 1]));
        // Latency 1 ms, MPSSE mode.
        assert_eq!(control(&mut q, 5, 0x40, 0x09, 1, 1, 0).0, status::SUCCESS);
        assert_eq!(
            control(&mut q, 6, 0x40, 0x0B, 0x020B, 1, 0).0,
            status::SUCCESS
        );
        // Nothing to read: the two modem-status bytes after the latency timer.
        assert_eq!(bulk_in(&mut q, 7, 512), (status::SUCCESS, vec![0x32, 0x60]));
        // A bad opcode is answered FA AA.
        let th = q.codec.bulk_header(BULK_OUT_EP, 0, 2);
        q.send(ptype::BULK_PACKET, 8, &th, &[0xAA, 0x87]);
        let (h, body) = q.recv_type(ptype::BULK_PACKET);
        assert_eq!(h.id, 8);
        assert_eq!(q.codec.parse_bulk(&body).unwrap().1, 2);
        let mut got = Vec::new();
        for id in 9..40 {
            let (_, data) = bulk_in(&mut q, id, 512);
            got.extend_from_slice(&data[2..]);
            if got.len() >= 2 {
                break;
            }
        }
        assert_eq!(got, vec![0xFA, 0xAA]);
        // A cancelled request is answered, cancelled.
        q.send(ptype::CANCEL_DATA_PACKET, 50, &[], &[]);
        assert_eq!(bulk_in(&mut q, 50, 512).0, status::CANCELLED);
        q.s.shutdown(std::net::Shutdown::Both).unwrap();
        server.join().unwrap().unwrap();
    }
}
