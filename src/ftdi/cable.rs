//! [`FtdiCable`]: a JTAG [`Cable`] on one FTDI channel in MPSSE mode. Opens the channel with
//! a profile's pins and clock, turns each shift into one command stream with the pure
//! [`mpsse`] encoder, moves it through its [`FtdiDevice`] in one round trip, and decodes the
//! reply into TDO; resynchronises after a failed transfer.

use crate::ftdi::chip::{self, op, pin};
use crate::ftdi::clock::{self, TckSetting};
use crate::ftdi::device::{FtdiDevice, Timeouts};
use crate::ftdi::error::{Desync, FtdiError};
use crate::ftdi::mpsse::{self, Edge, Encoder, Plan};
use crate::ftdi::profiles::{Profile, TdoEdge};
use crate::ftdi::transport::UsbTransport;
use crate::jtag::{check_vectors, Cable, CableError};
use std::time::Duration;

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
    use crate::ftdi::error::Stage;
    use crate::ftdi::profiles::HS2;
    use crate::ftdi::transport::UsbError;
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
