//! FTDI device control over a [`UsbTransport`], and [`FtdiCable`]: the JTAG cable built on it.
//!
//! This is the I/O edge around the pure [`mpsse`] encoder: vendor
//! requests (reset, purge, latency timer, MPSSE mode), the sync check with an invalid opcode,
//! the per-profile MPSSE setup, TCK divisor changes, and the bulk transfers of each shift.
//!
//! Transfers: every IN packet starts with two modem-status bytes, stripped per packet (packet
//! size from the endpoint). Reads ask for exactly the packets the expected reply fills, so the
//! chip's send-immediate ends the transfer at once instead of a latency period later. The
//! FT232H buffers only 1 KiB of reply and stalls its MPSSE engine while that is full, so when a
//! reply can exceed it a reader thread drains the chip while the writer writes: a shift costs
//! one host turnaround however long it is.
//!
//! Errors are typed by what the caller should do: [`FtdiError::Gone`] (unplugged: stop),
//! [`FtdiError::Timeout`] (no answer: reopen may help), [`FtdiError::Desync`] (the reply does
//! not match the commands: resynchronise). Through the [`Cable`] trait each becomes the
//! matching [`CableError`], with the `FtdiError` (and under it the [`UsbError`]) as its
//! source. The EEPROM is never written.

use crate::ftdi::chip::{self, bitmode, op, pin, request};
use crate::ftdi::clock::{self, TckSetting};
use crate::ftdi::mpsse::{self, DecodeError, Edge, Encoder, Plan};
use crate::ftdi::profiles::{Profile, TdoEdge};
use crate::ftdi::transport::{UsbError, UsbTransport};
use crate::jtag::{check_vectors, Cable, CableError, Cause};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Replies up to this size are read after the whole command stream is written: the chip can
/// hold them (64 bytes of its reply FIFO stay as margin). Longer ones are read concurrently
/// with the write.
const SEQUENTIAL_REPLY_LIMIT: usize = chip::TX_FIFO - 64;

/// Largest single bulk read.
const MAX_READ: usize = 64 * 1024;

/// Failures of the FTDI layer: what the driver saw. Under a [`CableError`] it is the
/// cause, so each message reads as the detail of the cable error's (`cable timed out:
/// waiting for a 6-byte reply`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FtdiError {
    /// The device went away.
    #[error("cable disconnected")]
    Gone,
    /// The device did not answer in time.
    #[error("{0}")]
    Timeout(Stage),
    /// The reply does not match the commands sent.
    #[error(transparent)]
    Desync(#[from] Desync),
    /// Any other USB failure.
    #[error("USB error {stage}: {source}")]
    Usb {
        stage: Stage,
        #[source]
        source: UsbError,
    },
}

impl FtdiError {
    fn usb(stage: Stage, e: UsbError) -> FtdiError {
        match e {
            UsbError::Disconnected => FtdiError::Gone,
            UsbError::Timeout => FtdiError::Timeout(stage),
            source => FtdiError::Usb { stage, source },
        }
    }
}

/// What the driver was doing when the chip failed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Reset,
    Purge,
    LatencyTimer,
    BitModeReset,
    EnterMpsse,
    WriteCommands,
    /// Waiting for a reply of this many bytes.
    AwaitReply(usize),
    ReadReply,
    StartReader,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Reset => "resetting the chip",
            Stage::Purge => "purging",
            Stage::LatencyTimer => "setting the latency timer",
            Stage::BitModeReset => "resetting the bit mode",
            Stage::EnterMpsse => "entering MPSSE mode",
            Stage::WriteCommands => "writing commands",
            Stage::AwaitReply(n) => return write!(f, "waiting for a {n}-byte reply"),
            Stage::ReadReply => "reading the reply",
            Stage::StartReader => "starting the reply reader",
        })
    }
}

/// How the chip's replies and the commands sent fell out of step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Desync {
    #[error("sync check: sent invalid opcode {sent:02X}, chip answered {got:02X?}")]
    SyncCheck { sent: u8, got: [u8; 2] },
    #[error("MPSSE setup: expected [FA, AB], chip answered {got:02X?}")]
    Setup { got: [u8; 2] },
    #[error("reply stopped after {got} of {want} bytes")]
    ReplyStopped { got: usize, want: usize },
    #[error("chip sent {extra} bytes more than the {want} expected")]
    ReplyTooLong { extra: usize, want: usize },
    #[error("{len}-byte packet without modem status")]
    NoModemStatus { len: usize },
    #[error("reply read abandoned")]
    ReadAbandoned,
    #[error("reply reader failed unexpectedly")]
    ReaderFailed,
    /// The reply has the expected length but not the expected shape.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl From<FtdiError> for CableError {
    fn from(e: FtdiError) -> Self {
        match e {
            FtdiError::Gone => CableError::Gone,
            FtdiError::Timeout(_) => CableError::Timeout(Cause::new(e)),
            FtdiError::Desync(_) => CableError::Desync(Cause::new(e)),
            FtdiError::Usb { .. } => CableError::Io(Cause::new(e)),
        }
    }
}

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

/// How to open an [`FtdiCable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CableOptions {
    /// TDO sampling edge (`None`: the profile's default).
    pub tdo_edge: Option<TdoEdge>,
    /// Latency timer in ms (1–2 keeps partial packets from waiting).
    pub latency_ms: u8,
    /// Initial TCK period (`None`: the profile's fastest clock).
    pub period_ns: Option<u32>,
    /// Highest TCK to allow (`None`: the profile's), e.g. from a `max_frequency` setting.
    pub max_tck_hz: Option<u64>,
    pub timeouts: Timeouts,
}

impl Default for CableOptions {
    fn default() -> Self {
        CableOptions {
            tdo_edge: None,
            latency_ms: 2,
            period_ns: None,
            max_tck_hz: None,
            timeouts: Timeouts::default(),
        }
    }
}

/// A JTAG cable on an FTDI MPSSE chip: the production [`Cable`].
pub struct FtdiCable<T: UsbTransport> {
    dev: FtdiDevice<T>,
    profile: Profile,
    edge_option: TdoEdge,
    max_tck_hz: u64,
    tck: TckSetting,
    encoder: Encoder,
    cmd: Vec<u8>,
    plan: Plan,
    reply: Vec<u8>,
    /// Set when a transfer failed: the chip and the encoder may disagree on pin levels, so the
    /// next shift resynchronises first.
    needs_resync: bool,
    gone: bool,
}

impl<T: UsbTransport> std::fmt::Debug for FtdiCable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtdiCable")
            .field("profile", &self.profile.name)
            .field("tck", &self.tck)
            .field("edge", &self.encoder.edge())
            .finish_non_exhaustive()
    }
}

impl<T: UsbTransport> FtdiCable<T> {
    /// Opens and initialises a cable with default options and the given TDO edge.
    pub fn open(usb: T, profile: &Profile, tdo_edge: TdoEdge) -> Result<Self, FtdiError> {
        Self::open_with(
            usb,
            profile,
            CableOptions {
                tdo_edge: Some(tdo_edge),
                ..CableOptions::default()
            },
        )
    }

    /// Opens and initialises a cable: reset, purge, latency timer, MPSSE mode, sync check,
    /// then the profile's pins and clock.
    pub fn open_with(usb: T, profile: &Profile, options: CableOptions) -> Result<Self, FtdiError> {
        let max_tck_hz = options
            .max_tck_hz
            .map_or(profile.max_tck_hz, |m| m.min(profile.max_tck_hz));
        let tck = clock::setting_for_period(options.period_ns.unwrap_or(0), max_tck_hz);
        let edge_option = options.tdo_edge.unwrap_or(profile.default_tdo_edge);
        let mut cable = FtdiCable {
            dev: FtdiDevice::new(usb, profile.interface, options.timeouts),
            profile: *profile,
            edge_option,
            max_tck_hz,
            tck,
            encoder: Encoder::new(edge_option.resolve(hz_for(tck))),
            cmd: Vec::new(),
            plan: Plan::default(),
            reply: Vec::new(),
            needs_resync: false,
            gone: false,
        };
        cable.dev.reset()?;
        cable.dev.set_latency_timer(options.latency_ms)?;
        cable.dev.enter_mpsse()?;
        cable.dev.purge()?;
        cable.initialise_mpsse()?;
        Ok(cable)
    }

    /// Sync check, then pins and clock; leaves the encoder in step with the chip.
    fn initialise_mpsse(&mut self) -> Result<(), FtdiError> {
        self.dev.sync(op::ECHO)?;
        let gpio = self.profile.gpio;
        let mut cmd = mpsse::init_commands(gpio, self.profile.writes_high, self.tck.divisor);
        // A second, different invalid opcode proves every setup byte was taken as a command.
        cmd.extend_from_slice(&[op::ECHO_2, op::SEND_IMMEDIATE]);
        let mut reply = [0u8; 2];
        self.dev.transfer(&cmd, &mut reply, Duration::ZERO)?;
        if reply != [op::BAD_COMMAND, op::ECHO_2] {
            return Err(Desync::Setup { got: reply }.into());
        }
        self.encoder = Encoder::new(self.edge_option.resolve(hz_for(self.tck)));
        self.encoder.set_tms_pin(gpio.low.value & pin::TMS != 0);
        Ok(())
    }

    /// After a failed transfer: empty the FIFOs and set the chip up again. The TAP position
    /// is whatever the last clocked bits made it; the client walks it from there.
    fn resync(&mut self) -> Result<(), FtdiError> {
        self.dev.purge()?;
        self.initialise_mpsse()?;
        self.needs_resync = false;
        Ok(())
    }

    pub fn transport(&self) -> &T {
        self.dev.transport()
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The TCK period in effect, ns.
    pub fn tck_period_ns(&self) -> u32 {
        self.tck.period_ns
    }

    /// The TDO edge in effect.
    pub fn tdo_edge(&self) -> Edge {
        self.encoder.edge()
    }

    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.dev.set_timeouts(timeouts);
    }

    fn check_usable(&mut self) -> Result<(), FtdiError> {
        if self.gone {
            return Err(FtdiError::Gone);
        }
        if self.needs_resync {
            self.resync().inspect_err(|e| self.note_failure(e))?;
        }
        Ok(())
    }

    fn note_failure(&mut self, e: &FtdiError) {
        match e {
            FtdiError::Gone => self.gone = true,
            _ => self.needs_resync = true,
        }
    }

    /// Clocks one shift (see [`Cable::shift`], which has checked the vectors' lengths).
    fn shift_bits(
        &mut self,
        nbits: u32,
        tms: &[u8],
        tdi: &[u8],
        tdo: &mut [u8],
    ) -> Result<(), FtdiError> {
        self.check_usable()?;
        if nbits == 0 {
            return Ok(());
        }
        self.cmd.clear();
        self.encoder
            .encode(nbits, tms, tdi, &mut self.cmd, &mut self.plan);
        // The chip parses the stream into the replies the plan decodes.
        debug_assert_eq!(chip::reply_len(&self.cmd), Some(self.plan.reply_len()));
        self.reply.clear();
        self.reply.resize(self.plan.reply_len(), 0);
        let clocked = Duration::from_nanos(u64::from(nbits) * u64::from(self.tck.period_ns) * 2);
        let result = self
            .dev
            .transfer(&self.cmd, &mut self.reply, clocked)
            .and_then(|()| {
                mpsse::decode(&self.plan, &self.reply, tdo).map_err(|e| Desync::from(e).into())
            });
        self.trim_buffers();
        tracing::trace!(
            nbits,
            command_bytes = self.cmd.len(),
            reply_bytes = self.reply.len(),
            ok = result.is_ok(),
            "shift"
        );
        result.inspect_err(|e| self.note_failure(e))
    }

    /// Gives back memory a long shift grew, once shifts are small again: an idle cable keeps
    /// little, while a stream of long shifts reuses its buffers without reallocating.
    fn trim_buffers(&mut self) {
        const KEEP: usize = 64 * 1024;
        for buf in [&mut self.cmd, &mut self.reply] {
            if buf.capacity() > KEEP && buf.capacity() > 4 * buf.len() {
                buf.shrink_to(KEEP.max(buf.len()));
            }
        }
    }

    /// Sets the TCK period (see [`Cable::set_tck_period`]).
    fn set_tck(&mut self, period_ns: u32) -> Result<u32, FtdiError> {
        self.check_usable()?;
        let tck = clock::setting_for_period(period_ns, self.max_tck_hz);
        if tck != self.tck {
            self.dev
                .write(&mpsse::divisor_command(tck.divisor))
                .inspect_err(|e| self.note_failure(e))?;
            self.tck = tck;
            self.encoder.set_edge(self.edge_option.resolve(hz_for(tck)));
        }
        Ok(tck.period_ns)
    }
}

/// The TCK frequency of a setting, Hz.
fn hz_for(tck: TckSetting) -> u64 {
    clock::BASE_TCK_HZ / (u64::from(tck.divisor) + 1)
}

impl<T: UsbTransport> Cable for FtdiCable<T> {
    fn shift(
        &mut self,
        nbits: u32,
        tms: &[u8],
        tdi: &[u8],
        tdo: &mut [u8],
    ) -> Result<(), CableError> {
        check_vectors(nbits, tms, tdi, tdo)?;
        self.shift_bits(nbits, tms, tdi, tdo).map_err(Into::into)
    }

    fn set_tck_period(&mut self, period_ns: u32) -> Result<u32, CableError> {
        self.set_tck(period_ns).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftdi::chip::{Gpio, Port};
    use crate::ftdi::profiles::HS2;
    use crate::sim::ft232h::Ft232h;
    use crate::sim::JtagChain;
    use std::sync::Mutex;

    /// Records what the driver sends, passing everything on to the emulator.
    #[derive(Default)]
    struct Log {
        controls: Vec<(u8, u16, u16)>,
        writes: Vec<Vec<u8>>,
    }

    struct Recorder {
        chip: Ft232h,
        log: Mutex<Log>,
    }

    impl UsbTransport for Recorder {
        fn control_out(&self, r: u8, v: u16, i: u16, t: Duration) -> Result<(), UsbError> {
            self.log.lock().unwrap().controls.push((r, v, i));
            self.chip.control_out(r, v, i, t)
        }
        fn control_in(
            &self,
            r: u8,
            v: u16,
            i: u16,
            b: &mut [u8],
            t: Duration,
        ) -> Result<usize, UsbError> {
            self.chip.control_in(r, v, i, b, t)
        }
        fn write_bulk(&self, d: &[u8], t: Duration) -> Result<usize, UsbError> {
            self.log.lock().unwrap().writes.push(d.to_vec());
            self.chip.write_bulk(d, t)
        }
        fn read_bulk(&self, b: &mut [u8], t: Duration) -> Result<usize, UsbError> {
            self.chip.read_bulk(b, t)
        }
        fn max_packet_size(&self) -> usize {
            self.chip.max_packet_size()
        }
    }

    fn recorded_hs2() -> FtdiCable<Recorder> {
        let rec = Recorder {
            chip: Ft232h::hs2(JtagChain::xc7a35t()),
            log: Mutex::default(),
        };
        FtdiCable::open(rec, &HS2, TdoEdge::Rising).unwrap()
    }

    #[test]
    fn hs2_init_golden_bytes() {
        let cable = recorded_hs2();
        let log = cable.transport().log.lock().unwrap();
        assert_eq!(
            log.controls,
            [
                (0x00, 0x0000, 1), // reset
                (0x09, 2, 1),      // latency timer 2 ms
                (0x0B, 0x0000, 1), // bit mode reset
                (0x0B, 0x020B, 1), // MPSSE
                (0x00, 1, 1),      // purge host->chip
                (0x00, 2, 1),      // purge chip->host
            ]
        );
        assert_eq!(
            log.writes,
            [
                vec![0xAA, 0x87],
                vec![
                    0x8A, 0x97, 0x8D, 0x85, 0x80, 0xE8, 0xEB, 0x82, 0x00, 0x60, 0x86, 0x00, 0x00,
                    0xAB, 0x87
                ],
            ]
        );
        let chip = &cable.transport().chip;
        assert!(chip.is_mpsse());
        assert_eq!(chip.gpio(), ((0xE8, 0xEB), (0x00, 0x60)));
        assert_eq!(chip.counters().eeprom_writes, 0);
    }

    #[test]
    fn reads_idcode_and_settck_returns_real_period() {
        let mut cable = recorded_hs2();
        // TLR, RTI, Select-DR, Capture-DR, Shift-DR, 32 bits.
        let mut tms = vec![0u8; 6];
        for i in [0, 1, 2, 3, 4, 6] {
            tms[i / 8] |= 1 << (i % 8);
        }
        let tdi = vec![0u8; 6];
        let mut tdo = vec![0u8; 6];
        cable.shift(41, &tms, &tdi, &mut tdo).unwrap();
        let bits: u64 = u64::from_le_bytes([tdo[0], tdo[1], tdo[2], tdo[3], tdo[4], tdo[5], 0, 0]);
        assert_eq!((bits >> 9) as u32, 0x0362_D093);
        assert_eq!(cable.set_tck_period(100).unwrap(), 100);
        assert_eq!(cable.transport().chip.divisor(), 2);
        assert_eq!(cable.set_tck_period(101).unwrap(), 133);
        assert_eq!(cable.set_tck_period(1).unwrap(), 33);
        let last = cable.transport().log.lock().unwrap().writes.last().cloned();
        assert_eq!(last, Some(vec![0x86, 0x00, 0x00]));
    }

    #[test]
    fn auto_edge_follows_the_clock() {
        let chip = Ft232h::hs2(JtagChain::xc7a35t());
        let mut cable = FtdiCable::open(chip, &HS2, TdoEdge::Auto).unwrap();
        assert_eq!(cable.tdo_edge(), Edge::Falling);
        cable.set_tck_period(100).unwrap();
        assert_eq!(cable.tdo_edge(), Edge::Rising);
        cable.set_tck_period(66).unwrap();
        assert_eq!(cable.tdo_edge(), Edge::Falling);
    }

    #[test]
    fn wrong_pin_setup_is_visible_to_the_emulator() {
        // With ACBUS5/6 high the HS2's JTAG buffers are off: TDO reads all ones.
        let chip = Ft232h::hs2(JtagChain::xc7a35t());
        let bad = Profile {
            gpio: Gpio {
                high: Port::new(0x60, HS2.gpio.high.dir),
                ..HS2.gpio
            },
            ..HS2
        };
        let mut cable = FtdiCable::open(chip, &bad, TdoEdge::Rising).unwrap();
        let mut tdo = [0u8; 6];
        cable
            .shift(41, &[0x5F, 0, 0, 0, 0, 0], &[0; 6], &mut tdo)
            .unwrap();
        assert_eq!(tdo, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
    }

    #[test]
    fn errors_chain_down_to_the_usb_error() {
        use std::error::Error;
        let e = CableError::from(FtdiError::usb(Stage::WriteCommands, UsbError::Busy));
        assert_eq!(
            e.to_string(),
            "cable I/O error: USB error writing commands: USB device busy (claimed by another program)"
        );
        let ftdi = e.source().expect("the FTDI error");
        let usb = ftdi.source().expect("the USB error");
        assert_eq!(usb.to_string(), UsbError::Busy.to_string());
        let CableError::Io(cause) = &e else {
            panic!("{e:?}")
        };
        assert!(matches!(
            cause.downcast_ref::<FtdiError>(),
            Some(FtdiError::Usb {
                stage: Stage::WriteCommands,
                source: UsbError::Busy
            })
        ));

        let chip = Ft232h::hs2(JtagChain::xc7a35t());
        let mut cable = FtdiCable::open(chip.clone(), &HS2, TdoEdge::Rising).unwrap();
        cable.set_timeouts(Timeouts {
            control: Duration::from_millis(100),
            io: Duration::from_millis(50),
        });
        chip.time_out_reads(1);
        let e = cable.shift(8, &[0], &[0], &mut [0]).unwrap_err();
        assert!(
            e.to_string().starts_with("cable timed out: waiting for a "),
            "{e}"
        );
        assert!(matches!(e, CableError::Timeout(ref c)
            if matches!(c.downcast_ref(), Some(FtdiError::Timeout(Stage::AwaitReply(_))))));
        let e = cable.shift(9, &[0], &[0; 2], &mut [0; 2]).unwrap_err();
        assert!(matches!(e, CableError::InvalidRequest(_)), "{e}");
    }
}
