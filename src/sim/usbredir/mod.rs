//! An emulated FTDI device — a JTAG-HS2, or with `--board` any simulated board of the board
//! table with all its channels — as a usbredir device server, for QEMU's `usb-redir` device.
//!
//! It exists so that the virtual-machine tests can hot-plug cables and boards into a guest's
//! real kernel (xHCI, usbfs, `ftdi_sio`) while the chip behind them is the project's own
//! emulator ([`Ft232h`], or a [`SimBoard`](crate::sim::SimBoard)'s multi-channel device),
//! exactly as `sim-usb-device` serves the same models to the umockdev harness: both take a
//! [`PipeDevice`]. Reached through the hidden subcommand `xvc-agent sim-usbredir`.
//!
//! The server listens on a unix socket; QEMU connects to it (a `socket` chardev with
//! `server: false`, then `device_add usb-redir`). Each connection is one plug-in of a fresh
//! device; the connection ending is the cable being pulled on the QEMU side.
//!
//! # Commands on standard input
//! One per line:
//! - `unplug` / `plug`: pull the device from the device side (`device_disconnect`) and plug a
//!   fresh one in again.
//! - `faults`: answered with one JSON line on standard output, `{"faults": [...]}`: what the
//!   device plugged in last (still after it was pulled) recorded as harmful to the board, one
//!   string per fault, in order; `[]` before the first plug-in; `null` for a device that keeps
//!   no such record (the plain HS2).
//!
//! # Protocol (usbredir 0.7, the subset a bulk-only full/high-speed device needs)
//! All integers little-endian. Each packet is a header `u32 type | u32 length | id`, where
//! `length` counts what follows the header (a type-specific header, then data) and `id` is
//! a u32 until both sides' hellos offered `64bits_ids`, a u64 from then on. QEMU speaks
//! first; the server answers with its hello, then describes the device (`interface_info` with
//! every interface, `ep_info` with every endpoint, `device_connect`). QEMU handles
//! SET_ADDRESS itself, turns SET_CONFIGURATION / SET_INTERFACE into their own packets, and
//! forwards every other control transfer and every bulk transfer as a data packet, which the
//! server answers with the same id. Control transfers go to interface 0's handle, which
//! routes vendor requests by wIndex as the chip's shared control endpoint does; a bulk
//! transfer goes to the interface its endpoint belongs to (A 0x81/0x02, B 0x83/0x04, C
//! 0x85/0x06, D 0x87/0x08), each endpoint with its own worker so that a UART read waiting on
//! one channel never holds up another. `bulk_receiving` is deliberately not offered: QEMU
//! would then switch the FTDI's IN endpoints to its own buffered path, and the point here is
//! the kernel's plain bulk path. An IN request with nothing to read waits for the chip's
//! latency timer and returns the two modem-status bytes, as the chip does.

pub mod descriptors;
pub mod wire;

use crate::ftdi::transport::UsbError;
use crate::sim::transfer::{self, EndpointWorker, Sent, Slices, Unfinished};
use crate::sim::usb_pipe::{endpoint_interface, PipeDevice};
pub use descriptors::Described;
use descriptors::{bulk_in_ep, bulk_out_ep};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
pub use wire::RedirError;
use wire::{hello_body, hello_caps, ptype, status, Codec, Header, Setup, MAX_PACKET, STATUSES};
/// How long one device call may block before a worker looks at cancellations again.
const SLICE: Duration = Duration::from_millis(50);

/// A command to the device from the device side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Pull the cable (`device_disconnect`).
    Unplug,
    /// Plug a fresh device in again.
    Plug,
}

/// Makes a fresh device for every plug-in.
pub type DeviceFactory = Arc<dyn Fn() -> PipeDevice + Send + Sync>;

/// What a server serves: the device's description and how to make one.
#[derive(Clone)]
pub struct Served {
    pub described: Described,
    pub factory: DeviceFactory,
    /// The device plugged in last (kept after it is pulled, for its fault list).
    last: Arc<Mutex<Option<Arc<PipeDevice>>>>,
}

impl Served {
    /// Devices made by `factory`, described by `described` (which must name as many
    /// interfaces as the factory's devices have).
    pub fn new(described: Described, factory: DeviceFactory) -> Self {
        Served {
            described,
            factory,
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// A JTAG-HS2 (an xc7a35t behind it) with serial `serial`.
    pub fn hs2(serial: &str) -> Self {
        Self::new(Described::hs2(serial), Arc::new(PipeDevice::hs2))
    }

    /// Simulated board `board` (an xc7a35t behind its JTAG channel) with serial `serial`.
    pub fn board(board: &str, serial: &str) -> Result<Self, crate::sim::boards::SimBoardError> {
        let make = {
            let (board, serial) = (board.to_string(), serial.to_string());
            move || crate::sim::SimBoard::new(&board, &serial, crate::sim::JtagChain::xc7a35t())
        };
        let first = make()?;
        let described = Described {
            identity: first.usb_identity(),
            interfaces: first.interfaces(),
        };
        Ok(Self::new(
            described,
            Arc::new(move || make().expect("made once at start").pipe_device()),
        ))
    }

    fn make(&self) -> Arc<PipeDevice> {
        let device = Arc::new((self.factory)());
        *self.last.lock() = Some(device.clone());
        device
    }

    /// The fault list of the device plugged in last (see the module documentation).
    pub fn faults(&self) -> Option<Vec<String>> {
        match &*self.last.lock() {
            None => Some(Vec::new()),
            Some(device) => device.faults.as_ref().map(|f| f()),
        }
    }

    /// The answer to a `faults` command: one JSON line.
    pub fn faults_line(&self) -> String {
        serde_json::json!({ "faults": self.faults() }).to_string()
    }
}

struct Conn {
    out: Mutex<UnixStream>,
    codec: Codec,
    device: Mutex<Option<Arc<PipeDevice>>>,
    cancelled: Mutex<HashSet<u64>>,
    described: Described,
    configuration: Mutex<u8>,
}

impl Conn {
    fn send(&self, ptype: u32, id: u64, type_header: &[u8], data: &[u8]) {
        let packet = self.codec.encode(ptype, id, type_header, data);
        // A peer that went away cannot be answered; the reader notices the end.
        let _ = self.out.lock().write_all(&packet);
    }

    fn device(&self) -> Option<Arc<PipeDevice>> {
        self.device.lock().clone()
    }

    fn take_cancel(&self, id: u64) -> bool {
        self.cancelled.lock().remove(&id)
    }

    /// The device request `id` goes on with, or why it must stop now.
    fn ready(&self, id: u64) -> Result<Arc<PipeDevice>, Unfinished> {
        if self.take_cancel(id) {
            return Err(Unfinished::Cancelled);
        }
        self.device().ok_or(Unfinished::Unplugged)
    }

    fn describe(&self) {
        let d = &self.described;
        self.send(ptype::INTERFACE_INFO, 0, &d.interface_info(), &[]);
        self.send(ptype::EP_INFO, 0, &d.ep_info(), &[]);
    }

    fn plug(&self, device: Arc<PipeDevice>) {
        *self.device.lock() = Some(device);
        self.describe();
        let connect = self.described.device_connect();
        self.send(ptype::DEVICE_CONNECT, 0, &connect, &[]);
    }

    /// Pulls the device: its workers see no device at their next slice and end what waits.
    fn unplug(&self) {
        self.device.lock().take();
        self.send(ptype::DEVICE_DISCONNECT, 0, &[], &[]);
    }

    fn control(&self, id: u64, setup: Setup, data: &[u8]) {
        let input = setup.endpoint & 0x80 != 0;
        let Some(device) = self.device() else {
            return self.send(
                ptype::CONTROL_PACKET,
                id,
                &setup.answer(status::IOERROR, 0),
                &[],
            );
        };
        // Interface 0's handle: the control endpoint is the chip's, shared by its channels.
        let chip = device.interfaces[0].usb.as_ref();
        let kind = setup.request_type & 0x60;
        let reply: Result<Vec<u8>, u8> = if kind == 0x40 {
            // Vendor requests go to the chip as they are.
            let index = setup.index;
            let t = Duration::from_secs(1);
            if input {
                let mut buf = vec![0u8; usize::from(setup.length)];
                chip.control_in(setup.request, setup.value, index, &mut buf, t)
                    .map(|n| buf[..n].to_vec())
                    .map_err(|e| STATUSES.for_error(&e))
            } else {
                chip.control_out(setup.request, setup.value, index, t)
                    .map(|()| Vec::new())
                    .map_err(|e| STATUSES.for_error(&e))
            }
        } else if kind == 0 {
            match (setup.request_type, setup.request) {
                (0x80, 6) => self.described.descriptor(setup.value).ok_or(status::STALL),
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

    fn bulk_out(&self, interface: usize, id: u64, data: &[u8]) {
        let sent = if data.is_empty() {
            // A zero-length OUT is answered at once: it never reaches the chip.
            Sent {
                written: 0,
                outcome: Ok(()),
            }
        } else {
            transfer::bulk_out(
                data,
                Slices::endless(SLICE),
                || self.ready(id),
                |device| device.interfaces[interface].out_port(),
            )
        };
        let st = STATUSES.for_outcome(&sent.outcome);
        let h = self
            .codec
            .bulk_header(bulk_out_ep(interface as u8), st, sent.written as u32);
        self.send(ptype::BULK_PACKET, id, &h, &[]);
    }

    /// Answers an IN request for `length` bytes: from `leftover` (what the chip handed out
    /// beyond an earlier request) if it holds any, else from the chip.
    fn bulk_in(&self, interface: usize, id: u64, length: u32, leftover: &mut Vec<u8>) {
        let want = length as usize;
        let outcome = if want == 0 {
            Ok(Vec::new())
        } else if !leftover.is_empty() {
            let n = want.min(leftover.len());
            Ok(leftover.drain(..n).collect())
        } else {
            let read = transfer::in_slices(
                Slices::endless(SLICE),
                || self.ready(id),
                |device, slice| {
                    let usb = device.interfaces[interface].usb.as_ref();
                    // The chip hands out whole packets: read at least one.
                    let packet = usb.max_packet_size();
                    let mut buf = vec![0u8; want.max(packet).div_ceil(packet) * packet];
                    match usb.read_bulk(&mut buf, slice) {
                        Ok(n) => {
                            buf.truncate(n);
                            Some(Ok(buf))
                        }
                        Err(UsbError::Timeout) => None,
                        Err(e) => Some(Err(e)),
                    }
                },
            );
            // Keep what goes beyond the request for the next one.
            read.map(|mut bytes| {
                if bytes.len() > want {
                    leftover.extend_from_slice(&bytes[want..]);
                    bytes.truncate(want);
                }
                bytes
            })
        };
        let st = STATUSES.for_outcome(&outcome);
        let bytes = outcome.unwrap_or_default();
        let h = self
            .codec
            .bulk_header(bulk_in_ep(interface as u8), st, bytes.len() as u32);
        self.send(ptype::BULK_PACKET, id, &h, &bytes);
    }
}

/// Bulk work queued to an endpoint's worker.
enum Bulk {
    Out(u64, Vec<u8>),
    In(u64, u32),
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

/// The device side of one connection: the plug-in of a fresh device, until the peer closes.
/// `commands` delivers device-side unplug/plug requests while it lasts.
pub fn serve_connection(
    stream: UnixStream,
    served: &Served,
    commands: &Mutex<Option<mpsc::Receiver<Command>>>,
) -> Result<(), RedirError> {
    let mut reader = Reader::new(stream.try_clone()?);
    let Some(codec) = handshake(&mut reader, &stream)? else {
        return Ok(());
    };
    let conn = Arc::new(Conn {
        out: Mutex::new(stream.try_clone()?),
        codec,
        device: Mutex::new(None),
        cancelled: Mutex::new(HashSet::new()),
        described: served.described.clone(),
        configuration: Mutex::new(0),
    });
    conn.plug(served.make());

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cmd_thread = spawn_commands(commands.lock().take(), &conn, served, &done)?;
    // One worker per bulk endpoint, so a pending IN never holds up an OUT or another channel.
    let mut bulk = HashMap::new();
    for i in 0..served.described.interfaces {
        for ep in [bulk_out_ep(i), bulk_in_ep(i)] {
            bulk.insert(ep, spawn_bulk_worker(ep, &conn, usize::from(i))?);
        }
    }

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
    conn.device.lock().take();
    EndpointWorker::finish_all(bulk.into_values());
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Ok(Some(rx)) = cmd_thread.join() {
        *commands.lock() = Some(rx);
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
    served: &Served,
    done: &Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<Option<mpsc::Receiver<Command>>>> {
    let (conn, done, served) = (conn.clone(), done.clone(), served.clone());
    std::thread::Builder::new()
        .name("usbredir-cmd".into())
        .spawn(move || {
            let rx = rx?;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(Command::Unplug) => conn.unplug(),
                    Ok(Command::Plug) => conn.plug(served.make()),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                }
            }
            Some(rx)
        })
}

/// The worker of bulk endpoint `endpoint` (of interface `interface`).
fn spawn_bulk_worker(
    endpoint: u8,
    conn: &Arc<Conn>,
    interface: usize,
) -> std::io::Result<EndpointWorker<Bulk>> {
    let conn = conn.clone();
    // What the chip handed out beyond an IN request, for the next one.
    let mut leftover = Vec::new();
    EndpointWorker::spawn(format!("usbredir-{endpoint:02x}"), move |job| match job {
        Bulk::Out(id, data) => conn.bulk_out(interface, id, &data),
        Bulk::In(id, len) => conn.bulk_in(interface, id, len, &mut leftover),
    })
}

/// Answers one packet from QEMU (bulk transfers are queued for their endpoint's worker).
fn dispatch(
    conn: &Conn,
    bulk: &HashMap<u8, EndpointWorker<Bulk>>,
    h: &Header,
    body: &[u8],
) -> Result<(), RedirError> {
    match h.ptype {
        ptype::RESET | ptype::FILTER_FILTER | ptype::FILTER_REJECT => {}
        ptype::DEVICE_DISCONNECT_ACK => {}
        ptype::SET_CONFIGURATION => {
            let value = body.first().copied().unwrap_or(0);
            *conn.configuration.lock() = value;
            conn.describe();
            conn.send(
                ptype::CONFIGURATION_STATUS,
                h.id,
                &[status::SUCCESS, value],
                &[],
            );
        }
        ptype::GET_CONFIGURATION => {
            let value = *conn.configuration.lock();
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
            conn.cancelled.lock().insert(h.id);
        }
        ptype::CONTROL_PACKET => match Setup::parse(body) {
            Some(setup) => conn.control(h.id, setup, &body[Setup::LEN..]),
            None => return Err(RedirError::Protocol("short control packet".into())),
        },
        ptype::BULK_PACKET => match conn.codec.parse_bulk(body) {
            Some((ep, length, data)) => match (bulk.get(&ep), endpoint_interface(ep)) {
                (Some(worker), Some((_, true))) => worker.queue(Bulk::In(h.id, length)),
                (Some(worker), Some((_, false))) => worker.queue(Bulk::Out(h.id, data.to_vec())),
                _ => {
                    let h2 = conn.codec.bulk_header(ep, status::INVAL, 0);
                    conn.send(ptype::BULK_PACKET, h.id, &h2, &[]);
                }
            },
            None => return Err(RedirError::Protocol("short bulk packet".into())),
        },
        other => {
            tracing::debug!("usbredir: ignoring packet type {other}");
        }
    }
    Ok(())
}

/// Serves `served` on the unix socket `path`, one plug-in per connection, forever. Lines on
/// `control` are the commands of the module documentation; `faults` is answered on
/// `answers`.
pub fn serve(
    path: &Path,
    served: Served,
    control: impl Read + Send + 'static,
    answers: impl Write + Send + 'static,
) -> Result<(), RedirError> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    let (tx, rx) = mpsc::channel();
    let commands = Mutex::new(Some(rx));
    let queried = served.clone();
    std::thread::Builder::new()
        .name("usbredir-stdin".into())
        .spawn(move || {
            use std::io::BufRead;
            let mut answers = answers;
            for line in io::BufReader::new(control).lines() {
                let Ok(line) = line else { break };
                let cmd = match line.trim() {
                    "unplug" => Command::Unplug,
                    "plug" => Command::Plug,
                    "faults" => {
                        let answer = queried.faults_line() + "\n";
                        let _ = answers.write_all(answer.as_bytes());
                        let _ = answers.flush();
                        continue;
                    }
                    "" => continue,
                    other => {
                        eprintln!("sim-usbredir: unknown command {other:?} (unplug, plug, faults)");
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
        if let Err(e) = serve_connection(stream, &served, &commands) {
            eprintln!("sim-usbredir {}: {e}", served.described.identity.serial);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::descriptors::ep_index;
    use super::wire::{cap, OUR_CAPS};
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

    const BULK_IN_EP: u8 = bulk_in_ep(0);
    const BULK_OUT_EP: u8 = bulk_out_ep(0);

    #[test]
    fn descriptors_are_an_hs2() {
        let id = Described::hs2("210249A8E7E2");
        let descriptor = |d: &Described, v| d.descriptor(v);
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
        assert_eq!(
            cfg,
            vec![
                9, 2, 32, 0, 1, 1, 0, 0x80, 45, 9, 4, 0, 0, 2, 0xFF, 0xFF, 0xFF, 2, 7, 5, 0x81, 2,
                0, 2, 0, 7, 5, 0x02, 2, 0, 2, 0
            ]
        );
        let info = id.interface_info();
        assert_eq!(
            (info.len(), &info[..5], info[36]),
            (132, &[1, 0, 0, 0, 0][..], 0xFF)
        );
        assert_eq!(id.ep_info().len(), 160);
        assert_eq!(id.ep_info()[ep_index(0x81)], 2);
        assert_eq!(id.ep_info()[ep_index(0x83)], 255);
        assert_eq!(id.device_connect().len(), 10);
    }

    #[test]
    fn a_boards_descriptors_have_every_channel() {
        let zcu = Served::board("zcu104", "SIMZCU1").unwrap().described;
        assert_eq!(zcu.interfaces, 4);
        assert_eq!(zcu.identity.pid, crate::ftdi::chip::PID_FT4232H);
        let cfg = zcu.descriptor(0x0200).unwrap();
        assert_eq!(
            (cfg.len(), usize::from(cfg[2]), cfg[4]),
            (9 + 4 * 23, cfg.len(), 4)
        );
        // Interface 2 (C): its number and endpoints 0x85 / 0x06.
        let c = &cfg[9 + 2 * 23..9 + 3 * 23];
        assert_eq!((c[1], c[2], c[9 + 2], c[16 + 2]), (4, 2, 0x85, 0x06));
        let info = zcu.interface_info();
        assert_eq!(&info[..4], &[4, 0, 0, 0]);
        assert_eq!(&info[4..8], &[0, 1, 2, 3]);
        assert_eq!(&info[36..40], &[0xFF; 4]);
        let ep = zcu.ep_info();
        for (endpoint, interface) in [(0x81, 0), (0x02, 0), (0x83, 1), (0x06, 2), (0x87, 3)] {
            assert_eq!(ep[ep_index(endpoint)], 2, "{endpoint:#x} is bulk");
            assert_eq!(ep[64 + ep_index(endpoint)], interface, "{endpoint:#x}");
        }
        assert_eq!(ep[ep_index(0x89)], 255);
        let arty = Served::board("arty", "SIMARTY1").unwrap().described;
        assert_eq!(
            (arty.interfaces, arty.identity.serial.as_str()),
            (2, "SIMARTY1")
        );
        assert!(Served::board("no-such-board", "X").is_err());
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
        start_serving(Served::hs2("SIMREDIR0001"))
    }

    fn start_serving(served: Served) -> (Qemu, std::thread::JoinHandle<Result<(), RedirError>>) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let server =
            std::thread::spawn(move || serve_connection(theirs, &served, &Mutex::new(None)));
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
        bulk_in_on(q, BULK_IN_EP, id, len)
    }

    fn bulk_in_on(q: &mut Qemu, endpoint: u8, id: u64, len: u32) -> (u8, Vec<u8>) {
        let th = q.codec.bulk_header(endpoint, 0, len);
        q.send(ptype::BULK_PACKET, id, &th, &[]);
        let (h, body) = q.recv_type(ptype::BULK_PACKET);
        assert_eq!(h.id, id);
        let (ep, length, data) = q.codec.parse_bulk(&body).unwrap();
        assert_eq!((ep, length as usize), (endpoint, data.len()));
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

    /// A ZCU104 (FT4232H) over usbredir: the EEPROM read on the control endpoint, a UART
    /// round trip on channel C's endpoints while a read waits on channel D's, an unknown
    /// endpoint refused, and the fault list, empty, then naming what harmed the board.
    #[test]
    fn a_board_serves_every_channel_and_its_faults() {
        let served = Served::board("zcu104", "SIMZCU1").unwrap();
        assert_eq!(served.faults_line(), r#"{"faults":[]}"#);
        let (mut q, server) = start_serving(served.clone());
        let (st, word) = control(&mut q, 1, 0xC0, 0x90, 0, 1, 2);
        assert_eq!((st, word), (status::SUCCESS, vec![0x03, 0x04]));
        // D: a read that waits (status bytes only) is issued first, then C loops back.
        let th = q.codec.bulk_header(bulk_in_ep(3), 0, 512);
        q.send(ptype::BULK_PACKET, 2, &th, &[]);
        let th = q.codec.bulk_header(bulk_out_ep(2), 0, 5);
        q.send(ptype::BULK_PACKET, 3, &th, b"hello");
        let mut answered = HashMap::new();
        while answered.len() < 2 {
            let (h, body) = q.recv_type(ptype::BULK_PACKET);
            answered.insert(h.id, q.codec.parse_bulk(&body).unwrap().0);
        }
        assert_eq!(answered, HashMap::from([(2, 0x87), (3, 0x06)]));
        let mut got = Vec::new();
        for id in 10..40 {
            let (st, data) = bulk_in_on(&mut q, bulk_in_ep(2), id, 512);
            assert_eq!((st, &data[..2]), (status::SUCCESS, &[0x32, 0x60][..]));
            got.extend_from_slice(&data[2..]);
            if got.len() >= 5 {
                break;
            }
        }
        assert_eq!(got, b"hello");
        assert_eq!(bulk_in_on(&mut q, 0x89, 50, 512).0, status::INVAL);
        assert_eq!(served.faults(), Some(Vec::new()));
        // An EEPROM write is a fault the board records.
        assert_eq!(control(&mut q, 51, 0x40, 0x91, 0, 0, 0).0, status::SUCCESS);
        let faults = served.faults().unwrap();
        assert_eq!(faults.len(), 1, "{faults:?}");
        let line: serde_json::Value = serde_json::from_str(&served.faults_line()).unwrap();
        assert_eq!(line["faults"][0], faults[0].as_str());
        q.s.shutdown(std::net::Shutdown::Both).unwrap();
        server.join().unwrap().unwrap();
        // Kept after the device is pulled; the plain HS2 keeps no record.
        assert_eq!(served.faults().unwrap().len(), 1);
        let hs2 = Served::hs2("X");
        let (q, server) = start_serving(hs2.clone());
        assert_eq!(hs2.faults_line(), r#"{"faults":null}"#);
        q.s.shutdown(std::net::Shutdown::Both).unwrap();
        server.join().unwrap().unwrap();
    }
}
