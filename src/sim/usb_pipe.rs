//! A USB device on a pipe: serves any [`UsbTransport`] (in practice the FT232H emulator) to
//! another process over a small framed binary protocol on stdin/stdout.
//!
//! It exists so that the umockdev test harness, which answers the agent's usbdevfs ioctls in
//! Python, can pass control and bulk transfers to the one FT232H model the rest of the project
//! uses, instead of carrying a second model. It is reached through the hidden subcommand
//! `xvc-agent sim-usb-device`.
//!
//! # Protocol
//! All integers little-endian. Each request is `u32 len | u8 op | u32 id | payload`, where
//! `len` counts everything after itself. Each answer is `u32 len | u32 id | u8 status |
//! payload`. Requests of different kinds run concurrently (control, bulk OUT and bulk IN each
//! have their own worker, as the endpoints of a real device are independent); requests of one
//! kind run in order. Answers may therefore come back in a different order than requests; the
//! id pairs them.
//!
//! | op | request payload | answer payload (status OK) |
//! |----|-----------------|----------------------------|
//! | 1 control out | `u8 request, u16 value, u16 index, u32 timeout_ms` | — |
//! | 2 control in | `u8 request, u16 value, u16 index, u16 length, u32 timeout_ms` | data |
//! | 3 bulk out | `u32 timeout_ms, data` | `u32 written` (also with TIMEOUT / CANCELLED) |
//! | 4 bulk in | `u32 max_len, u32 timeout_ms` | data (at least one byte) |
//! | 5 cancel | `u32 target id` | no answer of its own: the target answers CANCELLED |
//! | 6 unplug | — | — ; from now on everything answers DISCONNECTED |
//! | 7 reset | — | — ; a fresh device (power cycle), plugged in again |
//! | 8 info | — | `u32 bulk IN max packet size` |
//! | 9 halt in | `u8 on` | — ; while on, bulk IN requests get no data (the device NAKs) |
//!
//! A `timeout_ms` of 0 means "until done or cancelled": a USB request block has no timeout of
//! its own, the host cancels it. Status codes: 0 OK, 1 TIMEOUT, 2 DISCONNECTED, 3 CANCELLED,
//! 4 ERROR (payload: UTF-8 message), 5 BAD_REQUEST (payload: UTF-8 message).
//!
//! End of input stops the server: requests still running are cancelled and answered.

use crate::ftdi::transport::{UsbError, UsbTransport};
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// Largest request accepted (a bulk OUT of 16 MiB plus header); guards against a corrupt
/// length word making us allocate gigabytes.
pub const MAX_FRAME: usize = 16 * 1024 * 1024 + 64;

/// How long one device call may block before the worker looks at cancellations again. Longer
/// than an FTDI latency timer is normally set (1–16 ms), so a read still sees the chip's
/// status-only packets exactly as a host would.
const SLICE: Duration = Duration::from_millis(100);

/// A device served on the pipe.
pub struct PipeDevice {
    pub usb: Box<dyn UsbTransport>,
    /// Total bytes the device has accepted on its bulk OUT endpoint, if it can tell. A
    /// `write_bulk` that times out part-way reports no count; with this probe the server
    /// still knows how far it got and never sends a byte twice.
    pub accepted_out: Option<Box<dyn Fn() -> u64 + Send + Sync>>,
}

impl PipeDevice {
    /// A device without an accepted-bytes probe.
    pub fn new(usb: Box<dyn UsbTransport>) -> Self {
        PipeDevice {
            usb,
            accepted_out: None,
        }
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn device(&self) -> Arc<PipeDevice> {
        lock(&self.device).clone()
    }

    fn answer(&self, id: u32, status: u8, payload: &[u8]) {
        let mut frame = Vec::with_capacity(9 + payload.len());
        frame.extend_from_slice(&(5 + payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&id.to_le_bytes());
        frame.push(status);
        frame.extend_from_slice(payload);
        let mut out = lock(&self.out);
        // A reader that went away cannot be answered; the input side notices the EOF.
        let _ = out.write_all(&frame).and_then(|_| out.flush());
    }

    /// Why request `id` must stop now, if it must.
    fn interrupted(&self, id: u32) -> Option<u8> {
        let mut f = lock(&self.flags);
        if f.unplugged {
            f.cancelled.remove(&id);
            return Some(status::DISCONNECTED);
        }
        if f.cancelled.remove(&id) || f.stopping {
            return Some(status::CANCELLED);
        }
        None
    }

    /// Forgets a stale cancellation for a request that has finished.
    fn finished(&self, id: u32) {
        lock(&self.flags).cancelled.remove(&id);
    }
}

fn usb_status(e: &UsbError) -> u8 {
    match e {
        UsbError::Timeout => status::TIMEOUT,
        UsbError::Disconnected => status::DISCONNECTED,
        _ => status::ERROR,
    }
}

fn deadline(timeout_ms: u32) -> Option<Instant> {
    (timeout_ms != 0).then(|| Instant::now() + Duration::from_millis(timeout_ms.into()))
}

fn slice_until(deadline: Option<Instant>) -> Option<Duration> {
    match deadline {
        None => Some(SLICE),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            (!left.is_zero()).then(|| left.min(SLICE))
        }
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
    if let Some(st) = shared.interrupted(req.id) {
        return shared.answer(req.id, st, &[]);
    }
    let dev = shared.device();
    let dev = &dev.usb;
    let timeout = Duration::from_millis(timeout_ms.max(1).into());
    if req.op == op::CONTROL_OUT {
        match dev.control_out(request, value, index, timeout) {
            Ok(()) => shared.answer(req.id, status::OK, &[]),
            Err(e) => shared.answer(req.id, usb_status(&e), e.to_string().as_bytes()),
        }
    } else {
        let mut buf = vec![0u8; length as usize];
        match dev.control_in(request, value, index, &mut buf, timeout) {
            Ok(n) => shared.answer(req.id, status::OK, &buf[..n.min(buf.len())]),
            Err(e) => shared.answer(req.id, usb_status(&e), e.to_string().as_bytes()),
        }
    }
    shared.finished(req.id);
}

fn do_bulk_out(shared: &Shared, req: Request) {
    let mut f = Fields(&req.body);
    let Some(timeout_ms) = f.u32() else {
        return bad(shared, req.id, "short bulk out request");
    };
    let data = f.0;
    let until = deadline(timeout_ms);
    let mut written = 0usize;
    let st = loop {
        if written == data.len() && !data.is_empty() {
            break status::OK;
        }
        if let Some(st) = shared.interrupted(req.id) {
            break st;
        }
        let Some(slice) = slice_until(until) else {
            break status::TIMEOUT;
        };
        let dev = shared.device();
        let before = dev.accepted_out.as_ref().map(|probe| probe());
        match dev.usb.write_bulk(&data[written..], slice) {
            Ok(n) => {
                written += n;
                if data.is_empty() {
                    break status::OK;
                }
            }
            Err(UsbError::Timeout) => {
                // Count what went in before the time ran out, so it is not sent again.
                if let (Some(probe), Some(before)) = (&dev.accepted_out, before) {
                    let taken = probe().saturating_sub(before) as usize;
                    written = (written + taken).min(data.len());
                }
            }
            Err(e) => break usb_status(&e),
        }
    };
    shared.answer(req.id, st, &(written as u32).to_le_bytes());
    shared.finished(req.id);
}

fn do_bulk_in(shared: &Shared, req: Request) {
    let mut f = Fields(&req.body);
    let (Some(max_len), Some(timeout_ms)) = (f.u32(), f.u32()) else {
        return bad(shared, req.id, "short bulk in request");
    };
    let until = deadline(timeout_ms);
    let mut buf = vec![0u8; max_len as usize];
    loop {
        if let Some(st) = shared.interrupted(req.id) {
            shared.answer(req.id, st, &[]);
            break;
        }
        let Some(slice) = slice_until(until) else {
            shared.answer(req.id, status::TIMEOUT, &[]);
            break;
        };
        let halted = lock(&shared.flags).halt_in;
        if halted {
            // The device NAKs every IN token: nothing to do but wait for a change.
            let flags = lock(&shared.flags);
            let _ = shared.changed.wait_timeout(flags, slice);
            continue;
        }
        if buf.is_empty() {
            shared.answer(req.id, status::OK, &[]);
            break;
        }
        match shared.device().usb.read_bulk(&mut buf, slice) {
            Ok(0) | Err(UsbError::Timeout) => {}
            Ok(n) => {
                shared.answer(req.id, status::OK, &buf[..n.min(buf.len())]);
                break;
            }
            Err(e) => {
                shared.answer(req.id, usb_status(&e), e.to_string().as_bytes());
                break;
            }
        }
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

type Worker = (mpsc::Sender<Request>, std::thread::JoinHandle<()>);

fn worker(shared: &Arc<Shared>, name: &str, run: fn(&Shared, Request)) -> io::Result<Worker> {
    let (tx, rx) = mpsc::channel::<Request>();
    let shared = shared.clone();
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            for req in rx {
                run(&shared, req);
            }
        })?;
    Ok((tx, handle))
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
    let control = worker(&shared, "usb-control", do_control)?;
    let bulk_out = worker(&shared, "usb-bulk-out", do_bulk_out)?;
    let bulk_in = worker(&shared, "usb-bulk-in", do_bulk_in)?;
    let result = loop {
        let req = match read_request(&mut input) {
            Ok(Some(r)) => r,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let id = req.id;
        match req.op {
            op::CONTROL_OUT | op::CONTROL_IN => {
                let _ = control.0.send(req);
            }
            op::BULK_OUT => {
                let _ = bulk_out.0.send(req);
            }
            op::BULK_IN => {
                let _ = bulk_in.0.send(req);
            }
            op::CANCEL => match Fields(&req.body).u32() {
                Some(target) => {
                    lock(&shared.flags).cancelled.insert(target);
                    shared.changed.notify_all();
                }
                None => bad(&shared, id, "short cancel request"),
            },
            op::UNPLUG => {
                lock(&shared.flags).unplugged = true;
                shared.changed.notify_all();
                shared.answer(id, status::OK, &[]);
            }
            op::RESET => {
                *lock(&shared.device) = Arc::from((shared.factory)());
                {
                    let mut f = lock(&shared.flags);
                    f.unplugged = false;
                    f.halt_in = false;
                }
                shared.changed.notify_all();
                shared.answer(id, status::OK, &[]);
            }
            op::INFO => {
                let mps = shared.device().usb.max_packet_size() as u32;
                shared.answer(id, status::OK, &mps.to_le_bytes());
            }
            op::HALT_IN => match Fields(&req.body).u8() {
                Some(on) => {
                    lock(&shared.flags).halt_in = on != 0;
                    shared.changed.notify_all();
                    shared.answer(id, status::OK, &[]);
                }
                None => bad(&shared, id, "short halt request"),
            },
            other => bad(&shared, id, &format!("unknown op {other}")),
        }
    };
    lock(&shared.flags).stopping = true;
    shared.changed.notify_all();
    for (tx, handle) in [control, bulk_out, bulk_in] {
        drop(tx);
        let _ = handle.join();
    }
    result
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
            lock(&self.controls).push((r, v, i));
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
            lock(&self.controls).push((r, v, i));
            buf.iter_mut().for_each(|b| *b = r);
            Ok(buf.len())
        }
        fn write_bulk(&self, data: &[u8], _t: Duration) -> Result<usize, UsbError> {
            lock(&self.fifo).extend(data);
            self.arrived.notify_all();
            Ok(data.len())
        }
        fn read_bulk(&self, buf: &mut [u8], t: Duration) -> Result<usize, UsbError> {
            let fifo = lock(&self.fifo);
            let (mut fifo, _) = self
                .arrived
                .wait_timeout_while(fifo, t, |f| f.is_empty())
                .unwrap();
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
            let (ours, theirs) = UnixStream::pair().unwrap();
            let reader = theirs.try_clone().unwrap();
            let server = std::thread::spawn(move || {
                serve(
                    Box::new(|| PipeDevice::new(Box::new(Echo::default()))),
                    reader,
                    theirs,
                )
            });
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
        [max.to_le_bytes(), timeout_ms.to_le_bytes()].concat()
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
        c.send(op::BULK_OUT, 3, &[100, 0, 0, 0, 0xAA, 0x55]);
        assert_eq!(c.recv(), (3, status::OK, 2u32.to_le_bytes().to_vec()));
        c.send(op::BULK_IN, 4, &bulk_in(512, 1000));
        assert_eq!(c.recv(), (4, status::OK, vec![0xAA, 0x55]));
        c.send(op::INFO, 5, &[]);
        assert_eq!(c.recv(), (5, status::OK, 512u32.to_le_bytes().to_vec()));
        c.stop();
    }

    #[test]
    fn bulk_in_waits_for_data_written_later() {
        let mut c = Client::start();
        // Issued first, answered once the OUT arrives: the endpoints are independent.
        c.send(op::BULK_IN, 1, &bulk_in(64, 0));
        c.send(op::BULK_OUT, 2, &[0, 0, 0, 0, 7]);
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
        c.send(op::BULK_OUT, 4, &[0, 0, 0, 0, 9]);
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

    /// Takes at most 4 bytes per call and reports a timeout (without a count) whenever it
    /// could not take everything, as a stalled FIFO does.
    #[derive(Default)]
    struct Stingy {
        got: Mutex<Vec<u8>>,
    }

    impl UsbTransport for Stingy {
        fn control_out(&self, _: u8, _: u16, _: u16, _: Duration) -> Result<(), UsbError> {
            Ok(())
        }
        fn control_in(
            &self,
            _: u8,
            _: u16,
            _: u16,
            _: &mut [u8],
            _: Duration,
        ) -> Result<usize, UsbError> {
            Ok(0)
        }
        fn write_bulk(&self, data: &[u8], _t: Duration) -> Result<usize, UsbError> {
            let n = data.len().min(4);
            lock(&self.got).extend_from_slice(&data[..n]);
            if n < data.len() {
                Err(UsbError::Timeout)
            } else {
                Ok(n)
            }
        }
        fn read_bulk(&self, _: &mut [u8], _: Duration) -> Result<usize, UsbError> {
            Err(UsbError::Timeout)
        }
        fn max_packet_size(&self) -> usize {
            512
        }
    }

    #[test]
    fn partial_writes_that_time_out_are_not_repeated() {
        let chip = Arc::new(Stingy::default());
        let (ours, theirs) = UnixStream::pair().unwrap();
        let reader = theirs.try_clone().unwrap();
        let device = chip.clone();
        let server = std::thread::spawn(move || {
            let factory: DeviceFactory = Box::new(move || {
                let usb = device.clone();
                let probe = device.clone();
                PipeDevice {
                    usb: Box::new(usb),
                    accepted_out: Some(Box::new(move || lock(&probe.got).len() as u64)),
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
        c.send(op::BULK_OUT, 1, &[&[0u8, 0, 0, 0][..], &payload].concat());
        assert_eq!(c.recv(), (1, status::OK, 10u32.to_le_bytes().to_vec()));
        assert_eq!(*lock(&chip.got), payload);
        c.stop();
    }

    #[test]
    fn bad_requests_are_answered_not_fatal() {
        let mut c = Client::start();
        c.send(42, 1, &[]);
        assert_eq!(c.recv().1, status::BAD_REQUEST);
        c.send(op::BULK_IN, 2, &[1]);
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
