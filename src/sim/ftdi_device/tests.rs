//! The multi-channel device's behaviour: channel addressing, UART loopback, EEPROM, faults.

use super::*;
use crate::ftdi::chip::{HIGH_SPEED_PACKET, MODEM_STATUS};

const T: Duration = Duration::from_millis(500);

const XILINX_INPUTS: &[(u8, &str)] = &[(4, "VCCO sense"), (6, "POR_B"), (7, "SRST_B")];

fn image(fill: u8) -> [u8; IMAGE_LEN] {
    let mut img = [fill; IMAGE_LEN];
    img[0] = 0x12;
    img[1] = 0x34;
    img
}

fn ft4232h() -> FtdiDevice {
    let jtag = ChannelUse::Jtag {
        enables: Wiring::default(),
        inputs: XILINX_INPUTS,
    };
    FtdiDevice::new(
        Chip::Ft4232h,
        &[jtag, ChannelUse::Free, ChannelUse::Free, ChannelUse::Free],
        image(0),
        JtagChain::xc7a35t(),
    )
}

/// Reads bulk IN until `n` payload bytes arrived, checking and dropping the status bytes.
fn payload(ch: &FtdiChannel, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = vec![0; 2048];
    while got.len() < n {
        let k = ch.read_bulk(&mut buf, T).unwrap();
        for p in buf[..k].chunks(HIGH_SPEED_PACKET) {
            assert_eq!(&p[..2], &MODEM_STATUS);
            got.extend_from_slice(&p[2..]);
        }
    }
    got
}

#[test]
fn eeprom_is_one_image_on_every_channel_and_writes_are_faults() {
    let dev = ft4232h();
    let mut word = [0u8; 2];
    for ch in dev.channels() {
        assert_eq!(
            ch.control_in(request::READ_EEPROM, 0, 0, &mut word, T),
            Ok(2)
        );
        assert_eq!(word, [0x12, 0x34]);
    }
    dev.channel(3)
        .control_in(request::READ_EEPROM, 0, 300, &mut word, T)
        .unwrap();
    assert_eq!(word, [0xFF, 0xFF], "past the image");
    assert!(dev.faults().is_empty());
    dev.channel(0)
        .control_out(request::WRITE_EEPROM, 0xBEEF, 5, T)
        .unwrap();
    dev.channel(1)
        .control_out(request::ERASE_EEPROM, 0, 0, T)
        .unwrap();
    assert_eq!(dev.eeprom_writes(), 2);
    assert_eq!(dev.faults().len(), 2);
    assert_eq!(dev.eeprom(), &image(0), "the image is not changed");
}

#[test]
fn requests_reach_the_channel_their_windex_names() {
    let dev = ft4232h();
    // Sent through channel A's handle, addressed to B (wIndex 2): B changes, A does not.
    let a = dev.channel(0);
    a.control_out(request::SET_LATENCY_TIMER, 3, 2, T).unwrap();
    a.control_out(request::SET_BITMODE, 0x020B, 2, T).unwrap();
    assert_eq!(dev.core(1).latency(), Duration::from_millis(3));
    assert!(dev.core(1).is_mpsse());
    assert_eq!(dev.core(0).latency(), Duration::from_millis(16));
    assert!(!dev.core(0).is_mpsse());
    let mut b = [0u8; 1];
    a.control_in(request::GET_LATENCY_TIMER, 0, 2, &mut b, T)
        .unwrap();
    assert_eq!(b, [3]);
    // A baud rate's divisor bits in wIndex's high byte do not change the channel.
    a.control_out(request::SET_BAUD_RATE, 0x4138, 0x0204, T)
        .unwrap();
    assert!(a.control_out(request::SET_LATENCY_TIMER, 1, 5, T).is_err());
    assert!(dev.faults().is_empty());
}

#[test]
fn a_channel_out_of_mpsse_is_a_uart_in_loopback() {
    let dev = ft4232h();
    let c = dev.channel(2);
    // What ftdi_sio sends at open, addressed to channel C (wIndex 3).
    for (req, value) in [
        (request::RESET, request::RESET_SIO),
        (request::SET_BAUD_RATE, 0x001A),
        (request::SET_DATA, 0x0008),
        (request::SET_FLOW_CTRL, 0),
        (request::MODEM_CTRL, 0x0303),
        (request::SET_LATENCY_TIMER, 1),
    ] {
        c.control_out(req, value, 3, T).unwrap();
    }
    let text: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    c.write_bulk(&text, T).unwrap();
    assert_eq!(payload(&c, text.len()), text);
    // Other channels saw nothing.
    let mut buf = [0u8; 512];
    assert_eq!(dev.channel(3).read_bulk(&mut buf, T), Ok(2));
    assert!(dev.faults().is_empty());
}

#[test]
fn mpsse_on_channel_c_or_set_high_on_an_ft4232h_are_faults() {
    let dev = ft4232h();
    let c = dev.channel(2);
    c.control_out(request::SET_BITMODE, 0x020B, 3, T).unwrap();
    assert!(!dev.core(2).is_mpsse(), "C has no MPSSE");
    let a = dev.channel(0);
    a.control_out(request::SET_BITMODE, 0x020B, 1, T).unwrap();
    a.write_bulk(&[0x80, 0x08, 0x0B, 0x82, 0x00, 0x00], T)
        .unwrap();
    let faults: Vec<String> = dev.faults().iter().map(ToString::to_string).collect();
    assert_eq!(
        faults,
        [
            "channel C: bit mode 0x02 set on a channel without MPSSE",
            "channel A: SET_HIGH/GET_HIGH on a channel without a high byte",
        ]
    );
}

#[test]
fn a_reset_pin_made_an_output_is_a_fault_even_if_undone() {
    let dev = ft4232h();
    let a = dev.channel(0);
    a.control_out(request::SET_BITMODE, 0x020B, 1, T).unwrap();
    // ADBUS7 (SRST_B) an output driven low, then an input again in the same write.
    a.write_bulk(&[0x80, 0x08, 0x8B, 0x80, 0x08, 0x0B], T)
        .unwrap();
    assert_eq!(
        dev.faults(),
        [Fault::PinDriven {
            channel: 0,
            port: faults::Port::Low,
            bit: 7,
            why: "SRST_B"
        }]
    );
}

#[test]
fn the_tap_answers_only_on_its_channel() {
    let dev = ft4232h();
    let b = dev.channel(1);
    b.control_out(request::SET_BITMODE, 0x020B, 2, T).unwrap();
    // Channel B: five TMS ones reach no TAP.
    b.write_bulk(&[0x80, 0x08, 0x0B, 0x4B, 0x04, 0x1F, 0x4B, 0x00, 0x00], T)
        .unwrap();
    assert_eq!(dev.core(1).counters().tck_cycles, 6);
    assert_eq!(dev.with_chain(|c| c.tck_cycles()), 0);
}
