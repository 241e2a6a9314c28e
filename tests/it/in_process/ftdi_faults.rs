//! Faults injected in the FT232H emulator surface as the right typed error, never a panic,
//! and a session hit by one ends cleanly while the server stays up.

use std::io::{Read, Write};
use std::time::Duration;
use xvc_agent::ftdi::profiles::HS2;
use xvc_agent::ftdi::{CableOptions, FtdiCable, FtdiError, TdoEdge, Timeouts};
use xvc_agent::jtag::{Cable, CableError};
use xvc_agent::sim::ft232h::{Ft232h, ReplyFault};
use xvc_agent::sim::JtagChain;
use xvc_agent::xvc::codec;
use xvc_agent::xvc::server::{channel_sink, CableServer, ServerEvent, ServerSettings, SessionEnd};

const QUICK: Timeouts = Timeouts {
    control: Duration::from_millis(200),
    io: Duration::from_millis(150),
};

fn open(chip: &Ft232h) -> Result<FtdiCable<Ft232h>, FtdiError> {
    FtdiCable::open_with(
        chip.clone(),
        &HS2,
        CableOptions {
            tdo_edge: Some(TdoEdge::Rising),
            timeouts: QUICK,
            ..CableOptions::default()
        },
    )
}

/// Test-Logic-Reset, Shift-DR, reads the IDCODE.
fn read_idcode(cable: &mut impl Cable) -> Result<u32, CableError> {
    let mut tms = [0u8; 6];
    for i in [0, 1, 2, 3, 4, 6] {
        tms[i / 8] |= 1 << (i % 8);
    }
    let mut tdo = [0u8; 6];
    cable.shift(41, &tms, &[0; 6], &mut tdo)?;
    let bits = u64::from_le_bytes([tdo[0], tdo[1], tdo[2], tdo[3], tdo[4], tdo[5], 0, 0]);
    Ok((bits >> 9) as u32)
}

/// A long TMS-0 shift (overlapped read and write).
fn long_shift(cable: &mut impl Cable, nbytes: usize) -> Result<(), CableError> {
    let tms = vec![0u8; nbytes];
    let tdi: Vec<u8> = (0..nbytes).map(|i| i as u8).collect();
    let mut tdo = vec![0u8; nbytes];
    cable.shift((nbytes * 8) as u32, &tms, &tdi, &mut tdo)
}

#[test]
fn unplug_in_the_middle_of_a_transfer_is_gone_for_good() {
    let chip = Ft232h::hs2(JtagChain::xc7a35t());
    let mut cable = open(&chip).unwrap();
    assert_eq!(read_idcode(&mut cable).unwrap(), 0x0362_D093);
    chip.unplug_after_out_bytes(20_000);
    assert!(matches!(
        long_shift(&mut cable, 100_000),
        Err(CableError::Gone)
    ));
    assert!(matches!(read_idcode(&mut cable), Err(CableError::Gone)));
    assert!(matches!(cable.set_tck_period(100), Err(CableError::Gone)));
    // Reopening an unplugged device fails the same way.
    assert_eq!(open(&chip).unwrap_err(), FtdiError::Gone);
}

#[test]
fn read_timeout_is_a_timeout_and_the_cable_recovers() {
    let chip = Ft232h::hs2(JtagChain::xc7a35t());
    let mut cable = open(&chip).unwrap();
    chip.time_out_reads(1);
    assert!(matches!(
        read_idcode(&mut cable),
        Err(CableError::Timeout(_))
    ));
    // The next shift resynchronises first and works.
    assert_eq!(read_idcode(&mut cable).unwrap(), 0x0362_D093);
}

#[test]
fn dropped_reply_byte_is_a_desync_and_the_cable_recovers() {
    let chip = Ft232h::hs2(JtagChain::xc7a35t());
    let mut cable = open(&chip).unwrap();
    chip.corrupt_reply(ReplyFault::Drop { at: 2 });
    let err = read_idcode(&mut cable).unwrap_err();
    assert!(matches!(err, CableError::Desync(_)), "{err}");
    assert_eq!(read_idcode(&mut cable).unwrap(), 0x0362_D093);
}

#[test]
fn extra_reply_byte_is_a_desync() {
    let chip = Ft232h::hs2(JtagChain::xc7a35t());
    let mut cable = open(&chip).unwrap();
    chip.corrupt_reply(ReplyFault::Insert { at: 1, byte: 0x55 });
    let err = read_idcode(&mut cable).unwrap_err();
    assert!(matches!(err, CableError::Desync(_)), "{err}");
    assert_eq!(read_idcode(&mut cable).unwrap(), 0x0362_D093);
}

#[test]
fn desync_in_a_long_overlapped_transfer() {
    let chip = Ft232h::hs2(JtagChain::xc7a35t());
    let mut cable = open(&chip).unwrap();
    chip.corrupt_reply(ReplyFault::Drop { at: 30_000 });
    let err = long_shift(&mut cable, 100_000).unwrap_err();
    assert!(matches!(err, CableError::Desync(_)), "{err}");
    long_shift(&mut cable, 100_000).unwrap();
}

#[test]
fn failed_sync_check_at_open_is_a_desync() {
    let chip = Ft232h::hs2(JtagChain::xc7a35t());
    chip.corrupt_reply(ReplyFault::Insert { at: 0, byte: 0x00 });
    assert!(matches!(open(&chip), Err(FtdiError::Desync(_))));
    // A fresh open (reset, purge, sync) works.
    let mut cable = open(&chip).unwrap();
    assert_eq!(read_idcode(&mut cable).unwrap(), 0x0362_D093);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplug_during_a_session_ends_it_cleanly() {
    let chip = Ft232h::hs2(JtagChain::xc7a35t());
    let cable = open(&chip).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (sink, mut events) = channel_sink();
    let server = CableServer::start(
        listener,
        Some(Box::new(cable)),
        ServerSettings::new("emulated-hs2"),
        Some(sink),
    )
    .unwrap();
    let addr = server.local_addr();
    chip.unplug_after_out_bytes(5_000);

    let client = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let n = xvc_agent::xvc::DEFAULT_MAX_VECTOR_BYTES; // the longest shift by default
        let tdi = vec![0x5Au8; n];
        s.write_all(&codec::encode_shift((n * 8) as u32, &vec![0; n], &tdi))
            .unwrap();
        let mut buf = vec![0u8; n];
        // The server closes the session instead of answering.
        let got = s.read(&mut buf).unwrap_or(0);
        assert_eq!(got, 0, "expected EOF, got {got} bytes");
    });
    client.await.unwrap();

    let mut failed = None;
    let mut ended = None;
    while ended.is_none() {
        let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("server event")
            .expect("event channel open");
        match ev {
            ServerEvent::CableFailed { error } => failed = Some(error.to_string()),
            ServerEvent::ClientDisconnected { end, .. } => ended = Some(end),
            _ => {}
        }
    }
    match ended.unwrap() {
        SessionEnd::CableFailed(e) => assert!(e.is_gone(), "{e}"),
        other => panic!("session ended with {other:?}"),
    }
    assert!(failed.unwrap().contains("disconnected"));
    // The server stays up without the failed handle (its owner reopens the cable), and has
    // nothing to hand back on shutdown.
    assert!(!server.has_cable());
    assert!(server.shutdown(Duration::from_secs(5)).await.is_none());
}
