//! The emulated chip's USB side: vendor control requests, the two 1 KiB FIFOs, bulk IN
//! packets of 512 bytes each led by two modem-status bytes, the latency timer, and the
//! faults tests inject (unplug, wedged reads, corrupted replies).
//!
//! Exists apart from the engine because this is where time passes: writes block while the
//! command FIFO is full, reads wait for a full packet, a send-immediate or the latency timer,
//! and every call may find the chip unplugged. The engine runs under the same lock whenever
//! bytes arrive or reply room frees.

use super::{Chip, Ft232h};
use crate::ftdi::chip::{self, bitmode, request, MODEM_STATUS, RX_FIFO, TX_FIFO};
use crate::ftdi::transport::{UsbError, UsbTransport};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The command FIFO (host → engine) and the reply FIFO (engine → host).
pub(super) struct Fifos {
    pub(super) rx: VecDeque<u8>,
    pub(super) tx: VecDeque<u8>,
    /// Reply bytes at the front of `tx` that a send-immediate asked to go out now.
    pub(super) flush: usize,
}

impl Fifos {
    pub(super) fn new() -> Self {
        Fifos {
            rx: VecDeque::with_capacity(RX_FIFO),
            tx: VecDeque::with_capacity(TX_FIFO),
            flush: 0,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rx.is_empty() && self.tx.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.rx.clear();
        self.tx.clear();
        self.flush = 0;
    }
}

/// A corruption applied to the reply stream, for desync tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyFault {
    /// Drops the reply byte at this offset (counted from when the fault is armed).
    Drop { at: u64 },
    /// Inserts `byte` before the reply byte at this offset.
    Insert { at: u64, byte: u8 },
}

/// The link's settings and the injected faults.
pub(super) struct Usb {
    pub(super) packet_size: usize,
    /// In MPSSE bit mode (bytes written reach the engine).
    pub(super) mpsse: bool,
    /// Outside MPSSE mode, bytes written come back on bulk IN (TX wired to RX).
    pub(super) uart_loopback: bool,
    pub(super) latency: Duration,
    pub(super) gone: bool,
    unplug_after: Option<u64>,
    read_timeouts: u32,
    reply_fault: Option<ReplyFault>,
    reply_emitted: u64,
}

impl Usb {
    pub(super) fn new() -> Self {
        Usb {
            packet_size: chip::HIGH_SPEED_PACKET,
            mpsse: false,
            uart_loopback: false,
            latency: Duration::from_millis(chip::DEFAULT_LATENCY_MS.into()),
            gone: false,
            unplug_after: None,
            read_timeouts: 0,
            reply_fault: None,
            reply_emitted: 0,
        }
    }

    /// Moves up to `max` reply bytes from `fifos` to `out`, applying an armed reply fault.
    fn take_reply(&mut self, fifos: &mut Fifos, max: usize, out: &mut Vec<u8>) {
        let k = max.min(fifos.tx.len());
        for _ in 0..k {
            let byte = fifos.tx.pop_front().expect("length checked");
            let at = self.reply_emitted;
            self.reply_emitted += 1;
            match self.reply_fault {
                Some(ReplyFault::Drop { at: f }) if f == at => {
                    self.reply_fault = None;
                }
                Some(ReplyFault::Insert { at: f, byte: extra }) if f == at => {
                    self.reply_fault = None;
                    out.push(extra);
                    out.push(byte);
                }
                _ => out.push(byte),
            }
        }
        fifos.flush = fifos.flush.saturating_sub(k);
    }
}

/// Fault injection.
impl Ft232h {
    /// Unplugs the chip now: every later call fails with [`UsbError::Disconnected`], and calls
    /// blocked in the chip return with it.
    pub fn unplug(&self) {
        self.lock().usb.gone = true;
        self.notify();
    }

    /// Unplugs the chip once the host has written `n` more bulk bytes (mid-transfer if a
    /// write crosses the mark).
    pub fn unplug_after_out_bytes(&self, n: u64) {
        let mut c = self.lock();
        c.usb.unplug_after = Some(c.counters.bytes_out + n);
    }

    /// The next `n` bulk reads wait for their whole timeout and fail with
    /// [`UsbError::Timeout`], as with a wedged chip.
    pub fn time_out_reads(&self, n: u32) {
        self.lock().usb.read_timeouts = n;
    }

    /// Corrupts the reply stream once (see [`ReplyFault`]).
    pub fn corrupt_reply(&self, fault: ReplyFault) {
        let mut c = self.lock();
        c.usb.reply_fault = Some(fault);
        c.usb.reply_emitted = 0;
    }
}

/// Whether a vendor request's wIndex names the chip's one interface (0 or 1). EEPROM
/// requests carry a word address there instead, and SET_BAUD_RATE carries divisor bits in
/// its high byte (as Linux's ftdi_sio sends them), so only the low byte names the interface.
fn addresses_interface(req: u8, index: u16) -> bool {
    match req {
        request::READ_EEPROM | request::WRITE_EEPROM | request::ERASE_EEPROM => true,
        _ => index & 0xFF <= chip::interface_index(0),
    }
}

impl Chip {
    /// Bytes a bulk OUT can hand over now: room in the command FIFO in MPSSE mode, in the
    /// reply FIFO for a looped-back UART; a UART with nothing on its TX pin takes everything.
    fn out_room(&self) -> usize {
        if self.usb.mpsse {
            RX_FIFO - self.fifos.rx.len()
        } else if self.usb.uart_loopback {
            TX_FIFO - self.fifos.tx.len()
        } else {
            usize::MAX
        }
    }

    /// The checks every USB request starts with: still plugged in, addressed to us.
    fn accept_control(&mut self, req: u8, index: u16) -> Result<(), UsbError> {
        if self.usb.gone {
            return Err(UsbError::Disconnected);
        }
        self.counters.control_transfers += 1;
        if !addresses_interface(req, index) {
            return Err(UsbError::Other(format!(
                "control request {req:#04x}: no interface {index}"
            )));
        }
        Ok(())
    }

    fn vendor_out(&mut self, req: u8, value: u16) -> Result<(), UsbError> {
        match req {
            request::RESET => match value {
                request::RESET_SIO => self.reset_engine(),
                request::PURGE_RX => {
                    self.fifos.rx.clear();
                    self.engine.abort();
                }
                request::PURGE_TX => {
                    self.fifos.tx.clear();
                    self.fifos.flush = 0;
                }
                _ => return Err(UsbError::Other(format!("reset value {value}"))),
            },
            request::SET_LATENCY_TIMER => {
                let ms = (value as u8).max(chip::MIN_LATENCY_MS);
                self.usb.latency = Duration::from_millis(ms.into());
            }
            request::SET_BITMODE => {
                let was = self.usb.mpsse;
                self.usb.mpsse = bitmode::mode_of(value) == bitmode::MPSSE;
                if self.usb.mpsse != was {
                    self.reset_engine();
                }
            }
            request::WRITE_EEPROM | request::ERASE_EEPROM => self.counters.eeprom_writes += 1,
            request::MODEM_CTRL
            | request::SET_FLOW_CTRL
            | request::SET_BAUD_RATE
            | request::SET_DATA
            | request::SET_EVENT_CHAR
            | request::SET_ERROR_CHAR => {}
            _ => return Err(UsbError::Other(format!("request {req:#04x} stalled"))),
        }
        Ok(())
    }

    fn vendor_in(&self, req: u8) -> Result<Vec<u8>, UsbError> {
        Ok(match req {
            request::GET_LATENCY_TIMER => vec![self.usb.latency.as_millis().min(255) as u8],
            request::READ_PINS => vec![self.pins.gpio.low.value],
            request::POLL_MODEM_STATUS => MODEM_STATUS.to_vec(),
            request::READ_EEPROM => vec![0xFF, 0xFF],
            _ => return Err(UsbError::Other(format!("request {req:#04x} stalled"))),
        })
    }

    /// Whether the next IN packet is due: a full one is ready, a send-immediate or the
    /// latency timer (started at `timer`) lets a short one go, or (latency expired with
    /// nothing to send) a status-only packet.
    fn packet_due(&self, payload: usize, timer: Instant) -> bool {
        let latency_expired = Instant::now() >= timer + self.usb.latency;
        let tx = &self.fifos.tx;
        let full = tx.len() >= payload;
        let short = !tx.is_empty() && self.fifos.flush > 0;
        full || short || latency_expired
    }

    /// Appends one IN packet (status bytes and up to `psize - 2` reply bytes) to `out`;
    /// returns its length.
    fn emit_packet(&mut self, psize: usize, packet: &mut Vec<u8>, out: &mut Vec<u8>) -> usize {
        packet.clear();
        packet.extend_from_slice(&MODEM_STATUS);
        self.usb
            .take_reply(&mut self.fifos, psize - MODEM_STATUS.len(), packet);
        // An inserted byte can overflow the packet; keep it for the next one.
        if packet.len() > psize {
            let extra = packet.pop().expect("over-long packet");
            self.fifos.tx.push_front(extra);
        }
        out.extend_from_slice(packet);
        packet.len()
    }
}

impl Ft232h {
    /// A read the fault injection wedged: waits out the timeout (or an unplug).
    fn wedged_read(&self, mut c: parking_lot::MutexGuard<'_, Chip>, deadline: Instant) -> UsbError {
        loop {
            let (g, timed_out) = self.wait_until(c, deadline);
            c = g;
            if c.usb.gone {
                return UsbError::Disconnected;
            }
            if timed_out {
                return UsbError::Timeout;
            }
        }
    }
}

impl UsbTransport for Ft232h {
    fn control_out(
        &self,
        req: u8,
        value: u16,
        index: u16,
        _timeout: Duration,
    ) -> Result<(), UsbError> {
        let mut c = self.lock();
        c.accept_control(req, index)?;
        c.vendor_out(req, value)?;
        drop(c);
        self.notify();
        Ok(())
    }

    fn control_in(
        &self,
        req: u8,
        _value: u16,
        index: u16,
        buf: &mut [u8],
        _timeout: Duration,
    ) -> Result<usize, UsbError> {
        let mut c = self.lock();
        c.accept_control(req, index)?;
        let answer = c.vendor_in(req)?;
        let n = answer.len().min(buf.len());
        buf[..n].copy_from_slice(&answer[..n]);
        Ok(n)
    }

    fn write_bulk(&self, data: &[u8], timeout: Duration) -> Result<usize, UsbError> {
        let deadline = Instant::now() + timeout;
        let mut c = self.lock();
        if c.usb.gone {
            return Err(UsbError::Disconnected);
        }
        c.counters.out_transfers += 1;
        if c.fifos.is_empty() && c.engine.idle() {
            c.counters.turnarounds += 1;
        }
        let mut written = 0;
        while written < data.len() {
            if c.usb.gone {
                return Err(UsbError::Disconnected);
            }
            let mut room = c.out_room();
            if let Some(limit) = c.usb.unplug_after {
                let allowed = limit.saturating_sub(c.counters.bytes_out) as usize;
                if allowed == 0 {
                    c.usb.gone = true;
                    drop(c);
                    self.notify();
                    return Err(UsbError::Disconnected);
                }
                room = room.min(allowed);
            }
            if room == 0 {
                let (g, timed_out) = self.wait_until(c, deadline);
                c = g;
                if timed_out && c.out_room() == 0 && !c.usb.gone {
                    return Err(UsbError::Timeout);
                }
                continue;
            }
            let k = room.min(data.len() - written);
            c.counters.bytes_out += k as u64;
            if c.usb.mpsse {
                c.fifos.rx.extend(&data[written..written + k]);
                c.run();
            } else if c.usb.uart_loopback {
                c.fifos.tx.extend(&data[written..written + k]);
            }
            written += k;
            self.notify();
        }
        Ok(written)
    }

    fn read_bulk(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, UsbError> {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut c = self.lock();
        if c.usb.gone {
            return Err(UsbError::Disconnected);
        }
        if c.usb.read_timeouts > 0 {
            c.usb.read_timeouts -= 1;
            return Err(self.wedged_read(c, deadline));
        }
        let psize = c.usb.packet_size;
        if buf.len() < psize {
            return Err(UsbError::Other(format!(
                "read buffer of {} bytes is smaller than a {psize}-byte packet",
                buf.len()
            )));
        }
        let mut out: Vec<u8> = Vec::with_capacity(buf.len().min(64 * 1024));
        let mut packet = Vec::with_capacity(psize);
        let mut timer = start;
        loop {
            if c.usb.gone {
                return Err(UsbError::Disconnected);
            }
            c.run();
            if buf.len() - out.len() < psize {
                break;
            }
            if c.packet_due(psize - MODEM_STATUS.len(), timer) {
                let len = c.emit_packet(psize, &mut packet, &mut out);
                timer = Instant::now();
                self.notify();
                if len < psize {
                    break; // a short packet ends the transfer
                }
                continue;
            }
            let wake = (timer + c.usb.latency).min(deadline);
            let (g, timed_out) = self.wait_until(c, wake);
            c = g;
            if timed_out && Instant::now() >= deadline {
                if out.is_empty() {
                    return Err(UsbError::Timeout);
                }
                break;
            }
        }
        c.counters.in_transfers += 1;
        c.counters.bytes_in += out.len() as u64;
        drop(c);
        buf[..out.len()].copy_from_slice(&out);
        Ok(out.len())
    }

    fn max_packet_size(&self) -> usize {
        self.lock().usb.packet_size
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{mpsse_chip, read_payload, T};
    use super::*;

    #[test]
    fn status_only_packet_after_latency_when_idle() {
        let chip = mpsse_chip();
        let mut buf = [0u8; 512];
        assert_eq!(chip.read_bulk(&mut buf, T).unwrap(), 2);
        assert_eq!(&buf[..2], &MODEM_STATUS);
    }

    #[test]
    fn writing_without_reading_stalls_like_hardware() {
        let chip = mpsse_chip();
        chip.write_bulk(&[0x80, 0x00, 0x0B], T).unwrap();
        // 4 KiB of read-write byte data: the reply FIFO fills, then the command FIFO.
        let mut cmd = vec![0x39, 0xFF, 0x0F];
        cmd.extend(std::iter::repeat_n(0u8, 4096));
        let err = chip.write_bulk(&cmd, Duration::from_millis(50));
        assert_eq!(err, Err(UsbError::Timeout));
    }

    #[test]
    fn overlapped_reader_lets_long_streams_through() {
        let chip = mpsse_chip();
        chip.write_bulk(&[0x80, 0x00, 0x0B], T).unwrap();
        let n = 100_000;
        let mut cmd = Vec::new();
        for chunk in 0..(n / 50_000) {
            let _ = chunk;
            cmd.extend_from_slice(&[0x39, 0x4F, 0xC3]); // 50_000 bytes
            cmd.extend(std::iter::repeat_n(0u8, 50_000));
        }
        cmd.push(0x87);
        let reader = chip.clone();
        let got = std::thread::scope(|s| {
            let h = s.spawn(move || read_payload(&reader, n));
            chip.write_bulk(&cmd, T).unwrap();
            h.join().unwrap()
        });
        assert_eq!(got.len(), n);
        assert_eq!(chip.counters().turnarounds, 2);
    }

    #[test]
    fn unplug_mid_write_and_reply_faults() {
        let chip = mpsse_chip();
        chip.unplug_after_out_bytes(2);
        assert_eq!(
            chip.write_bulk(&[0xAA, 0x87, 0xAA], T),
            Err(UsbError::Disconnected)
        );
        let mut buf = [0; 512];
        assert_eq!(chip.read_bulk(&mut buf, T), Err(UsbError::Disconnected));
        assert_eq!(
            chip.control_out(request::RESET, 0, 1, T),
            Err(UsbError::Disconnected)
        );

        let chip = mpsse_chip();
        chip.corrupt_reply(ReplyFault::Drop { at: 0 });
        chip.write_bulk(&[0xAA, 0xAB, 0x87], T).unwrap();
        assert_eq!(read_payload(&chip, 3), [0xAA, 0xFA, 0xAB]);

        let chip = mpsse_chip();
        chip.time_out_reads(1);
        let t0 = Instant::now();
        assert_eq!(
            chip.read_bulk(&mut buf, Duration::from_millis(30)),
            Err(UsbError::Timeout)
        );
        assert!(t0.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn eeprom_writes_are_counted() {
        let chip = mpsse_chip();
        chip.control_out(request::WRITE_EEPROM, 0, 0, T).unwrap();
        assert_eq!(chip.counters().eeprom_writes, 1);
    }

    /// What Linux's ftdi_sio sends at probe and open: EEPROM reads at word addresses and a
    /// baud rate with divisor bits in wIndex's high byte. A real chip answers both.
    #[test]
    fn eeprom_addresses_and_baud_divisor_bits_are_not_interfaces() {
        let chip = mpsse_chip();
        let mut word = [0u8; 2];
        assert_eq!(
            chip.control_in(request::READ_EEPROM, 0, 0x1A, &mut word, T),
            Ok(2)
        );
        chip.control_out(request::SET_BAUD_RATE, 0x4138, 0x0201, T)
            .unwrap();
        assert!(chip
            .control_out(request::SET_LATENCY_TIMER, 1, 2, T)
            .is_err());
    }
}
