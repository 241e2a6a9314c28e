//! A USB device on a pipe: serves a device of one or more interfaces, each a
//! [`UsbTransport`] (in practice the FTDI emulators), to another process over a small framed
//! binary protocol on stdin/stdout.
//!
//! It exists so that the umockdev test harness, which answers the agent's usbdevfs ioctls in
//! Python, can pass control and bulk transfers to the one FTDI model the rest of the project
//! uses, instead of carrying a second model. It is reached through the hidden subcommand
//! `xvc-agent sim-usb-device [--board NAME] [--serial SERIAL]`.
//!
//! # Protocol
//! All integers little-endian. Each request is `u32 len | u8 op | u32 id | payload`, where
//! `len` counts everything after itself. Each answer is `u32 len | u32 id | u8 status |
//! payload`. Requests of different kinds run concurrently (control, and bulk OUT and bulk IN
//! of each interface, each have their own worker, as the endpoints of a real device are
//! independent); requests of one kind run in order. Answers may therefore come back in a
//! different order than requests; the id pairs them.
//!
//! | op | request payload | answer payload (status OK) |
//! |----|-----------------|----------------------------|
//! | 1 control out | `u8 request, u16 value, u16 index, u32 timeout_ms` | — |
//! | 2 control in | `u8 request, u16 value, u16 index, u16 length, u32 timeout_ms` | data |
//! | 3 bulk out | `u8 endpoint, u32 timeout_ms, data` | `u32 written` (also with TIMEOUT / CANCELLED) |
//! | 4 bulk in | `u8 endpoint, u32 max_len, u32 timeout_ms` | data (at least one byte) |
//! | 5 cancel | `u32 target id` | no answer of its own: the target answers CANCELLED |
//! | 6 unplug | — | — ; from now on everything answers DISCONNECTED |
//! | 7 reset | — | — ; a fresh device (power cycle), plugged in again |
//! | 8 info | — | `u32 bulk IN max packet size, u8 interfaces`, then if the device has a USB identity `u16 vid, u16 pid, u16 bcdDevice, manufacturer NUL product NUL serial NUL` |
//! | 9 halt in | `u8 on` | — ; while on, bulk IN requests get no data (the device NAKs) |
//! | 10 faults | — | UTF-8, one line per fault the device recorded (empty: none) |
//!
//! Endpoints are the FTDI chips': interface `i` (channel A = 0) has bulk IN `0x81 + 2i` and
//! bulk OUT `0x02 + 2i` (FT2232H: A 0x81/0x02, B 0x83/0x04; FT4232H also C 0x85/0x06, D
//! 0x87/0x08). Control requests go to the device's one control endpoint (interface 0's
//! transport, which addresses channels by wIndex like the chip).
//!
//! A `timeout_ms` of 0 means "until done or cancelled": a USB request block has no timeout of
//! its own, the host cancels it. Status codes: 0 OK, 1 TIMEOUT, 2 DISCONNECTED, 3 CANCELLED,
//! 4 ERROR (payload: UTF-8 message), 5 BAD_REQUEST (payload: UTF-8 message).
//!
//! End of input stops the server: requests still running are cancelled and answered.

use crate::ftdi::transport::{UsbError, UsbTransport};
use crate::sim::transfer::{self, EndpointWorker, OutPort, Slices, StatusTable, Unfinished};
use parking_lot::{Condvar, Mutex};
use std::collections::hash_map::{Entry, HashMap};
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// Request opcodes.
pub mod op {
    pub const CONTROL_OUT: u8 = 1;
    pub const CONTROL_IN: u8 = 2;
    pub const BULK_OUT: u8 = 3;
    pub const BULK_IN: u8 = 4;
    pub const CANCEL: u8 = 5;
    pub const UNPLUG: u8 = 6;
    pub const RESET: u8 = 7;
    pub const INFO: u8 = 8;
    pub const HALT_IN: u8 = 9;
    pub const FAULTS: u8 = 10;
}

/// The interface an FTDI bulk endpoint belongs to, and whether it is the IN endpoint.
pub fn endpoint_interface(endpoint: u8) -> Option<(usize, bool)> {
    let number = endpoint & 0x7F;
    let is_in = endpoint & 0x80 != 0;
    match (is_in, number) {
        (true, n) if n % 2 == 1 => Some((usize::from(n / 2), true)),
        (false, n) if n >= 2 && n % 2 == 0 => Some((usize::from(n / 2 - 1), false)),
        _ => None,
    }
}

/// Answer status codes.
pub mod status {
    pub const OK: u8 = 0;
    pub const TIMEOUT: u8 = 1;
    pub const DISCONNECTED: u8 = 2;
    pub const CANCELLED: u8 = 3;
    pub const ERROR: u8 = 4;
    pub const BAD_REQUEST: u8 = 5;
}

/// The pipe's status for each way a transfer ends.
const STATUSES: StatusTable = StatusTable {
    ok: status::OK,
    timed_out: status::TIMEOUT,
    cancelled: status::CANCELLED,
    unplugged: status::DISCONNECTED,
    failed: status::ERROR,
};

/// Largest request accepted (a bulk OUT of 16 MiB plus header); guards against a corrupt
/// length word making us allocate gigabytes.
pub const MAX_FRAME: usize = 16 * 1024 * 1024 + 64;

/// How long one device call may block before the worker looks at cancellations again. Longer
/// than an FTDI latency timer is normally set (1–16 ms), so a read still sees the chip's
/// status-only packets exactly as a host would.
const SLICE: Duration = Duration::from_millis(100);

/// Total bytes an interface has accepted on its bulk OUT endpoint.
pub type AcceptedProbe = Box<dyn Fn() -> u64 + Send + Sync>;

/// One interface of a device served on the pipe.
pub struct PipeInterface {
    pub usb: Box<dyn UsbTransport>,
    /// Total bytes the interface has accepted on its bulk OUT endpoint, if it can tell. A
    /// `write_bulk` that times out part-way reports no count; with this probe the server
    /// still knows how far it got and never sends a byte twice.
    pub accepted_out: Option<AcceptedProbe>,
}

impl PipeInterface {
    /// The interface's bulk OUT endpoint, as the bulk OUT loop writes to it.
    pub fn out_port(&self) -> OutPort<'_> {
        OutPort {
            usb: self.usb.as_ref(),
            accepted: self.accepted_out.as_deref(),
        }
    }
}

/// What the device says about itself in its descriptors (for the harness that builds them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeIdentity {
    pub vid: u16,
    pub pid: u16,
    pub bcd_device: u16,
    pub manufacturer: String,
    pub product: String,
    pub serial: String,
}

/// A device served on the pipe.
pub struct PipeDevice {
    /// Interface 0 first; its transport also takes the control requests.
    pub interfaces: Vec<PipeInterface>,
    pub identity: Option<PipeIdentity>,
    /// The faults the device recorded, as lines of text.
    pub faults: Option<Box<dyn Fn() -> Vec<String> + Send + Sync>>,
}

impl PipeDevice {
    /// A fresh emulated HS2 (an FT232H with an xc7a35t behind it, blank EEPROM): what
    /// `sim-usb-device` and `sim-usbredir` serve without `--board`.
    pub fn hs2() -> Self {
        let chip = crate::sim::ft232h::Ft232h::hs2(crate::sim::JtagChain::xc7a35t());
        let probe = chip.clone();
        PipeDevice {
            interfaces: vec![PipeInterface {
                usb: Box::new(chip),
                accepted_out: Some(Box::new(move || probe.counters().bytes_out)),
            }],
            identity: None,
            faults: None,
        }
    }

    /// A single-interface device without an accepted-bytes probe.
    pub fn new(usb: Box<dyn UsbTransport>) -> Self {
        PipeDevice {
            interfaces: vec![PipeInterface {
                usb,
                accepted_out: None,
            }],
            identity: None,
            faults: None,
        }
    }

    fn control(&self) -> &dyn UsbTransport {
        self.interfaces[0].usb.as_ref()
    }
}

/// Makes a fresh device (at start and on reset).
pub type DeviceFactory = Box<dyn Fn() -> PipeDevice + Send + Sync>;

/// Errors that end the server.
#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    #[error("pipe I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("request frame of {0} bytes is over the limit")]
    FrameTooLarge(usize),
}

#[derive(Default)]
struct Flags {
    cancelled: HashSet<u32>,
    unplugged: bool,
    halt_in: bool,
    stopping: bool,
}

struct Shared {
    device: Mutex<Arc<PipeDevice>>,
    factory: DeviceFactory,
    flags: Mutex<Flags>,
    changed: Condvar,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Shared {
    fn device(&self) -> Arc<PipeDevice> {
        self.device.lock().clone()
    }

    fn answer(&self, id: u32, status: u8, payload: &[u8]) {
        let mut frame = Vec::with_capacity(9 + payload.len());
        frame.extend_from_slice(&(5 + payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&id.to_le_bytes());
        frame.push(status);
        frame.extend_from_slice(payload);
        let mut out = self.out.lock();
        // A reader that went away cannot be answered; the input side notices the EOF.
        let _ = out.write_all(&frame).and_then(|_| out.flush());
    }

    /// The device request `id` goes on with, or why it must stop now.
    fn ready(&self, id: u32) -> Result<Arc<PipeDevice>, Unfinished> {
        {
            let mut f = self.flags.lock();
            if f.unplugged {
                f.cancelled.remove(&id);
                return Err(Unfinished::Unplugged);
            }
            if f.cancelled.remove(&id) || f.stopping {
                return Err(Unfinished::Cancelled);
            }
        }
        Ok(self.device())
    }

    /// Forgets a stale cancellation for a request that has finished.
    fn finished(&self, id: u32) {
        self.flags.lock().cancelled.remove(&id);
    }
}

/// The slices of a bulk request with `timeout_ms`; 0 means until done or cancelled.
fn slices(timeout_ms: u32) -> Slices {
    match timeout_ms {
        0 => Slices::endless(SLICE),
        ms => Slices::within(Duration::from_millis(ms.into()), SLICE),
    }
}

/// One parsed request.
struct Request {
    op: u8,
    id: u32,
    body: Vec<u8>,
}

/// A little reader over a request payload.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        if self.0.len() < N {
            return None;
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        head.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
}

fn bad(shared: &Shared, id: u32, what: &str) {
    shared.answer(id, status::BAD_REQUEST, what.as_bytes());
}

fn do_control(shared: &Shared, req: Request) {
    let mut f = Fields(&req.body);
    let parsed = (|| {
        let request = f.u8()?;
        let value = f.u16()?;
        let index = f.u16()?;
        let length = if req.op == op::CONTROL_IN {
            f.u16()?
        } else {
            0
        };
        let timeout_ms = f.u32()?;
        Some((request, value, index, length, timeout_ms))
    })();
    let Some((request, value, index, length, timeout_ms)) = parsed else {
        return bad(shared, req.id, "short control request");
    };
    let dev = match shared.ready(req.id) {
        Ok(dev) => dev,
        Err(why) => return shared.answer(req.id, STATUSES.for_unfinished(&why), &[]),
    };
    let dev = dev.control();
    let timeout = Duration::from_millis(timeout_ms.max(1).into());
    if req.op == op::CONTROL_OUT {
        match dev.control_out(request, value, index, timeout) {
            Ok(()) => shared.answer(req.id, status::OK, &[]),
            Err(e) => shared.answer(req.id, STATUSES.for_error(&e), e.to_string().as_bytes()),
        }
    } else {
        let mut buf = vec![0u8; length as usize];
        match dev.control_in(request, value, index, &mut buf, timeout) {
            Ok(n) => shared.answer(req.id, status::OK, &buf[..n.min(buf.len())]),
            Err(e) => shared.answer(req.id, STATUSES.for_error(&e), e.to_string().as_bytes()),
        }
    }
    shared.finished(req.id);
}

/// The interface of bulk endpoint `endpoint` if the device has it and its direction is `is_in`.
fn bulk_interface(shared: &Shared, endpoint: u8, is_in: bool) -> Option<usize> {
    let (i, dir) = endpoint_interface(endpoint)?;
    (dir == is_in && i < shared.device().interfaces.len()).then_some(i)
}

fn do_bulk_out(shared: &Shared, req: Request) {
    let mut f = Fields(&req.body);
    let (Some(endpoint), Some(timeout_ms)) = (f.u8(), f.u32()) else {
        return bad(shared, req.id, "short bulk out request");
    };
    let Some(i) = bulk_interface(shared, endpoint, false) else {
        return bad(
            shared,
            req.id,
            &format!("no bulk OUT endpoint {endpoint:#04x}"),
        );
    };
    let sent = transfer::bulk_out(
        f.0,
        slices(timeout_ms),
        || shared.ready(req.id),
        |device| device.interfaces[i].out_port(),
    );
    let written = (sent.written as u32).to_le_bytes();
    shared.answer(req.id, STATUSES.for_outcome(&sent.outcome), &written);
    shared.finished(req.id);
}

fn do_bulk_in(shared: &Shared, req: Request) {
    let mut f = Fields(&req.body);
    let (Some(endpoint), Some(max_len), Some(timeout_ms)) = (f.u8(), f.u32(), f.u32()) else {
        return bad(shared, req.id, "short bulk in request");
    };
    let Some(i) = bulk_interface(shared, endpoint, true) else {
        return bad(
            shared,
            req.id,
            &format!("no bulk IN endpoint {endpoint:#04x}"),
        );
    };
    let mut buf = vec![0u8; max_len as usize];
    let read = transfer::in_slices(
        slices(timeout_ms),
        || shared.ready(req.id),
        |device, slice| {
            let halted = shared.flags.lock().halt_in;
            if halted {
                // The device NAKs every IN token: nothing to do but wait for a change.
                let mut flags = shared.flags.lock();
                let _ = shared.changed.wait_for(&mut flags, slice);
                return None;
            }
            if buf.is_empty() {
                return Some(Ok(0));
            }
            // An answer carries at least one byte (the protocol table): an empty read is none.
            match device.interfaces[i].usb.read_bulk(&mut buf, slice) {
                Ok(0) | Err(UsbError::Timeout) => None,
                answer => Some(answer),
            }
        },
    );
    match read {
        Ok(n) => shared.answer(req.id, status::OK, &buf[..n.min(buf.len())]),
        Err(Unfinished::Failed(e)) => {
            shared.answer(req.id, STATUSES.for_error(&e), e.to_string().as_bytes())
        }
        Err(why) => shared.answer(req.id, STATUSES.for_unfinished(&why), &[]),
    }
    shared.finished(req.id);
}

fn read_request(input: &mut impl Read) -> Result<Option<Request>, PipeError> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(PipeError::FrameTooLarge(len));
    }
    let mut body = vec![0u8; len];
    input.read_exact(&mut body)?;
    if len < 5 {
        // Too short to carry an id: answer it as id 0 and carry on.
        return Ok(Some(Request {
            op: 0,
            id: 0,
            body: Vec::new(),
        }));
    }
    let op = body[0];
    let id = u32::from_le_bytes([body[1], body[2], body[3], body[4]]);
    body.drain(..5);
    Ok(Some(Request { op, id, body }))
}

/// A worker thread `name` that runs `run` on each request queued to it.
fn worker(
    shared: &Arc<Shared>,
    name: String,
    run: fn(&Shared, Request),
) -> io::Result<EndpointWorker<Request>> {
    let shared = shared.clone();
    EndpointWorker::spawn(name, move |req| run(&shared, req))
}

/// Serves devices made by `factory` on `input`/`output` until `input` ends.
pub fn serve(
    factory: DeviceFactory,
    mut input: impl Read,
    output: impl Write + Send + 'static,
) -> Result<(), PipeError> {
    let shared = Arc::new(Shared {
        device: Mutex::new(Arc::from(factory())),
        factory,
        flags: Mutex::new(Flags::default()),
        changed: Condvar::new(),
        out: Mutex::new(Box::new(output)),
    });
    let mut workers = Workers {
        control: worker(&shared, "usb-control".into(), do_control)?,
        bulk: HashMap::new(),
    };
    let result = loop {
        match read_request(&mut input) {
            Ok(Some(req)) => {
                if let Err(e) = workers.take(&shared, req) {
                    break Err(e);
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    shared.flags.lock().stopping = true;
    shared.changed.notify_all();
    workers.finish();
    result
}

/// The threads that run the transfers: one for the control endpoint, one per bulk endpoint
/// (started when first used), so that a transfer waiting on one never holds up another.
struct Workers {
    control: EndpointWorker<Request>,
    bulk: HashMap<u8, EndpointWorker<Request>>,
}

impl Workers {
    /// Hands a transfer to its endpoint's worker; answers every other request at once.
    fn take(&mut self, shared: &Arc<Shared>, req: Request) -> Result<(), PipeError> {
        match req.op {
            op::CONTROL_OUT | op::CONTROL_IN => self.control.queue(req),
            op::BULK_OUT | op::BULK_IN => {
                let Some(&endpoint) = req.body.first() else {
                    bad(shared, req.id, "short bulk request");
                    return Ok(());
                };
                let worker = match self.bulk.entry(endpoint) {
                    Entry::Occupied(w) => w.into_mut(),
                    Entry::Vacant(slot) => {
                        let run = if req.op == op::BULK_IN {
                            do_bulk_in
                        } else {
                            do_bulk_out
                        };
                        slot.insert(worker(shared, format!("usb-bulk-{endpoint:02x}"), run)?)
                    }
                };
                worker.queue(req);
            }
            _ => answer_at_once(shared, req),
        }
        Ok(())
    }

    /// Closes every queue and waits for the requests in them to be answered.
    fn finish(self) {
        EndpointWorker::finish_all(std::iter::once(self.control).chain(self.bulk.into_values()));
    }
}

/// The requests about the device rather than its endpoints: cancel, unplug, reset, info,
/// faults, halting IN; and the answer to an unknown one.
fn answer_at_once(shared: &Shared, req: Request) {
    let id = req.id;
    match req.op {
        op::CANCEL => match Fields(&req.body).u32() {
            Some(target) => {
                shared.flags.lock().cancelled.insert(target);
                shared.changed.notify_all();
            }
            None => bad(shared, id, "short cancel request"),
        },
        op::UNPLUG => {
            shared.flags.lock().unplugged = true;
            shared.changed.notify_all();
            shared.answer(id, status::OK, &[]);
        }
        op::RESET => {
            *shared.device.lock() = Arc::from((shared.factory)());
            {
                let mut f = shared.flags.lock();
                f.unplugged = false;
                f.halt_in = false;
            }
            shared.changed.notify_all();
            shared.answer(id, status::OK, &[]);
        }
        op::INFO => shared.answer(id, status::OK, &info(&shared.device())),
        op::FAULTS => {
            let lines = shared
                .device()
                .faults
                .as_ref()
                .map(|f| f())
                .unwrap_or_default();
            shared.answer(id, status::OK, lines.join("\n").as_bytes());
        }
        op::HALT_IN => match Fields(&req.body).u8() {
            Some(on) => {
                shared.flags.lock().halt_in = on != 0;
                shared.changed.notify_all();
                shared.answer(id, status::OK, &[]);
            }
            None => bad(shared, id, "short halt request"),
        },
        other => bad(shared, id, &format!("unknown op {other}")),
    }
}

/// The INFO answer for `dev`.
fn info(dev: &PipeDevice) -> Vec<u8> {
    let mps = dev.control().max_packet_size() as u32;
    let mut out = mps.to_le_bytes().to_vec();
    out.push(dev.interfaces.len() as u8);
    if let Some(id) = &dev.identity {
        for n in [id.vid, id.pid, id.bcd_device] {
            out.extend(n.to_le_bytes());
        }
        for s in [&id.manufacturer, &id.product, &id.serial] {
            out.extend(s.as_bytes());
            out.push(0);
        }
    }
    out
}

/// Serves devices made by `factory` on this process's stdin/stdout.
pub fn serve_stdio(factory: DeviceFactory) -> Result<(), PipeError> {
    let stdin = io::stdin().lock();
    let stdout = io::stdout();
    serve(factory, stdin, stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::os::unix::net::UnixStream;

    /// Stand-in device for these tests: accepts control requests, records them, and echoes
    /// bulk OUT data back on bulk IN.
    #[derive(Default)]
    struct Echo {
        fifo: Mutex<VecDeque<u8>>,
        arrived: Condvar,
        controls: Mutex<Vec<(u8, u16, u16)>>,
    }

    impl UsbTransport for Echo {
        fn control_out(&self, r: u8, v: u16, i: u16, _t: Duration) -> Result<(), UsbError> {
            self.controls.lock().push((r, v, i));
            Ok(())
        }
        fn control_in(
            &self,
            r: u8,
            v: u16,
            i: u16,
            buf: &mut [u8],
            _t: Duration,
        ) -> Result<usize, UsbError> {
            self.controls.lock().push((r, v, i));
            buf.iter_mut().for_each(|b| *b = r);
            Ok(buf.len())
        }
        fn write_bulk(&self, data: &[u8], _t: Duration) -> Result<usize, UsbError> {
            self.fifo.lock().extend(data);
            self.arrived.notify_all();
            Ok(data.len())
        }
        fn read_bulk(&self, buf: &mut [u8], t: Duration) -> Result<usize, UsbError> {
            let mut fifo = self.fifo.lock();
            let deadline = std::time::Instant::now() + t;
            while fifo.is_empty() && !self.arrived.wait_until(&mut fifo, deadline).timed_out() {}
            if fifo.is_empty() {
                return Err(UsbError::Timeout);
            }
            let n = buf.len().min(fifo.len());
            for b in buf.iter_mut().take(n) {
                *b = fifo.pop_front().unwrap();
            }
            Ok(n)
        }
        fn max_packet_size(&self) -> usize {
            512
        }
    }

    struct Client {
        stream: UnixStream,
        server: Option<std::thread::JoinHandle<Result<(), PipeError>>>,
    }

    impl Client {
        fn start() -> Client {
            Client::serving(Box::new(|| PipeDevice::new(Box::new(Echo::default()))))
        }

        fn serving(factory: DeviceFactory) -> Client {
            let (ours, theirs) = UnixStream::pair().unwrap();
            let reader = theirs.try_clone().unwrap();
            let server = std::thread::spawn(move || serve(factory, reader, theirs));
            ours.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            Client {
                stream: ours,
                server: Some(server),
            }
        }

        fn send(&mut self, opcode: u8, id: u32, payload: &[u8]) {
            let mut f = Vec::new();
            f.extend_from_slice(&(5 + payload.len() as u32).to_le_bytes());
            f.push(opcode);
            f.extend_from_slice(&id.to_le_bytes());
            f.extend_from_slice(payload);
            self.stream.write_all(&f).unwrap();
        }

        fn recv(&mut self) -> (u32, u8, Vec<u8>) {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).unwrap();
            let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
            self.stream.read_exact(&mut body).unwrap();
            let id = u32::from_le_bytes(body[..4].try_into().unwrap());
            (id, body[4], body[5..].to_vec())
        }

        fn stop(mut self) {
            self.stream.shutdown(std::net::Shutdown::Write).unwrap();
            self.server.take().unwrap().join().unwrap().unwrap();
        }
    }

    fn bulk_in(max: u32, timeout_ms: u32) -> Vec<u8> {
        [&[0x81][..], &max.to_le_bytes(), &timeout_ms.to_le_bytes()].concat()
    }

    /// A bulk OUT payload for endpoint 0x02 with no timeout.
    fn bulk_out(data: &[u8]) -> Vec<u8> {
        [&[0x02, 0, 0, 0, 0][..], data].concat()
    }

    #[test]
    fn control_and_echo() {
        let mut c = Client::start();
        c.send(
            op::CONTROL_OUT,
            1,
            &[0x0B, 0x0B, 0x02, 0x01, 0x00, 100, 0, 0, 0],
        );
        assert_eq!(c.recv(), (1, status::OK, vec![]));
        c.send(op::CONTROL_IN, 2, &[0x0A, 0, 0, 1, 0, 2, 0, 100, 0, 0, 0]);
        assert_eq!(c.recv(), (2, status::OK, vec![0x0A, 0x0A]));
        c.send(op::BULK_OUT, 3, &[0x02, 100, 0, 0, 0, 0xAA, 0x55]);
        assert_eq!(c.recv(), (3, status::OK, 2u32.to_le_bytes().to_vec()));
        c.send(op::BULK_IN, 4, &bulk_in(512, 1000));
        assert_eq!(c.recv(), (4, status::OK, vec![0xAA, 0x55]));
        c.send(op::INFO, 5, &[]);
        assert_eq!(c.recv(), (5, status::OK, vec![0, 2, 0, 0, 1]));
        c.send(op::FAULTS, 6, &[]);
        assert_eq!(c.recv(), (6, status::OK, vec![]));
        c.stop();
    }

    #[test]
    fn ftdi_endpoints_name_their_interfaces() {
        assert_eq!(endpoint_interface(0x81), Some((0, true)));
        assert_eq!(endpoint_interface(0x02), Some((0, false)));
        assert_eq!(endpoint_interface(0x83), Some((1, true)));
        assert_eq!(endpoint_interface(0x04), Some((1, false)));
        assert_eq!(endpoint_interface(0x87), Some((3, true)));
        assert_eq!(endpoint_interface(0x08), Some((3, false)));
        assert_eq!(endpoint_interface(0x80), None);
        assert_eq!(endpoint_interface(0x01), None);
    }

    /// An FT4232H board on the pipe: its identity, a UART round trip on channel C's
    /// endpoints while a read waits on channel D's, and the fault list.
    #[test]
    fn a_board_serves_every_channel_and_its_faults() {
        let mut c = Client::serving(Box::new(|| {
            crate::sim::SimBoard::new("zcu104", "ZCU0001", crate::sim::JtagChain::xc7a35t())
                .unwrap()
                .pipe_device()
        }));
        c.send(op::INFO, 1, &[]);
        let (_, st, info) = c.recv();
        assert_eq!(st, status::OK);
        assert_eq!(
            &info[..11],
            &[0, 2, 0, 0, 4, 0x03, 0x04, 0x11, 0x60, 0x00, 0x08]
        );
        assert_eq!(&info[11..], b"Xilinx\0JTAG+3xSerial\0ZCU0001\0");
        // A read pending on D (no timeout) does not hold up C. D answers with status-only
        // packets whenever its latency timer runs out: those answers are skipped.
        let read = |ep: u8| [&[ep][..], &512u32.to_le_bytes(), &[0; 4]].concat();
        c.send(op::BULK_IN, 2, &read(0x87));
        c.send(
            op::BULK_OUT,
            3,
            &[&[0x06, 0, 0, 0, 0][..], b"hello"].concat(),
        );
        let next = |c: &mut Client| loop {
            let answer = c.recv();
            if answer.0 != 2 {
                return answer;
            }
        };
        assert_eq!(next(&mut c), (3, status::OK, 5u32.to_le_bytes().to_vec()));
        c.send(op::BULK_IN, 4, &read(0x85));
        let (id, st, data) = next(&mut c);
        assert_eq!((id, st), (4, status::OK));
        assert_eq!(&data[2..], b"hello");
        // D's read is still pending and keeps answering status-only packets: skip them here too.
        c.send(op::FAULTS, 5, &[]);
        assert_eq!(next(&mut c), (5, status::OK, vec![]));
        // EEPROM write: a fault.
        c.send(op::CONTROL_OUT, 6, &[0x91, 0, 0, 1, 0, 100, 0, 0, 0]);
        assert_eq!(next(&mut c).1, status::OK);
        c.send(op::FAULTS, 7, &[]);
        let (_, _, text) = next(&mut c);
        assert_eq!(text, b"EEPROM write request 0x91 (wIndex 0x0001)");
        c.stop();
    }

    #[test]
    fn bulk_in_waits_for_data_written_later() {
        let mut c = Client::start();
        // Issued first, answered once the OUT arrives: the endpoints are independent.
        c.send(op::BULK_IN, 1, &bulk_in(64, 0));
        c.send(op::BULK_OUT, 2, &bulk_out(&[7]));
        let mut got = [c.recv(), c.recv()];
        got.sort();
        assert_eq!(got[0], (1, status::OK, vec![7]));
        assert_eq!(got[1], (2, status::OK, 1u32.to_le_bytes().to_vec()));
        c.stop();
    }

    #[test]
    fn timeout_cancel_halt_unplug_reset() {
        let mut c = Client::start();
        c.send(op::BULK_IN, 1, &bulk_in(64, 30));
        assert_eq!(c.recv(), (1, status::TIMEOUT, vec![]));
        c.send(op::BULK_IN, 2, &bulk_in(64, 0));
        c.send(op::CANCEL, 99, &2u32.to_le_bytes());
        assert_eq!(c.recv(), (2, status::CANCELLED, vec![]));
        // Halted IN: data is there but not delivered until the halt ends.
        c.send(op::HALT_IN, 3, &[1]);
        assert_eq!(c.recv(), (3, status::OK, vec![]));
        c.send(op::BULK_OUT, 4, &bulk_out(&[9]));
        assert_eq!(c.recv().1, status::OK);
        c.send(op::BULK_IN, 5, &bulk_in(64, 50));
        assert_eq!(c.recv(), (5, status::TIMEOUT, vec![]));
        c.send(op::HALT_IN, 6, &[0]);
        assert_eq!(c.recv().1, status::OK);
        c.send(op::BULK_IN, 7, &bulk_in(64, 0));
        assert_eq!(c.recv(), (7, status::OK, vec![9]));
        // Unplug ends a waiting read and every later request.
        c.send(op::BULK_IN, 8, &bulk_in(64, 0));
        c.send(op::UNPLUG, 9, &[]);
        let mut got = [c.recv(), c.recv()];
        got.sort();
        assert_eq!(got[0], (8, status::DISCONNECTED, vec![]));
        assert_eq!(got[1], (9, status::OK, vec![]));
        c.send(op::CONTROL_OUT, 10, &[0, 0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(c.recv(), (10, status::DISCONNECTED, vec![]));
        // Reset plugs a fresh device back in.
        c.send(op::RESET, 11, &[]);
        assert_eq!(c.recv().1, status::OK);
        c.send(op::CONTROL_OUT, 12, &[0, 0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(c.recv(), (12, status::OK, vec![]));
        c.stop();
    }

    #[test]
    fn partial_writes_that_time_out_are_not_repeated() {
        // Takes at most 4 bytes per write, as a stalled FIFO does.
        let chip = Arc::new(crate::sim::transfer::StingyChip::taking(4));
        let (ours, theirs) = UnixStream::pair().unwrap();
        let reader = theirs.try_clone().unwrap();
        let device = chip.clone();
        let server = std::thread::spawn(move || {
            let factory: DeviceFactory = Box::new(move || {
                let usb = device.clone();
                let probe = device.clone();
                PipeDevice {
                    interfaces: vec![PipeInterface {
                        usb: Box::new(usb),
                        accepted_out: Some(Box::new(move || probe.got.lock().len() as u64)),
                    }],
                    identity: None,
                    faults: None,
                }
            });
            serve(factory, reader, theirs)
        });
        let mut c = Client {
            stream: ours,
            server: Some(server),
        };
        c.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let payload: Vec<u8> = (1..=10).collect();
        c.send(op::BULK_OUT, 1, &bulk_out(&payload));
        assert_eq!(c.recv(), (1, status::OK, 10u32.to_le_bytes().to_vec()));
        assert_eq!(*chip.got.lock(), payload);
        c.stop();
    }

    #[test]
    fn bad_requests_are_answered_not_fatal() {
        let mut c = Client::start();
        c.send(42, 1, &[]);
        assert_eq!(c.recv().1, status::BAD_REQUEST);
        c.send(op::BULK_IN, 2, &[0x81, 1]);
        assert_eq!(c.recv().1, status::BAD_REQUEST);
        // Interface 1 does not exist; 0x02 is not an IN endpoint.
        c.send(
            op::BULK_IN,
            4,
            &[&[0x83][..], &bulk_in(64, 0)[1..]].concat(),
        );
        assert_eq!(c.recv().1, status::BAD_REQUEST);
        c.send(
            op::BULK_IN,
            5,
            &[&[0x02][..], &bulk_in(64, 0)[1..]].concat(),
        );
        assert_eq!(c.recv().1, status::BAD_REQUEST);
        c.send(op::INFO, 3, &[]);
        assert_eq!(c.recv().1, status::OK);
        c.stop();
    }

    #[test]
    fn end_of_input_cancels_waiting_requests() {
        let mut c = Client::start();
        c.send(op::BULK_IN, 1, &bulk_in(64, 0));
        c.stream.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(c.recv(), (1, status::CANCELLED, vec![]));
        c.server.take().unwrap().join().unwrap().unwrap();
    }
}
