//! What an FTDI FT232H (and the FT2232H's MPSSE channels) is, written down once: USB ids,
//! vendor requests, bit modes, FIFO and packet sizes, the JTAG pins, and the MPSSE command
//! set with the length of each command and of its reply (FTDI AN_108, AN_135; the FT232H
//! datasheet).
//!
//! The driver ([`device`](crate::ftdi::device), [`cable`](crate::ftdi::cable), [`mpsse`](crate::ftdi::mpsse)) and the
//! emulator ([`sim::ft232h`](crate::sim::ft232h)) both read these facts from here, so the two
//! cannot drift apart: when the emulator answers a request, it is the request the driver
//! sends. Pure data and `const fn`s, no I/O.

/// FTDI's USB vendor id.
pub const VID: u16 = 0x0403;
/// Product id of the FT232H (single channel).
pub const PID_FT232H: u16 = 0x6014;
/// Product id of the FT2232H (two channels).
pub const PID_FT2232H: u16 = 0x6010;
/// Product id of the FT4232H (four channels; MPSSE on A and B only).
pub const PID_FT4232H: u16 = 0x6011;
/// bcdDevice of an FT232H.
pub const BCD_FT232H: u16 = 0x0900;
/// bcdDevice of an FT2232H.
pub const BCD_FT2232H: u16 = 0x0700;
/// bcdDevice of an FT4232H.
pub const BCD_FT4232H: u16 = 0x0800;

/// Bulk packet size on a high-speed link (64 at full speed).
pub const HIGH_SPEED_PACKET: usize = 512;
/// Every bulk IN packet starts with this many modem-status bytes, data or not.
pub const MODEM_STATUS_LEN: usize = 2;
/// The modem-status bytes of an idle FT232H in MPSSE mode.
pub const MODEM_STATUS: [u8; MODEM_STATUS_LEN] = [0x32, 0x60];
/// The FT232H's host→chip (command) FIFO, bytes.
pub const RX_FIFO: usize = 1024;
/// The FT232H's chip→host (reply) FIFO, bytes. The MPSSE engine stalls while it is full.
pub const TX_FIFO: usize = 1024;
/// Latency timer after reset, ms: how long the chip holds a partial IN packet.
pub const DEFAULT_LATENCY_MS: u8 = 16;
/// The shortest latency timer the chip accepts, ms (0 is taken as 1).
pub const MIN_LATENCY_MS: u8 = 1;

/// wIndex of a vendor request addressed to channel `interface` (0 = A): channels count from 1.
pub const fn interface_index(interface: u8) -> u16 {
    interface as u16 + 1
}

/// FTDI vendor requests (bRequest; bmRequestType 0x40 out, 0xC0 in) and their wValues.
pub mod request {
    pub const RESET: u8 = 0x00;
    pub const MODEM_CTRL: u8 = 0x01;
    pub const SET_FLOW_CTRL: u8 = 0x02;
    pub const SET_BAUD_RATE: u8 = 0x03;
    pub const SET_DATA: u8 = 0x04;
    pub const POLL_MODEM_STATUS: u8 = 0x05;
    pub const SET_EVENT_CHAR: u8 = 0x06;
    pub const SET_ERROR_CHAR: u8 = 0x07;
    pub const SET_LATENCY_TIMER: u8 = 0x09;
    pub const GET_LATENCY_TIMER: u8 = 0x0A;
    pub const SET_BITMODE: u8 = 0x0B;
    pub const READ_PINS: u8 = 0x0C;
    pub const READ_EEPROM: u8 = 0x90;
    pub const WRITE_EEPROM: u8 = 0x91;
    pub const ERASE_EEPROM: u8 = 0x92;

    /// `RESET` wValue: resets the serial engine.
    pub const RESET_SIO: u16 = 0;
    /// `RESET` wValue: clears the host→chip (command) FIFO.
    pub const PURGE_RX: u16 = 1;
    /// `RESET` wValue: clears the chip→host (reply) FIFO.
    pub const PURGE_TX: u16 = 2;
}

/// Bit modes: the high byte of `SET_BITMODE`'s wValue (the low byte is a pin direction mask).
pub mod bitmode {
    /// Leaves any bit mode (back to the UART).
    pub const RESET: u8 = 0x00;
    pub const MPSSE: u8 = 0x02;

    /// The wValue selecting `mode` with pin direction mask `mask`.
    pub const fn value(mode: u8, mask: u8) -> u16 {
        (mode as u16) << 8 | mask as u16
    }

    /// The mode a wValue selects.
    pub const fn mode_of(value: u16) -> u8 {
        (value >> 8) as u8
    }
}

/// ADBUS bits the MPSSE engine uses for JTAG (the same on every FTDI MPSSE channel).
pub mod pin {
    pub const TCK: u8 = 0x01;
    pub const TDI: u8 = 0x02;
    pub const TDO: u8 = 0x04;
    pub const TMS: u8 = 0x08;
    /// The pins the engine drives in a JTAG shift.
    pub const JTAG_OUTPUTS: u8 = TCK | TDI | TMS;
}

/// One GPIO byte: output levels and directions (1 = output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Port {
    pub value: u8,
    pub dir: u8,
}

impl Port {
    pub const fn new(value: u8, dir: u8) -> Port {
        Port { value, dir }
    }
}

/// Both GPIO bytes of a channel: ADBUS (low, which carries the JTAG pins) and ACBUS (high).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gpio {
    pub low: Port,
    pub high: Port,
}

/// MPSSE opcodes and the flag bits of the data-shifting commands.
pub mod op {
    /// Data-shifting command flags (opcodes below 0x80).
    pub const WRITE_NEG: u8 = 0x01;
    pub const BITMODE: u8 = 0x02;
    pub const READ_NEG: u8 = 0x04;
    pub const LSB_FIRST: u8 = 0x08;
    pub const DO_WRITE: u8 = 0x10;
    pub const DO_READ: u8 = 0x20;
    pub const WRITE_TMS: u8 = 0x40;

    /// TDI out on the falling edge, TDO in on the rising edge, LSB first, bytes.
    pub const SHIFT_BYTES: u8 = DO_WRITE | DO_READ | LSB_FIRST | WRITE_NEG; // 0x39
    /// Same, bits.
    pub const SHIFT_BITS: u8 = SHIFT_BYTES | BITMODE; // 0x3B
    /// TMS bits out with TDO read, TDI from bit 7.
    pub const SHIFT_TMS: u8 = WRITE_TMS | DO_READ | LSB_FIRST | BITMODE | WRITE_NEG; // 0x6B

    pub const SET_LOW: u8 = 0x80;
    pub const GET_LOW: u8 = 0x81;
    pub const SET_HIGH: u8 = 0x82;
    pub const GET_HIGH: u8 = 0x83;
    pub const LOOPBACK_ON: u8 = 0x84;
    pub const LOOPBACK_OFF: u8 = 0x85;
    pub const SET_DIVISOR: u8 = 0x86;
    pub const SEND_IMMEDIATE: u8 = 0x87;
    pub const DIV5_OFF: u8 = 0x8A;
    pub const DIV5_ON: u8 = 0x8B;
    pub const THREE_PHASE_ON: u8 = 0x8C;
    pub const THREE_PHASE_OFF: u8 = 0x8D;
    pub const CLOCK_BITS: u8 = 0x8E;
    pub const CLOCK_BYTES: u8 = 0x8F;
    pub const ADAPTIVE_ON: u8 = 0x96;
    pub const ADAPTIVE_OFF: u8 = 0x97;
    /// First byte of the chip's answer to an invalid opcode (`FA <opcode>`).
    pub const BAD_COMMAND: u8 = 0xFA;
    /// The invalid opcode used for sync checks and echo guards.
    pub const ECHO: u8 = 0xAA;
    /// A second invalid opcode, told apart from [`ECHO`] in the answer.
    pub const ECHO_2: u8 = 0xAB;
}

/// Most bytes one byte-mode data command clocks (its length field is `n - 1` in 16 bits).
pub const MAX_BYTES_PER_COMMAND: usize = 65536;
/// Most bits one bit-mode data or TMS command clocks (its length field is `n - 1` in 3 bits).
pub const MAX_BITS_PER_COMMAND: usize = 8;

/// The commands at and above 0x80 the engine accepts: opcode, argument bytes after it, reply
/// bytes. Every other opcode there is invalid.
pub const CONTROL_COMMANDS: [(u8, usize, usize); 16] = [
    (op::SET_LOW, 2, 0),
    (op::GET_LOW, 0, 1),
    (op::SET_HIGH, 2, 0),
    (op::GET_HIGH, 0, 1),
    (op::LOOPBACK_ON, 0, 0),
    (op::LOOPBACK_OFF, 0, 0),
    (op::SET_DIVISOR, 2, 0),
    (op::SEND_IMMEDIATE, 0, 0),
    (op::DIV5_OFF, 0, 0),
    (op::DIV5_ON, 0, 0),
    (op::THREE_PHASE_ON, 0, 0),
    (op::THREE_PHASE_OFF, 0, 0),
    (op::CLOCK_BITS, 1, 0),
    (op::CLOCK_BYTES, 2, 0),
    (op::ADAPTIVE_ON, 0, 0),
    (op::ADAPTIVE_OFF, 0, 0),
];

/// What kind of command an opcode starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Not a command: the chip answers `FA <opcode>`.
    Invalid,
    /// A byte-mode data shift: a 16-bit length follows; the bytes to clock follow that when
    /// it writes, and as many reply bytes come back when it reads.
    Bytes,
    /// A bit-mode data shift or a TMS command: up to 8 bits in one (optional) data byte.
    Bits,
    /// GPIO, clock, loopback and flush commands.
    Control,
}

/// The lengths of the command an opcode starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub kind: Kind,
    /// The opcode and its argument bytes: everything before a byte shift's streamed data.
    pub header: usize,
    /// Reply bytes the command produces on top of a reading byte shift's streamed reply:
    /// what must be free in the reply FIFO before the engine starts it.
    pub reply: usize,
}

/// Whether a data-shifting opcode (below 0x80) is one the engine accepts: TMS commands are
/// bit-mode and never write TDI data; other data commands write, read or both.
pub const fn is_valid_data_op(opcode: u8) -> bool {
    let write = opcode & op::DO_WRITE != 0;
    let read = opcode & op::DO_READ != 0;
    if opcode & op::WRITE_TMS != 0 {
        opcode & op::BITMODE != 0 && !write
    } else {
        write || read
    }
}

/// Looks an opcode up in the command set.
pub const fn shape(opcode: u8) -> Shape {
    const INVALID: Shape = Shape {
        kind: Kind::Invalid,
        header: 1,
        reply: 2,
    };
    if opcode < 0x80 {
        if !is_valid_data_op(opcode) {
            return INVALID;
        }
        let read = opcode & op::DO_READ != 0;
        if opcode & op::BITMODE == 0 {
            return Shape {
                kind: Kind::Bytes,
                header: 3,
                reply: 0,
            };
        }
        let data = opcode & (op::WRITE_TMS | op::DO_WRITE) != 0;
        return Shape {
            kind: Kind::Bits,
            header: if data { 3 } else { 2 },
            reply: if read { 1 } else { 0 },
        };
    }
    let mut i = 0;
    while i < CONTROL_COMMANDS.len() {
        let (code, args, reply) = CONTROL_COMMANDS[i];
        if code == opcode {
            return Shape {
                kind: Kind::Control,
                header: 1 + args,
                reply,
            };
        }
        i += 1;
    }
    INVALID
}

/// Bytes clocked by a byte-mode command, from the two length bytes after its opcode.
pub const fn byte_count(lo: u8, hi: u8) -> usize {
    u16::from_le_bytes([lo, hi]) as usize + 1
}

/// Bits clocked by a bit-mode or TMS command, from the length byte after its opcode.
pub const fn bit_count(len: u8) -> usize {
    (len & 0x07) as usize + 1
}

/// Total command bytes and reply bytes of the command at the start of `cmd`, or `None` when
/// `cmd` is shorter than the command's header.
pub fn lengths(cmd: &[u8]) -> Option<(usize, usize)> {
    let &opcode = cmd.first()?;
    let s = shape(opcode);
    if cmd.len() < s.header {
        return None;
    }
    if s.kind != Kind::Bytes {
        return Some((s.header, s.reply));
    }
    let n = byte_count(cmd[1], cmd[2]);
    let written = if opcode & op::DO_WRITE != 0 { n } else { 0 };
    let read = if opcode & op::DO_READ != 0 { n } else { 0 };
    Some((s.header + written, read))
}

/// Reply bytes a whole command stream produces, or `None` when it ends inside a command.
pub fn reply_len(mut stream: &[u8]) -> Option<usize> {
    let mut reply = 0;
    while !stream.is_empty() {
        let (len, rep) = lengths(stream)?;
        stream = stream.get(len..)?;
        reply += rep;
    }
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_set_as_an_mpsse_engine_parses_it() {
        assert_eq!(lengths(&[op::SHIFT_BYTES, 0x01, 0x00]), Some((5, 2)));
        assert_eq!(lengths(&[0x19, 0xFF, 0xFF]), Some((3 + 65536, 0)));
        assert_eq!(lengths(&[0x28, 0x00, 0x00]), Some((3, 1)));
        assert_eq!(lengths(&[op::SHIFT_BITS, 0x07, 0x00]), Some((3, 1)));
        assert_eq!(lengths(&[0x2A, 0x07]), Some((2, 1)));
        assert_eq!(lengths(&[op::SHIFT_TMS, 0x05, 0x00]), Some((3, 1)));
        assert_eq!(lengths(&[0x4B, 0x05, 0x00]), Some((3, 0)));
        assert_eq!(lengths(&[op::SET_LOW, 0xE8, 0xEB]), Some((3, 0)));
        assert_eq!(lengths(&[op::GET_HIGH]), Some((1, 1)));
        assert_eq!(lengths(&[op::CLOCK_BITS, 0x07]), Some((2, 0)));
        assert_eq!(lengths(&[op::ECHO]), Some((1, 2)));
        assert_eq!(lengths(&[op::SEND_IMMEDIATE]), Some((1, 0)));
        assert_eq!(lengths(&[op::SET_DIVISOR, 0x00]), None);
        assert_eq!(reply_len(&[op::ECHO, op::GET_LOW, 0x39, 0x00, 0x00]), None);
        assert_eq!(
            reply_len(&[op::ECHO, op::GET_LOW, 0x39, 0x00, 0x00, 0x12]),
            Some(4)
        );
        // TMS commands never write TDI data; data commands do something.
        assert_eq!(shape(0x5B).kind, Kind::Invalid);
        assert_eq!(shape(0x09).kind, Kind::Invalid);
        assert_eq!(shape(op::ECHO_2).kind, Kind::Invalid);
    }

    #[test]
    fn request_values() {
        assert_eq!(bitmode::value(bitmode::MPSSE, pin::JTAG_OUTPUTS), 0x020B);
        assert_eq!(bitmode::mode_of(0x020B), bitmode::MPSSE);
        assert_eq!(interface_index(0), 1);
    }
}
