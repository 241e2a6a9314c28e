//! Simulated boards against the agent's identification and the production driver.

use super::*;
use crate::ftdi::chip::request;
use crate::ftdi::identify::boards::{Action, BOARDS};
use crate::ftdi::identify::{identify, EepromRead, UsbFacts};
use crate::ftdi::transport::UsbTransport;
use crate::ftdi::{CableOptions, FtdiCable};
use crate::jtag::Cable;
use crate::sim::ftdi_device::faults::Port;
use std::time::Duration;

const T: Duration = Duration::from_millis(500);
const IDCODE: u32 = 0x0362_D093;

fn board(name: &str) -> SimBoard {
    SimBoard::new(name, "210000ABCDEF", JtagChain::xc7a35t()).unwrap()
}

/// The EEPROM as the agent reads it: word by word over the control endpoint.
fn read_eeprom(b: &SimBoard) -> Vec<u8> {
    let ch = b.channel(0);
    let mut image = Vec::new();
    for word in 0..128 {
        let mut w = [0u8; 2];
        assert_eq!(
            ch.control_in(request::READ_EEPROM, 0, word, &mut w, T),
            Ok(2)
        );
        image.extend_from_slice(&w);
    }
    image
}

/// Reset, Shift-DR and 32 bits of TDO through `cable`: the IDCODE.
fn idcode(cable: &mut impl Cable) -> u32 {
    let mut tms = [0u8; 6];
    for i in [0, 1, 2, 3, 4, 6] {
        tms[i / 8] |= 1 << (i % 8);
    }
    let mut tdo = [0u8; 6];
    cable.shift(41, &tms, &[0; 6], &mut tdo).unwrap();
    let mut bits = [0u8; 8];
    bits[..6].copy_from_slice(&tdo);
    (u64::from_le_bytes(bits) >> 9) as u32
}

#[test]
fn unknown_boards_are_refused() {
    assert_eq!(
        SimBoard::new("hs9", "x", JtagChain::xc7a35t()).unwrap_err(),
        SimBoardError::UnknownBoard("hs9".into())
    );
}

#[test]
fn every_row_has_a_wiring_model_on_a_channel_its_chip_has() {
    for row in BOARDS {
        let w = wiring::by_name(row.name).unwrap_or_else(|| panic!("{}", row.name));
        if let Some(c) = w.jtag {
            assert!(c < row.chip.interfaces().min(2), "{}", row.name);
        }
        if !row.chip.has_high_byte() {
            assert_eq!(w.enables.high_mask, 0, "{}", row.name);
        }
    }
    assert_eq!(wiring::WIRING.len(), BOARDS.len());
}

/// The agent's identification, fed what the simulated board shows, serves the board's row
/// (never the instrument), and the row's own profile then reads the IDCODE on the board's JTAG
/// channel through the production driver.
#[test]
fn every_board_is_identified_as_its_row_and_its_profile_reaches_the_tap() {
    for row in BOARDS {
        let b = board(row.name);
        let usb = b.usb_identity();
        let image = read_eeprom(&b);
        let facts = UsbFacts {
            vid: usb.vid,
            pid: usb.pid,
            manufacturer: Some(&usb.manufacturer),
            product: Some(&usb.product),
            serial: Some(&usb.serial),
            bcd_device: usb.bcd_device,
            interfaces: b.interfaces(),
        };
        let id = identify(&facts, EepromRead::Image(&image));
        let Action::Serve(w) = row.action else {
            assert_eq!(id.board(), None, "{}: {}", row.name, id.evidence);
            assert_eq!(b.jtag_channel(), None);
            continue;
        };
        assert_eq!(
            id.board().map(|r| r.name),
            Some(row.name),
            "{}",
            id.evidence
        );
        assert_eq!(Some(w.profile.interface), b.jtag_channel(), "{}", row.name);
        let ch = b.channel(w.profile.interface);
        let mut cable = FtdiCable::open_with(ch, &w.profile, CableOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", row.name));
        assert_eq!(idcode(&mut cable), IDCODE, "{}", row.name);
        // No pin the board uses otherwise, no high byte an FT4232H does not have, no EEPROM
        // write: nothing the real board would suffer.
        assert_eq!(b.faults(), Vec::new(), "{}", row.name);
    }
}

#[test]
fn nexys_video_jtag_runs_on_b_while_a_stays_in_reset_mode() {
    let b = board("nexys-video");
    let profile = boards::by_name("nexys-video")
        .and_then(Board::wiring)
        .unwrap()
        .profile;
    let mut cable = FtdiCable::open_with(b.channel(1), &profile, CableOptions::default()).unwrap();
    assert_eq!(idcode(&mut cable), IDCODE);
    assert!(b.device().core(1).is_mpsse());
    assert!(!b.device().core(0).is_mpsse());
    assert_eq!(b.device().core(0).outputs_ever(), (0, 0));
    assert!(b.faults().is_empty(), "{:?}", b.faults());
}

#[test]
fn nexys_video_channel_a_is_the_dpti_fifo() {
    let b = board("nexys-video");
    let profile = boards::by_name("hs1")
        .and_then(Board::wiring)
        .unwrap()
        .profile;
    // The HS1's profile (channel A) on a Nexys Video: the TAP is not there, the FIFO is.
    let mut cable = FtdiCable::open_with(b.channel(0), &profile, CableOptions::default()).unwrap();
    assert_eq!(idcode(&mut cable), u32::MAX);
    let faults = b.faults();
    assert_eq!(
        faults[0].to_string(),
        "channel A: bit mode 0x02 set on the DPTI FIFO to the FPGA"
    );
    assert!(faults.contains(&Fault::PinDriven {
        channel: 0,
        port: Port::Low,
        bit: 0,
        why: "the DPTI FIFO to the FPGA"
    }));
    assert_eq!(b.with_chain(|c| c.tck_cycles()), 0);
}

#[test]
fn zcu104_srst_b_driven_low_is_a_fault() {
    let b = board("zcu104");
    let a = b.channel(0);
    a.control_out(request::SET_BITMODE, 0x020B, 1, T).unwrap();
    a.write_bulk(&[0x80, 0x08, 0x8B], T).unwrap();
    assert_eq!(
        b.faults(),
        [Fault::PinDriven {
            channel: 0,
            port: Port::Low,
            bit: 7,
            why: "SRST_B, an open-collector reset"
        }]
    );
}

#[test]
fn the_discovery_takes_no_bit_mode_and_no_pin() {
    let b = board("discovery");
    let a = b.channel(0);
    a.control_out(request::SET_BITMODE, 0x0101, 1, T).unwrap();
    let faults: Vec<String> = b.faults().iter().map(ToString::to_string).collect();
    assert_eq!(
        faults,
        [
            "channel A: bit mode 0x01 set on an instrument's link to its FPGA",
            "channel A: ADBUS0 made an output (an instrument's link to its FPGA)",
        ]
    );
}

#[test]
fn sp701_tap_needs_oe_b_low() {
    let b = board("sp701");
    let a = b.channel(0);
    a.control_out(request::SET_BITMODE, 0x020B, 1, T).unwrap();
    // TCK out, ADBUS5 an input: five TMS ones do not reach the TAP; with OE_B low they do.
    a.write_bulk(&[0x80, 0x08, 0x0B, 0x4B, 0x04, 0x1F], T)
        .unwrap();
    assert_eq!(b.with_chain(|c| c.tck_cycles()), 0);
    a.write_bulk(&[0x80, 0x08, 0x2B, 0x4B, 0x04, 0x1F], T)
        .unwrap();
    assert_eq!(b.with_chain(|c| c.tck_cycles()), 5);
    assert!(b.faults().is_empty());
}

#[test]
fn usb_identity_follows_the_row() {
    let hs2 = board("hs2").usb_identity();
    assert_eq!(
        (hs2.pid, hs2.bcd_device, board("hs2").interfaces()),
        (0x6014, 0x0900, 1)
    );
    assert_eq!(hs2.product, "Digilent Adept USB Device");
    let zcu = board("zcu104").usb_identity();
    assert_eq!(
        (zcu.pid, zcu.bcd_device, board("zcu104").interfaces()),
        (0x6011, 0x0800, 4)
    );
    assert_eq!(zcu.manufacturer, "Xilinx");
    assert_eq!(board("pynq-z2").usb_identity().serial, "1234-tul");
    assert_eq!(board("arty").usb_identity().serial, "210000ABCDEF");
}
