//! A whole FTDI high-speed chip — FT232H, FT2232H or FT4232H — as one USB device: one
//! EEPROM, one control endpoint that addresses channels by wIndex, and per channel its own
//! vendor-request state, FIFOs, MPSSE engine and pins.
//!
//! Exists because boards put more than JTAG on the chip: channel A of a Nexys Video is a FIFO
//! to the FPGA with JTAG on B, an FT4232H carries three UARTs beside JTAG, and the Xilinx
//! boards wire resets to the JTAG channel's spare pins. A host that picks the wrong channel or
//! drives the wrong pin harms those circuits; this emulator records each such act as a
//! [`Fault`] so tests can prove it never happens.
//!
//! Each channel is the single-channel emulator ([`Ft232h`]) with its own wiring: the TAP
//! answers only on the board's JTAG channel while that channel's enables hold. Channels not in
//! MPSSE mode are UARTs with TX wired to RX, so a serial driver sees its bytes come back. A
//! [`FtdiChannel`] handle is what a driver claims: control requests go wherever their wIndex
//! says (as on the real chip, whose control endpoint is shared), bulk transfers go to the
//! handle's channel.

pub mod faults;

pub use faults::{ChannelUse, Fault};

use crate::ftdi::chip::{self, bitmode, request};
use crate::ftdi::identify::eeprom::{Chip, IMAGE_LEN};
use crate::ftdi::transport::{UsbError, UsbTransport};
use crate::sim::chain::JtagChain;
use crate::sim::ft232h::{Ft232h, Wiring};
use parking_lot::{Mutex, MutexGuard};
use std::sync::Arc;
use std::time::Duration;

/// What the device remembers across channels.
#[derive(Default)]
struct State {
    faults: Vec<Fault>,
    eeprom_writes: u64,
    /// Per channel: pins made outputs by a bit-bang mode's mask.
    bitbang_out: Vec<u8>,
}

struct Inner {
    chip: Chip,
    uses: Vec<ChannelUse>,
    channels: Vec<Ft232h>,
    jtag: usize,
    image: [u8; IMAGE_LEN],
    state: Mutex<State>,
}

/// An emulated multi-channel FTDI chip. Clones share the device.
#[derive(Clone)]
pub struct FtdiDevice {
    inner: Arc<Inner>,
}

/// One channel of an [`FtdiDevice`], as a driver holds it after claiming its interface.
#[derive(Clone)]
pub struct FtdiChannel {
    inner: Arc<Inner>,
    channel: u8,
}

impl std::fmt::Debug for FtdiDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtdiDevice")
            .field("chip", &self.inner.chip)
            .field("faults", &self.faults())
            .finish_non_exhaustive()
    }
}

impl FtdiDevice {
    /// A `chip` whose channels are used as `uses` says (one per channel), with `image` as its
    /// EEPROM and `chain` behind the channel whose use is [`ChannelUse::Jtag`] (behind no pin
    /// at all when no channel is).
    ///
    /// # Panics
    /// When `uses` does not name one use per channel, or names more than one JTAG channel.
    pub fn new(chip: Chip, uses: &[ChannelUse], image: [u8; IMAGE_LEN], chain: JtagChain) -> Self {
        assert_eq!(
            uses.len(),
            usize::from(chip.interfaces()),
            "one use per channel"
        );
        let jtag: Vec<usize> = (0..uses.len())
            .filter(|&i| matches!(uses[i], ChannelUse::Jtag { .. }))
            .collect();
        assert!(jtag.len() <= 1, "one JTAG channel at most");
        let jtag_at = jtag.first().copied();
        let mut chain = Some(chain);
        let channels = uses
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let (wiring, c) = match u {
                    ChannelUse::Jtag { enables, .. } => (*enables, chain.take()),
                    _ if jtag_at.is_none() && i == 0 => (Wiring::NO_TAP, chain.take()),
                    _ => (Wiring::NO_TAP, None),
                };
                let core = Ft232h::with_wiring(c.unwrap_or_else(|| JtagChain::new(&[])), wiring);
                core.set_uart_loopback(true);
                core
            })
            .collect();
        FtdiDevice {
            inner: Arc::new(Inner {
                chip,
                uses: uses.to_vec(),
                channels,
                jtag: jtag_at.unwrap_or(0),
                image,
                state: Mutex::new(State {
                    bitbang_out: vec![0; uses.len()],
                    ..State::default()
                }),
            }),
        }
    }

    pub fn chip(&self) -> Chip {
        self.inner.chip
    }

    /// The handle of channel `channel` (0 = A).
    ///
    /// # Panics
    /// When the chip has no such channel.
    pub fn channel(&self, channel: u8) -> FtdiChannel {
        assert!(
            channel < self.inner.chip.interfaces(),
            "no channel {channel}"
        );
        FtdiChannel {
            inner: self.inner.clone(),
            channel,
        }
    }

    /// Every channel's handle, A first.
    pub fn channels(&self) -> Vec<FtdiChannel> {
        (0..self.inner.chip.interfaces())
            .map(|c| self.channel(c))
            .collect()
    }

    /// The single-channel engine behind channel `channel`, for its read-outs (mode, pins,
    /// counters).
    pub fn core(&self, channel: u8) -> &Ft232h {
        &self.inner.channels[usize::from(channel)]
    }

    /// Everything the host did that would harm the board, in order, each once.
    pub fn faults(&self) -> Vec<Fault> {
        self.inner.lock().faults.clone()
    }

    /// EEPROM write and erase requests received.
    pub fn eeprom_writes(&self) -> u64 {
        self.inner.lock().eeprom_writes
    }

    /// The EEPROM image the chip answers READ_EEPROM from.
    pub fn eeprom(&self) -> &[u8; IMAGE_LEN] {
        &self.inner.image
    }

    /// Runs `f` on the JTAG chain.
    pub fn with_chain<R>(&self, f: impl FnOnce(&JtagChain) -> R) -> R {
        self.inner.channels[self.inner.jtag].with_chain(f)
    }

    /// Unplugs the whole device.
    pub fn unplug(&self) {
        self.inner.channels.iter().for_each(Ft232h::unplug);
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    fn record(&self, fault: Fault) {
        let mut s = self.lock();
        if !s.faults.contains(&fault) {
            s.faults.push(fault);
        }
    }

    /// The channel a vendor request's wIndex names: its low byte, counting from 1 (0 is
    /// taken as A, as by the chip).
    fn addressed(&self, index: u16) -> Result<u8, UsbError> {
        let n = (index & 0xFF) as u8;
        let channel = n.saturating_sub(1);
        if channel < self.chip.interfaces() {
            Ok(channel)
        } else {
            Err(UsbError::Other(format!(
                "no channel for wIndex {index:#06x}"
            )))
        }
    }

    /// wIndex as the channel's own engine expects it (its one interface, high byte kept).
    fn core_index(index: u16) -> u16 {
        index & 0xFF00 | chip::interface_index(0)
    }

    fn uart_only(&self, channel: u8) -> bool {
        self.chip == Chip::Ft4232h && channel >= 2
    }

    /// Records the faults of what channel `channel` has done so far.
    fn check(&self, channel: u8) {
        let core = &self.channels[usize::from(channel)];
        let usage = self.uses[usize::from(channel)];
        let (low, high) = core.outputs_ever();
        let bitbang = self.lock().bitbang_out[usize::from(channel)];
        for f in faults::pin_faults(channel, usage, low | bitbang, high) {
            self.record(f);
        }
        if !self.chip.has_high_byte() && core.counters().high_byte_commands > 0 {
            self.record(Fault::NoHighByte { channel });
        }
    }

    /// SET_BITMODE: faults, bit-bang outputs; false when the chip ignores the request.
    fn set_bitmode(&self, channel: u8, value: u16) -> bool {
        let usage = self.uses[usize::from(channel)];
        let uart_only = self.uart_only(channel);
        if let Some(f) = faults::bitmode_fault(channel, usage, uart_only, value) {
            self.record(f);
        }
        let mode = bitmode::mode_of(value);
        if mode != bitmode::RESET && mode != bitmode::MPSSE {
            self.lock().bitbang_out[usize::from(channel)] |= value as u8;
        }
        !(uart_only && mode == bitmode::MPSSE)
    }
}

impl FtdiChannel {
    pub fn channel(&self) -> u8 {
        self.channel
    }

    fn core(&self) -> &Ft232h {
        &self.inner.channels[usize::from(self.channel)]
    }
}

impl UsbTransport for FtdiChannel {
    fn control_out(
        &self,
        req: u8,
        value: u16,
        index: u16,
        timeout: Duration,
    ) -> Result<(), UsbError> {
        let inner = &self.inner;
        if matches!(req, request::WRITE_EEPROM | request::ERASE_EEPROM) {
            inner.lock().eeprom_writes += 1;
            inner.record(Fault::EepromWrite {
                request: req,
                index,
            });
            return Ok(());
        }
        let channel = inner.addressed(index)?;
        if req == request::SET_BITMODE && !inner.set_bitmode(channel, value) {
            inner.check(channel);
            return Ok(());
        }
        let core = &inner.channels[usize::from(channel)];
        let result = core.control_out(req, value, Inner::core_index(index), timeout);
        inner.check(channel);
        result
    }

    fn control_in(
        &self,
        req: u8,
        value: u16,
        index: u16,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, UsbError> {
        let inner = &self.inner;
        if req == request::READ_EEPROM {
            let at = 2 * usize::from(index);
            let word = inner.image.get(at..at + 2).unwrap_or(&[0xFF, 0xFF]);
            let n = buf.len().min(2);
            buf[..n].copy_from_slice(&word[..n]);
            return Ok(n);
        }
        let channel = inner.addressed(index)?;
        let core = &inner.channels[usize::from(channel)];
        core.control_in(req, value, Inner::core_index(index), buf, timeout)
    }

    fn write_bulk(&self, data: &[u8], timeout: Duration) -> Result<usize, UsbError> {
        let result = self.core().write_bulk(data, timeout);
        self.inner.check(self.channel);
        result
    }

    fn read_bulk(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, UsbError> {
        self.core().read_bulk(buf, timeout)
    }

    fn max_packet_size(&self) -> usize {
        self.core().max_packet_size()
    }
}

#[cfg(test)]
mod tests;
