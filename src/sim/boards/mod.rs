//! Simulated boards: an FTDI device emulator ([`FtdiDevice`]) set up as one row of the
//! agent's board table would find it — the row's chip, its EEPROM image, its USB strings, the
//! TAP on the channel the board's documentation puts it on behind the enables it needs, and
//! the board's other circuits (DPTI FIFO, resets, an instrument) guarded by faults.
//!
//! Exists so the agent's board identification and channel/pin choices are tested against a
//! model of each board written independently of its table ([`wiring`]), from the same
//! sources the table cites.

pub mod images;
pub mod wiring;

use crate::ftdi::chip;
use crate::ftdi::identify::boards::{self, Board, Key};
use crate::ftdi::identify::eeprom::Chip;
use crate::sim::chain::JtagChain;
use crate::sim::ftdi_device::{ChannelUse, Fault, FtdiChannel, FtdiDevice};
use crate::sim::usb_pipe::{PipeDevice, PipeIdentity, PipeInterface};
pub use wiring::BoardWiring;

/// Why a board cannot be simulated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimBoardError {
    #[error("no board named {0:?} (see `xvc-agent` board table)")]
    UnknownBoard(String),
    #[error("board {0:?} has no wiring model in the simulator")]
    NoWiring(String),
}

/// One simulated board. Clones share the device.
#[derive(Clone, Debug)]
pub struct SimBoard {
    row: &'static Board,
    wiring: &'static BoardWiring,
    serial: String,
    device: FtdiDevice,
}

impl SimBoard {
    /// Board row `name` with USB serial `serial` (the row's fixed serial instead, for boards
    /// whose every unit carries the same one) and `chain` behind its JTAG channel.
    pub fn new(name: &str, serial: &str, chain: JtagChain) -> Result<Self, SimBoardError> {
        let index = boards::BOARDS
            .iter()
            .position(|b| b.name == name)
            .ok_or_else(|| SimBoardError::UnknownBoard(name.into()))?;
        let row = &boards::BOARDS[index];
        let wiring = wiring::by_name(name).ok_or_else(|| SimBoardError::NoWiring(name.into()))?;
        let uses = channel_uses(row.chip, wiring);
        let device = FtdiDevice::new(row.chip, &uses, images::image_for(row, index), chain);
        Ok(SimBoard {
            row,
            wiring,
            serial: row.fixed_serial.unwrap_or(serial).to_string(),
            device,
        })
    }

    /// The board row simulated.
    pub fn row(&self) -> &'static Board {
        self.row
    }

    /// The simulator's own model of the board's wiring.
    pub fn wiring(&self) -> &'static BoardWiring {
        self.wiring
    }

    pub fn device(&self) -> &FtdiDevice {
        &self.device
    }

    /// The handle of channel `channel` (0 = A).
    pub fn channel(&self, channel: u8) -> FtdiChannel {
        self.device.channel(channel)
    }

    /// The channel the TAP is on, if any is reachable.
    pub fn jtag_channel(&self) -> Option<u8> {
        self.wiring.jtag
    }

    /// Everything done to the board that would harm it.
    pub fn faults(&self) -> Vec<Fault> {
        self.device.faults()
    }

    /// Runs `f` on the JTAG chain.
    pub fn with_chain<R>(&self, f: impl FnOnce(&JtagChain) -> R) -> R {
        self.device.with_chain(f)
    }

    /// The USB descriptors' facts: ids and strings.
    pub fn usb_identity(&self) -> PipeIdentity {
        let chip = self.row.chip;
        let (manufacturer, product) = usb_strings(self.row);
        PipeIdentity {
            vid: chip::VID,
            pid: chip.pid(),
            bcd_device: chip.bcd_device(),
            manufacturer: manufacturer.into(),
            product: product.into(),
            serial: self.serial.clone(),
        }
    }

    /// bNumInterfaces: one per channel of its chip.
    pub fn interfaces(&self) -> u8 {
        self.row.chip.interfaces()
    }
}

impl SimBoard {
    /// The board as the pipe serves it: one interface per channel, its identity and faults.
    pub fn pipe_device(&self) -> PipeDevice {
        let interfaces = self
            .device
            .channels()
            .into_iter()
            .map(|ch| {
                let core = self.device.core(ch.channel()).clone();
                PipeInterface {
                    usb: Box::new(ch),
                    accepted_out: Some(Box::new(move || core.counters().bytes_out)),
                }
            })
            .collect();
        let device = self.device.clone();
        PipeDevice {
            interfaces,
            identity: Some(self.usb_identity()),
            faults: Some(Box::new(move || {
                device.faults().iter().map(ToString::to_string).collect()
            })),
        }
    }
}

/// What each channel of `chip` is on a board wired as `w`.
fn channel_uses(chip: Chip, w: &BoardWiring) -> Vec<ChannelUse> {
    (0..chip.interfaces())
        .map(|c| {
            if w.instrument {
                ChannelUse::Reserved("an instrument's link to its FPGA")
            } else if w.dpti == Some(c) {
                ChannelUse::Reserved("the DPTI FIFO to the FPGA")
            } else if w.jtag == Some(c) {
                ChannelUse::Jtag {
                    enables: w.enables,
                    inputs: w.inputs,
                }
            } else {
                ChannelUse::Free
            }
        })
        .collect()
}

/// USB manufacturer and product strings a unit of `row` reports. The agent must not depend on
/// them beyond what its fallback documents: they are plausible, and the real ones where a
/// dump or a tool's match string gives them.
fn usb_strings(row: &Board) -> (&'static str, &'static str) {
    match (row.name, row.key, row.chip) {
        ("hs2", _, _) => ("Digilent", "Digilent Adept USB Device"),
        ("pynq-z2", _, _) => ("Xilinx", "TUL"),
        ("vcu1525", _, _) => ("Xilinx", "VCU1525 Dev Kit"),
        (_, Key::Digilent { .. }, _) => ("Digilent", "Digilent USB Device"),
        (_, Key::Xilinx { .. }, Chip::Ft4232h) => ("Xilinx", "JTAG+3xSerial"),
        (_, Key::Xilinx { .. }, _) => ("Xilinx", "JTAG+Serial"),
    }
}

#[cfg(test)]
mod tests;
