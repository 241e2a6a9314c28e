//! The emulated MPSSE engine: takes commands from the command FIFO, moves the pins, and puts
//! replies into the reply FIFO, as far as the two FIFOs allow.
//!
//! Exists apart from the USB side because the engine knows nothing of packets or timeouts:
//! it runs whenever bytes arrive or reply room frees, stalls when a command's reply does not
//! fit (as the chip does with its 1 KiB reply FIFO full), and resumes a long byte shift where
//! it stopped. Command lengths come from the chip's command table
//! ([`chip::shape`](crate::ftdi::chip::shape)), the same one the driver's tests parse with.

use super::pins::Pins;
use super::usb::Fifos;
use super::Counters;
use crate::ftdi::chip::{self, op, Kind, TX_FIFO};

/// A command started but not finished because a FIFO ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    /// A byte-mode data command with `left` bytes still to clock.
    Bytes {
        op: u8,
        left: usize,
    },
    /// A clock-only command with `left` cycles still to generate.
    Clocks {
        left: u64,
    },
}

/// The engine's own state: a half-done command, the clock settings, loopback.
pub(super) struct Engine {
    pending: Pending,
    pub(super) divisor: u16,
    div5: bool,
    three_phase: bool,
    adaptive: bool,
    loopback: bool,
    scratch_in: Vec<u8>,
    scratch_out: Vec<u8>,
}

/// What the engine works on while it runs.
pub(super) struct Io<'a> {
    pub(super) fifos: &'a mut Fifos,
    pub(super) pins: &'a mut Pins,
    pub(super) counters: &'a mut Counters,
}

impl Engine {
    pub(super) fn new() -> Self {
        Engine {
            pending: Pending::None,
            divisor: 0,
            div5: true,
            three_phase: false,
            adaptive: false,
            loopback: false,
            scratch_in: Vec::new(),
            scratch_out: Vec::new(),
        }
    }

    /// True when no command is half done.
    pub(super) fn idle(&self) -> bool {
        self.pending == Pending::None
    }

    /// Drops a half-done command (its remaining bytes were purged).
    pub(super) fn abort(&mut self) {
        self.pending = Pending::None;
    }

    /// Executes commands as far as the FIFOs allow.
    pub(super) fn run(&mut self, io: &mut Io<'_>) {
        loop {
            match self.pending {
                Pending::Bytes { op, left } => {
                    if !self.step_bytes(io, op, left) {
                        return;
                    }
                    continue;
                }
                Pending::Clocks { left } => {
                    self.step_clocks(io, left);
                    continue;
                }
                Pending::None => {}
            }
            let rx = &mut io.fifos.rx;
            let Some(&opcode) = rx.front() else {
                return;
            };
            let shape = chip::shape(opcode);
            if rx.len() < shape.header || TX_FIFO - io.fifos.tx.len() < shape.reply {
                return;
            }
            let mut h = [0u8; 3];
            for b in h.iter_mut().take(shape.header) {
                *b = rx.pop_front().expect("header length checked");
            }
            self.execute(io, shape.kind, h);
        }
    }

    fn execute(&mut self, io: &mut Io<'_>, kind: Kind, [opcode, a, b]: [u8; 3]) {
        match kind {
            Kind::Bytes | Kind::Bits => {
                if opcode & op::READ_NEG != 0 && opcode & op::DO_READ != 0 {
                    io.counters.falling_edge_reads += 1;
                }
                if kind == Kind::Bytes {
                    let left = chip::byte_count(a, b);
                    self.pending = Pending::Bytes { op: opcode, left };
                } else if opcode & op::WRITE_TMS != 0 {
                    self.tms_command(io, opcode, a, b);
                } else {
                    self.bit_command(io, opcode, a, b);
                }
            }
            Kind::Control => self.control(io, opcode, a, b),
            Kind::Invalid => {
                io.counters.bad_commands += 1;
                io.fifos.tx.push_back(op::BAD_COMMAND);
                io.fifos.tx.push_back(opcode);
            }
        }
    }

    /// A command at or above 0x80 the table lists.
    fn control(&mut self, io: &mut Io<'_>, opcode: u8, a: u8, b: u8) {
        let pins = &mut *io.pins;
        match opcode {
            op::SET_LOW => pins.set_low(chip::Port::new(a, b)),
            op::SET_HIGH => {
                io.counters.high_byte_commands += 1;
                pins.set_high(chip::Port::new(a, b));
            }
            op::GET_LOW => {
                let tdo = if self.loopback {
                    pins.tdi()
                } else {
                    pins.tdo()
                };
                io.fifos.tx.push_back(pins.read_low(tdo));
            }
            op::GET_HIGH => {
                io.counters.high_byte_commands += 1;
                io.fifos.tx.push_back(pins.read_high());
            }
            op::LOOPBACK_ON => self.loopback = true,
            op::LOOPBACK_OFF => self.loopback = false,
            op::SET_DIVISOR => self.divisor = u16::from_le_bytes([a, b]),
            op::SEND_IMMEDIATE => io.fifos.flush = io.fifos.tx.len(),
            op::DIV5_OFF => self.div5 = false,
            op::DIV5_ON => self.div5 = true,
            op::THREE_PHASE_ON => self.three_phase = true,
            op::THREE_PHASE_OFF => self.three_phase = false,
            op::ADAPTIVE_ON => self.adaptive = true,
            op::ADAPTIVE_OFF => self.adaptive = false,
            op::CLOCK_BITS => {
                self.pending = Pending::Clocks {
                    left: u64::from(a) + 1,
                }
            }
            op::CLOCK_BYTES => {
                let n = chip::byte_count(a, b) as u64;
                self.pending = Pending::Clocks { left: n * 8 };
            }
            _ => unreachable!("opcode {opcode:#04x} is not in the command table"),
        }
    }

    /// One TCK cycle; returns the sampled TDO (TDI itself with loopback on).
    fn clock_bit(&self, io: &mut Io<'_>, tms: bool, tdi: bool) -> bool {
        io.counters.tck_cycles += 1;
        let tdo = io.pins.clock(tms, tdi);
        if self.loopback {
            tdi
        } else {
            tdo
        }
    }

    /// A TMS command: n bits of TMS from the data byte, TDI from bit 7 for all of them; the
    /// pin then keeps the first unclocked bit.
    fn tms_command(&mut self, io: &mut Io<'_>, opcode: u8, len: u8, data: u8) {
        let n = chip::bit_count(len);
        let tdi = data & 0x80 != 0;
        let mut reply = 0u8;
        for i in 0..n {
            let tms = data >> i & 1 != 0;
            io.pins.set_tms(tms);
            let tdo = self.clock_bit(io, tms, tdi);
            reply = (reply >> 1) | (u8::from(tdo) << 7);
        }
        io.pins.set_tms(data >> n & 1 != 0);
        io.pins.set_tdi(tdi);
        if opcode & op::DO_READ != 0 {
            io.fifos.tx.push_back(reply);
        }
    }

    /// A bit-mode data command: up to 8 bits, TMS held at the pin's level.
    fn bit_command(&mut self, io: &mut Io<'_>, opcode: u8, len: u8, data: u8) {
        let n = chip::bit_count(len);
        let lsb = opcode & op::LSB_FIRST != 0;
        let write = opcode & op::DO_WRITE != 0;
        let tms = io.pins.tms();
        let mut reply = 0u8;
        for i in 0..n {
            let tdi = if write {
                if lsb {
                    data >> i & 1 != 0
                } else {
                    data >> (7 - i) & 1 != 0
                }
            } else {
                io.pins.tdi()
            };
            let tdo = self.clock_bit(io, tms, tdi);
            io.pins.set_tdi(tdi);
            reply = if lsb {
                (reply >> 1) | (u8::from(tdo) << 7)
            } else {
                (reply << 1) | u8::from(tdo)
            };
        }
        if opcode & op::DO_READ != 0 {
            io.fifos.tx.push_back(reply);
        }
    }

    /// Clocks as much of a byte-mode command as the FIFOs allow; false when stalled.
    fn step_bytes(&mut self, io: &mut Io<'_>, opcode: u8, left: usize) -> bool {
        let write = opcode & op::DO_WRITE != 0;
        let read = opcode & op::DO_READ != 0;
        let fifos = &mut *io.fifos;
        let mut k = left;
        if write {
            k = k.min(fifos.rx.len());
        }
        if read {
            k = k.min(TX_FIFO - fifos.tx.len());
        }
        if k == 0 {
            return false;
        }
        let lsb = opcode & op::LSB_FIRST != 0;
        let mut tdi = std::mem::take(&mut self.scratch_in);
        let mut tdo = std::mem::take(&mut self.scratch_out);
        tdi.clear();
        if write {
            tdi.extend(fifos.rx.drain(..k));
            if !lsb {
                tdi.iter_mut().for_each(|b| *b = b.reverse_bits());
            }
        } else {
            tdi.resize(k, if io.pins.tdi() { 0xFF } else { 0x00 });
        }
        tdo.clear();
        tdo.resize(k, 0);
        io.counters.tck_cycles += 8 * k as u64;
        let tms = io.pins.tms();
        io.pins.clock_run(tms, 8 * k, &tdi, &mut tdo);
        if self.loopback {
            tdo.copy_from_slice(&tdi);
        }
        io.pins.set_tdi(tdi[k - 1] & 0x80 != 0);
        if read {
            if lsb {
                io.fifos.tx.extend(tdo.iter().copied());
            } else {
                io.fifos.tx.extend(tdo.iter().map(|b| b.reverse_bits()));
            }
        }
        self.scratch_in = tdi;
        self.scratch_out = tdo;
        self.pending = if k == left {
            Pending::None
        } else {
            Pending::Bytes {
                op: opcode,
                left: left - k,
            }
        };
        true
    }

    /// Generates up to 64 Ki cycles of a clock-only command.
    fn step_clocks(&mut self, io: &mut Io<'_>, left: u64) {
        const CHUNK: u64 = 1 << 16;
        let k = left.min(CHUNK) as usize;
        io.counters.tck_cycles += k as u64;
        let (tms, level) = (io.pins.tms(), io.pins.tdi_seen(io.pins.tdi()));
        let tdi = vec![if level { 0xFF } else { 0x00 }; k.div_ceil(8)];
        let mut tdo = vec![0; k.div_ceil(8)];
        io.pins.clock_run(tms, k, &tdi, &mut tdo);
        self.pending = if k as u64 == left {
            Pending::None
        } else {
            Pending::Clocks {
                left: left - k as u64,
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{mpsse_chip, read_payload, T};
    use crate::ftdi::transport::UsbTransport;

    #[test]
    fn bad_command_echo_and_gpio_reads() {
        let chip = mpsse_chip();
        chip.write_bulk(&[0x80, 0xE8, 0xEB, 0xAA, 0x81, 0x87], T)
            .unwrap();
        // Low byte: outputs as set, TDO (input, bit 2) reads 1 outside Shift states,
        // ADBUS4 (input) pulled up.
        assert_eq!(read_payload(&chip, 3), [0xFA, 0xAA, 0xE8 | 0x04 | 0x10]);
        assert_eq!(chip.counters().bad_commands, 1);
    }

    #[test]
    fn tms_pin_keeps_first_unclocked_bit_and_data_clocks_with_it() {
        let chip = mpsse_chip();
        // TMS high, TCK/TDI/TMS outputs. Five TMS ones: Test-Logic-Reset. Then one TMS 0
        // with bit 1 of the data byte = 1: the pin goes back high after the clock.
        chip.write_bulk(&[0x80, 0x08, 0x0B, 0x4B, 0x04, 0x1F, 0x4B, 0x00, 0x02], T)
            .unwrap();
        assert_eq!(
            chip.with_chain(|c| c.state()),
            crate::jtag::TapState::RunTestIdle
        );
        assert_eq!(chip.gpio().0 .0 & 0x08, 0x08);
        // A data bit command now clocks with TMS = 1: Run-Test/Idle -> Select-DR-Scan.
        chip.write_bulk(&[0x1B, 0x00, 0x00], T).unwrap();
        assert_eq!(
            chip.with_chain(|c| c.state()),
            crate::jtag::TapState::SelectDrScan
        );
        assert_eq!(chip.counters().tck_cycles, 7);
    }

    #[test]
    fn loopback_echoes_tdi_in_both_bit_orders() {
        let chip = mpsse_chip();
        chip.write_bulk(
            &[
                0x80, 0x08, 0x0B, 0x84, // loopback on
                0x39, 0x01, 0x00, 0x12, 0x34, // LSB first, 2 bytes
                0x31, 0x00, 0x00, 0xC1, // MSB first, 1 byte
                0x3B, 0x02, 0x05, // LSB first, 3 bits: left-justified reply
                0x85, 0x87,
            ],
            T,
        )
        .unwrap();
        assert_eq!(read_payload(&chip, 4), [0x12, 0x34, 0xC1, 0xA0]);
    }
}
