//! What a board's other circuits would suffer from a host that drives the chip wrongly, as
//! data and pure checks: the [`Fault`]s a test reads back, and the rules per channel
//! ([`ChannelUse`]) that decide them.
//!
//! Exists apart from the device so the rules can be read and tested without USB: the device
//! only feeds them what the host did (bit modes, pins ever made outputs, high-byte commands,
//! EEPROM writes).

use crate::ftdi::chip::bitmode;
use crate::sim::ft232h::Wiring;
use std::fmt;

/// What a channel of the chip is wired to on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelUse {
    /// The JTAG TAP: reached only while `enables` hold; `inputs` are ADBUS pins (bit number,
    /// board name) that must never be made outputs (sense inputs, open-collector resets).
    Jtag {
        enables: Wiring,
        inputs: &'static [(u8, &'static str)],
    },
    /// A UART or nothing: any use is harmless.
    Free,
    /// Something only its own firmware or software may drive (a DPTI FIFO, an instrument's
    /// link): any bit mode but reset, and any pin made an output, is a fault. The text says
    /// what it is.
    Reserved(&'static str),
}

/// Which GPIO byte of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// xDBUS: the MPSSE data pins.
    Low,
    /// xCBUS.
    High,
}

/// Something the host did that a real board would not survive unharmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// An EEPROM write or erase request (wIndex: the word address).
    EepromWrite { request: u8, index: u16 },
    /// A bit mode other than reset on a channel that must stay as it is.
    BitMode {
        channel: u8,
        mode: u8,
        why: &'static str,
    },
    /// A pin made an output that must stay an input.
    PinDriven {
        channel: u8,
        port: Port,
        bit: u8,
        why: &'static str,
    },
    /// SET_HIGH or GET_HIGH on a channel that has no high byte (an FT4232H's).
    NoHighByte { channel: u8 },
}

/// The channel's letter (0 = A).
pub fn letter(channel: u8) -> char {
    char::from(b'A' + channel)
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::EepromWrite { request, index } => {
                write!(
                    f,
                    "EEPROM write request {request:#04x} (wIndex {index:#06x})"
                )
            }
            Fault::BitMode { channel, mode, why } => write!(
                f,
                "channel {}: bit mode {mode:#04x} set on {why}",
                letter(*channel)
            ),
            Fault::PinDriven {
                channel,
                port,
                bit,
                why,
            } => {
                let bus = match port {
                    Port::Low => 'D',
                    Port::High => 'C',
                };
                write!(
                    f,
                    "channel {}: {}{bus}BUS{bit} made an output ({why})",
                    letter(*channel),
                    letter(*channel)
                )
            }
            Fault::NoHighByte { channel } => write!(
                f,
                "channel {}: SET_HIGH/GET_HIGH on a channel without a high byte",
                letter(*channel)
            ),
        }
    }
}

/// The fault, if any, of selecting bit-mode wValue `value` on a channel used as `usage`.
/// `uart_only`: the channel has no MPSSE (FT4232H C and D).
pub fn bitmode_fault(channel: u8, usage: ChannelUse, uart_only: bool, value: u16) -> Option<Fault> {
    let mode = bitmode::mode_of(value);
    if mode == bitmode::RESET {
        return None;
    }
    if let ChannelUse::Reserved(why) = usage {
        return Some(Fault::BitMode { channel, mode, why });
    }
    (uart_only && mode == bitmode::MPSSE).then_some(Fault::BitMode {
        channel,
        mode,
        why: "a channel without MPSSE",
    })
}

/// The faults of a channel whose pins were ever outputs as `low`/`high` say.
pub fn pin_faults(channel: u8, usage: ChannelUse, low: u8, high: u8) -> Vec<Fault> {
    let pin = |port, bit, why| Fault::PinDriven {
        channel,
        port,
        bit,
        why,
    };
    let set = |mask: u8| (0..8u8).filter(move |b| mask >> b & 1 != 0);
    match usage {
        ChannelUse::Free => Vec::new(),
        ChannelUse::Reserved(why) => set(low)
            .map(|b| pin(Port::Low, b, why))
            .chain(set(high).map(|b| pin(Port::High, b, why)))
            .collect(),
        ChannelUse::Jtag { inputs, .. } => inputs
            .iter()
            .filter(|(bit, _)| low >> bit & 1 != 0)
            .map(|&(bit, why)| pin(Port::Low, bit, why))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XILINX: ChannelUse = ChannelUse::Jtag {
        enables: Wiring::NO_TAP,
        inputs: &[(4, "VCCO sense"), (7, "SRST_B")],
    };

    #[test]
    fn reserved_channels_take_no_bit_mode_and_no_output() {
        let dpti = ChannelUse::Reserved("the DPTI FIFO");
        assert_eq!(bitmode_fault(0, dpti, false, 0x00FF), None);
        let f = bitmode_fault(0, dpti, false, 0x020B).unwrap();
        assert_eq!(
            f.to_string(),
            "channel A: bit mode 0x02 set on the DPTI FIFO"
        );
        let pins = pin_faults(1, dpti, 0x01, 0x80);
        assert_eq!(pins.len(), 2);
        assert_eq!(
            pins[1].to_string(),
            "channel B: BCBUS7 made an output (the DPTI FIFO)"
        );
    }

    #[test]
    fn jtag_channels_fault_only_on_their_inputs() {
        assert_eq!(bitmode_fault(0, XILINX, false, 0x020B), None);
        assert!(pin_faults(0, XILINX, 0x2B, 0xFF).is_empty());
        let f = pin_faults(0, XILINX, 0x8B, 0);
        assert_eq!(
            f.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["channel A: ADBUS7 made an output (SRST_B)"]
        );
        assert!(pin_faults(2, ChannelUse::Free, 0xFF, 0xFF).is_empty());
    }

    #[test]
    fn mpsse_on_a_uart_only_channel_is_a_fault_bitbang_is_not() {
        assert!(bitmode_fault(2, ChannelUse::Free, true, 0x0200).is_some());
        assert_eq!(bitmode_fault(2, ChannelUse::Free, true, 0x01FF), None);
    }
}
