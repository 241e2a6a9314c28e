//! The TCP habits of real XVC clients, each played with a raw socket against the per-cable
//! server, the FTDI driver and the FT232H emulator:
//! - openFPGALoader (up to 1.1.1) reads each reply with a single `recv()`;
//! - openFPGALoader (before 1.1.0) sends `shift:` and its vectors in two writes without
//!   TCP_NODELAY, so its Nagle waits for our ACK of the header;
//! - probe-rs sends N bytes per vector, so messages of up to 2N + 10 bytes;
//! - probe-rs never sends `settck:`.

use crate::kit::{poll, runtime, T};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use xvc_agent::ftdi::profiles::HS2;
use xvc_agent::ftdi::{FtdiCable, TdoEdge};
use xvc_agent::sim::ft232h::Ft232h;
use xvc_agent::sim::JtagChain;
use xvc_agent::xvc::codec::encode_shift;
use xvc_agent::xvc::server::{CableServer, ServerSettings};
use xvc_agent::xvc::DEFAULT_MAX_VECTOR_BYTES as N;

/// A server with the default settings over an emulated HS2; the chip is returned to read its
/// clock divisor.
fn start(rt: &tokio::runtime::Runtime) -> (CableServer, SocketAddr, Ft232h) {
    let chip = Ft232h::hs2(JtagChain::xc7a35t());
    let cable = FtdiCable::open(chip.clone(), &HS2, TdoEdge::Rising).unwrap();
    let server = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        CableServer::start(
            listener,
            Some(Box::new(cable)),
            ServerSettings::new("emulated-hs2"),
            None,
        )
        .unwrap()
    });
    let addr = server.local_addr();
    (server, addr, chip)
}

/// A client socket as an old openFPGALoader opens it: Nagle on, blocking reads.
fn plain_client(addr: SocketAddr) -> TcpStream {
    let s = poll(&format!("a connection to {addr}"), T, || {
        TcpStream::connect(addr).ok()
    });
    s.set_read_timeout(Some(T)).unwrap();
    s
}

/// Reads exactly `n` bytes.
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn every_reply_arrives_whole_for_a_client_that_reads_once() {
    let rt = runtime();
    let (server, addr, _chip) = start(&rt);
    let mut s = plain_client(addr);
    s.set_nodelay(true).unwrap();
    let want = format!("xvcServer_v1.0:{N}\n");
    s.write_all(b"getinfo:").unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], want.as_bytes(), "getinfo: answered in pieces");

    // Shifts of the sizes openFPGALoader makes (up to N/2 bytes per vector), in
    // Test-Logic-Reset (TMS high), each reply read with one recv().
    let sizes = [1usize, 3, 64, 511, 512, 513, 1000, 4096, 8000, N / 2];
    for round in 0..20 {
        for &bytes in &sizes {
            let tms = vec![0xFF; bytes];
            let tdi = vec![(round * 37 + bytes) as u8; bytes];
            s.write_all(&encode_shift(bytes as u32 * 8, &tms, &tdi))
                .unwrap();
            let mut reply = vec![0u8; bytes + 16];
            let n = s.read(&mut reply).unwrap();
            assert_eq!(
                n, bytes,
                "round {round}: a {bytes}-byte reply came in pieces (first read: {n} bytes)"
            );
        }
    }
    drop(s);
    rt.block_on(server.shutdown(Duration::from_secs(5)));
}

/// Plays `shifts` shifts as openFPGALoader before 1.1.0 sends them (header, then vectors, in
/// two writes with Nagle on) against `addr`; returns the time they took.
fn split_shifts(addr: SocketAddr, shifts: usize) -> Duration {
    let mut s = plain_client(addr);
    let started = Instant::now();
    for i in 0..shifts {
        let msg = encode_shift(8, &[0xFF], &[i as u8]);
        s.write_all(&msg[..10]).unwrap(); // "shift:" and the bit count
        s.write_all(&msg[10..]).unwrap(); // TMS and TDI
        read_n(&mut s, 1);
    }
    started.elapsed()
}

/// A plain server that answers shifts of one byte but leaves the kernel's delayed ACKs as they
/// are: what a client like that costs without the agent's quick ACKs.
fn delayed_ack_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut msg = [0u8; 12];
        while s.read_exact(&mut msg).is_ok() {
            if s.write_all(&[msg[11]]).is_err() {
                return;
            }
        }
    });
    addr
}

#[test]
fn a_shift_sent_in_two_writes_with_nagle_on_costs_no_delayed_ack_stall() {
    const SHIFTS: usize = 25;
    let rt = runtime();
    let (server, addr, _chip) = start(&rt);
    // The same exchange against a server without quick ACKs shows what a stall costs here:
    // the client's second write waits for the ACK of its first.
    let stalled = split_shifts(delayed_ack_server(), SHIFTS);
    let agent = split_shifts(addr, SHIFTS);
    println!(
        "{SHIFTS} split shifts: {:.1} ms with delayed ACKs, {:.1} ms against the agent",
        stalled.as_secs_f64() * 1e3,
        agent.as_secs_f64() * 1e3
    );
    assert!(
        stalled >= Duration::from_millis(20) * SHIFTS as u32 / 2,
        "the reference server did not show the delayed-ACK stall ({stalled:?}): the test \
         cannot tell a stall from none on this kernel"
    );
    assert!(
        agent * 4 < stalled,
        "split shifts stall on the agent too: {agent:?} vs {stalled:?} with delayed ACKs"
    );
    rt.block_on(server.shutdown(Duration::from_secs(5)));
}

#[test]
fn messages_of_2n_plus_10_bytes_are_served() {
    let rt = runtime();
    let (server, addr, _chip) = start(&rt);
    let mut s = plain_client(addr);
    s.set_nodelay(true).unwrap();
    // probe-rs: N bytes per vector, in one message of 2N + 10 bytes, twice in a row.
    let tms = vec![0xFF; N];
    let tdi: Vec<u8> = (0..N).map(|i| (i * 13) as u8).collect();
    let msg = encode_shift(N as u32 * 8, &tms, &tdi);
    assert_eq!(msg.len(), 2 * N + 10);
    let mut two = msg.clone();
    two.extend_from_slice(&msg);
    s.write_all(&two).unwrap();
    for _ in 0..2 {
        let tdo = read_n(&mut s, N);
        // Outside a shift state TDO is not driven and reads as ones.
        assert!(tdo.iter().all(|&b| b == 0xFF));
    }
    drop(s);
    rt.block_on(server.shutdown(Duration::from_secs(5)));
}

#[test]
fn a_client_that_never_sends_settck_gets_the_default_clock() {
    let rt = runtime();
    let (server, addr, chip) = start(&rt);
    let default_divisor = chip.divisor();
    assert_eq!(default_divisor, 0, "the HS2 opens at 30 MHz");

    // A client slows the clock to 1 MHz and leaves.
    let mut first = crate::kit::session(addr);
    assert_eq!(first.settck(1000).unwrap(), 1000);
    assert_eq!(first.read_idcode().unwrap(), crate::kit::IDCODE);
    assert_eq!(chip.divisor(), 29);
    drop(first);

    // The next one never sends settck: and gets the default clock again.
    let mut next = crate::kit::session(addr);
    assert_eq!(next.read_idcode().unwrap(), crate::kit::IDCODE);
    assert_eq!(chip.divisor(), default_divisor);
    drop(next);
    rt.block_on(server.shutdown(Duration::from_secs(5)));
}
