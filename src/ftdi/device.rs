//! One FTDI channel over a [`UsbTransport`]: its vendor requests (reset, purge, latency
//! timer, MPSSE mode), the sync check with an invalid opcode, and the bulk transfers of a
//! command stream and its reply. Knows no JTAG: [`FtdiCable`](super::cable::FtdiCable) is the
//! cable built on it.
//!
//! Transfers: every IN packet starts with two modem-status bytes, stripped per packet (packet
//! size from the endpoint). Reads ask for exactly the packets the expected reply fills, so the
//! chip's send-immediate ends the transfer at once instead of a latency period later. The
//! FT232H buffers only 1 KiB of reply and stalls its MPSSE engine while that is full, so when a
//! reply can exceed it a reader thread drains the chip while the writer writes: a shift costs
//! one host turnaround however long it is. The EEPROM is never written.

use crate::ftdi::chip::{self, bitmode, op, pin, request};
use crate::ftdi::error::{Desync, FtdiError, Stage};
use crate::ftdi::transport::{UsbError, UsbTransport};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Replies up to this size are read after the whole command stream is written: the chip can
/// hold them (64 bytes of its reply FIFO stay as margin). Longer ones are read concurrently
/// with the write.
const SEQUENTIAL_REPLY_LIMIT: usize = chip::TX_FIFO - 64;

/// Largest single bulk read.
const MAX_READ: usize = 64 * 1024;

/// Time limits of the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Each control request.
    pub control: Duration,
    /// A bulk exchange, on top of the time its TCK cycles take.
    pub io: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            control: Duration::from_millis(500),
            io: Duration::from_millis(1000),
        }
    }
}

/// One FTDI interface in MPSSE mode.
pub(crate) struct FtdiDevice<T: UsbTransport> {
    usb: T,
    index: u16,
    packet: usize,
    timeouts: Timeouts,
    raw: Vec<u8>,
}

impl<T: UsbTransport> FtdiDevice<T> {
    /// Wraps interface `interface` (0 = A) of a device.
    pub fn new(usb: T, interface: u8, timeouts: Timeouts) -> Self {
        let packet = usb.max_packet_size().max(chip::MODEM_STATUS_LEN + 1);
        FtdiDevice {
            usb,
            index: chip::interface_index(interface),
            packet,
            timeouts,
            raw: Vec::new(),
        }
    }

    pub fn transport(&self) -> &T {
        &self.usb
    }

    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
    }

    fn control(&self, stage: Stage, req: u8, value: u16) -> Result<(), FtdiError> {
        self.usb
            .control_out(req, value, self.index, self.timeouts.control)
            .map_err(|e| FtdiError::usb(stage, e))
    }

    /// Resets the chip's serial engine.
    pub fn reset(&self) -> Result<(), FtdiError> {
        self.control(Stage::Reset, request::RESET, request::RESET_SIO)
    }

    /// Empties both FIFOs.
    pub fn purge(&self) -> Result<(), FtdiError> {
        self.control(Stage::Purge, request::RESET, request::PURGE_RX)?;
        self.control(Stage::Purge, request::RESET, request::PURGE_TX)
    }

    /// Sets the latency timer (how long the chip holds a partial packet), in ms.
    pub fn set_latency_timer(&self, ms: u8) -> Result<(), FtdiError> {
        self.control(
            Stage::LatencyTimer,
            request::SET_LATENCY_TIMER,
            u16::from(ms.max(chip::MIN_LATENCY_MS)),
        )
    }

    /// Leaves any bit mode, then enters MPSSE mode. The mask names the JTAG outputs; the
    /// MPSSE GPIO commands then set the real directions.
    pub fn enter_mpsse(&self) -> Result<(), FtdiError> {
        self.control(
            Stage::BitModeReset,
            request::SET_BITMODE,
            bitmode::value(bitmode::RESET, 0),
        )?;
        self.control(
            Stage::EnterMpsse,
            request::SET_BITMODE,
            bitmode::value(bitmode::MPSSE, pin::JTAG_OUTPUTS),
        )
    }

    /// Sends an invalid opcode and checks the chip answers `FA <opcode>`: proves the MPSSE
    /// engine is listening and the reply stream is aligned.
    pub fn sync(&mut self, opcode: u8) -> Result<(), FtdiError> {
        let mut reply = [0u8; 2];
        self.transfer(&[opcode, op::SEND_IMMEDIATE], &mut reply, Duration::ZERO)?;
        if reply != [op::BAD_COMMAND, opcode] {
            return Err(Desync::SyncCheck {
                sent: opcode,
                got: reply,
            }
            .into());
        }
        Ok(())
    }

    /// Writes commands that produce no reply.
    pub fn write(&self, cmd: &[u8]) -> Result<(), FtdiError> {
        write_all(&self.usb, cmd, Instant::now() + self.timeouts.io)
    }

    /// Writes `cmd` and reads exactly `reply.len()` reply bytes. `clocked` is how long the
    /// commands' TCK cycles take; it extends the time limit.
    pub fn transfer(
        &mut self,
        cmd: &[u8],
        reply: &mut [u8],
        clocked: Duration,
    ) -> Result<(), FtdiError> {
        let deadline = Instant::now() + self.timeouts.io + clocked;
        let packet = self.packet;
        let want_raw = reply.len().div_ceil(packet - chip::MODEM_STATUS_LEN) * packet;
        let raw_len = want_raw.clamp(packet, MAX_READ / packet * packet);
        if self.raw.len() < raw_len {
            self.raw.resize(raw_len, 0);
        }
        let usb = &self.usb;
        let raw = &mut self.raw[..raw_len];
        if reply.len() <= SEQUENTIAL_REPLY_LIMIT {
            write_all(usb, cmd, deadline)?;
            let never = AtomicBool::new(false);
            return read_exact(usb, packet, raw, reply, deadline, &never);
        }
        let abort = AtomicBool::new(false);
        std::thread::scope(|s| {
            let reader = std::thread::Builder::new()
                .name("ftdi-reader".into())
                .spawn_scoped(s, || read_exact(usb, packet, raw, reply, deadline, &abort))
                .map_err(|e| FtdiError::Usb {
                    stage: Stage::StartReader,
                    source: UsbError::Other(e.to_string()),
                })?;
            let written = write_all(usb, cmd, deadline);
            if written.is_err() {
                abort.store(true, Ordering::Relaxed);
            }
            let read = reader
                .join()
                .unwrap_or_else(|_| Err(Desync::ReaderFailed.into()));
            // A failed write explains a failed read, not the other way round.
            written.and(read)
        })
    }
}

fn write_all<T: UsbTransport>(usb: &T, cmd: &[u8], deadline: Instant) -> Result<(), FtdiError> {
    let mut off = 0;
    while off < cmd.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(FtdiError::Timeout(Stage::WriteCommands));
        }
        let n = usb
            .write_bulk(&cmd[off..], left)
            .map_err(|e| FtdiError::usb(Stage::WriteCommands, e))?;
        off += n;
    }
    Ok(())
}

/// Reads until `out` is full, stripping the status bytes of each packet.
fn read_exact<T: UsbTransport>(
    usb: &T,
    packet: usize,
    raw: &mut [u8],
    out: &mut [u8],
    deadline: Instant,
    abort: &AtomicBool,
) -> Result<(), FtdiError> {
    let mut got = 0;
    while got < out.len() {
        if abort.load(Ordering::Relaxed) {
            return Err(Desync::ReadAbandoned.into());
        }
        // Silence after part of the reply means the reply is shorter than the commands
        // asked for; silence from the start means the chip is not answering.
        let stalled = |got: usize| {
            let want = out.len();
            if got == 0 {
                FtdiError::Timeout(Stage::AwaitReply(want))
            } else {
                Desync::ReplyStopped { got, want }.into()
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(stalled(got));
        }
        let packets = (out.len() - got).div_ceil(packet - chip::MODEM_STATUS_LEN);
        let len = (packets * packet).min(raw.len());
        let n = match usb.read_bulk(&mut raw[..len], left) {
            Ok(n) => n,
            Err(UsbError::Timeout) => return Err(stalled(got)),
            Err(e) => return Err(FtdiError::usb(Stage::ReadReply, e)),
        };
        for p in raw[..n].chunks(packet) {
            if p.len() < chip::MODEM_STATUS_LEN {
                return Err(Desync::NoModemStatus { len: p.len() }.into());
            }
            let data = &p[chip::MODEM_STATUS_LEN..];
            if got + data.len() > out.len() {
                return Err(Desync::ReplyTooLong {
                    extra: got + data.len() - out.len(),
                    want: out.len(),
                }
                .into());
            }
            out[got..got + data.len()].copy_from_slice(data);
            got += data.len();
        }
    }
    Ok(())
}
