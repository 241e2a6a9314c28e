//! The XVC server over real TCP on 127.0.0.1, against simulated cables.

use crate::kit::{poll, runtime, XvcClient, T};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use xvc_agent::sim::{DirectCable, JtagChain};
use xvc_agent::xvc::server::{channel_sink, CableServer, OnBusy, ServerEvent, ServerSettings};

fn start_server(
    rt: &tokio::runtime::Runtime,
    name: &str,
) -> (
    CableServer,
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<ServerEvent>,
) {
    start_server_with(rt, ServerSettings::new(name))
}

fn start_server_with(
    rt: &tokio::runtime::Runtime,
    settings: ServerSettings,
) -> (
    CableServer,
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<ServerEvent>,
) {
    let (sink, rx) = channel_sink();
    let server = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        CableServer::start(
            listener,
            Some(Box::new(DirectCable::new(JtagChain::xc7a35t()))),
            settings,
            Some(sink),
        )
        .unwrap()
    });
    let addr = server.local_addr();
    (server, addr, rx)
}

#[test]
fn getinfo_settck_and_idcode() {
    let rt = runtime();
    let (_server, addr, _ev) = start_server(&rt, "A");
    let mut c = XvcClient::connect(addr).unwrap();
    assert_eq!(c.getinfo().unwrap(), "xvcServer_v1.0:16384\n");
    // 10 MHz is exact on the FT232H clock; 1 ns is faster than possible: the fastest (30 MHz)
    // is applied and reported; 40 ns is not a divisor: the next slower clock is used.
    assert_eq!(c.settck(100).unwrap(), 100);
    assert_eq!(c.settck(1).unwrap(), 33);
    assert_eq!(c.settck(40).unwrap(), 67);
    assert_eq!(c.read_idcode().unwrap(), 0x0362_D093);
    // Shifts of zero bits and partial bytes are answered.
    assert_eq!(c.shift(0, &[], &[]).unwrap(), Vec::<u8>::new());
    assert_eq!(c.shift(13, &[0, 0], &[0xFF, 0x1F]).unwrap().len(), 2);
}

#[test]
fn pipelined_commands_in_one_write() {
    let rt = runtime();
    let (_server, addr, _ev) = start_server(&rt, "A");
    let mut c = XvcClient::connect(addr).unwrap();
    let mut burst = b"getinfo:".to_vec();
    burst.extend_from_slice(b"settck:");
    burst.extend_from_slice(&100u32.to_le_bytes());
    burst.extend_from_slice(b"shift:");
    burst.extend_from_slice(&5u32.to_le_bytes());
    burst.extend_from_slice(&[0x1F, 0x00]);
    c.stream.write_all(&burst).unwrap();
    let info = b"xvcServer_v1.0:16384\n";
    let mut reply = vec![0u8; info.len() + 4 + 1];
    std::io::Read::read_exact(&mut c.stream, &mut reply).unwrap();
    assert!(reply.starts_with(info));
    assert_eq!(&reply[info.len()..info.len() + 4], &100u32.to_le_bytes());
}

#[test]
fn second_client_refused_then_served_after_first_leaves() {
    let rt = runtime();
    let (_server, addr, mut events) = start_server(&rt, "A");
    let mut first = XvcClient::connect(addr).unwrap();
    assert_eq!(first.read_idcode().unwrap(), 0x0362_D093);

    let mut second = XvcClient::connect(addr).unwrap();
    assert!(second.sees_eof(T), "second client must be closed at once");
    // The first client keeps working after the refusal.
    assert_eq!(first.read_idcode().unwrap(), 0x0362_D093);
    let refused = rt.block_on(async {
        loop {
            match events.recv().await {
                Some(ServerEvent::Refused { reason, .. }) => return reason,
                Some(_) => continue,
                None => panic!("event stream closed"),
            }
        }
    });
    assert_eq!(refused.as_str(), "busy");

    drop(first);
    let id = poll("the cable to be free again", T, || {
        let mut c = XvcClient::connect(addr).ok()?;
        c.read_idcode().ok()
    });
    assert_eq!(id, 0x0362_D093);
}

#[test]
fn garbage_closes_only_that_connection() {
    let rt = runtime();
    let (_a, addr_a, _ea) = start_server(&rt, "A");
    let (_b, addr_b, _eb) = start_server(&rt, "B");
    let mut good = XvcClient::connect(addr_b).unwrap();
    assert_eq!(good.read_idcode().unwrap(), 0x0362_D093);

    let mut bad = XvcClient::connect(addr_a).unwrap();
    bad.stream.write_all(b"hello, is this XVC?").unwrap();
    assert!(bad.sees_eof(T));
    // A client holding the session (getinfo answered) that then sends an oversized shift.
    let mut oversized = poll("cable A free after garbage", T, || {
        let mut c = XvcClient::connect(addr_a).ok()?;
        c.getinfo().ok().map(|_| c)
    });
    let mut msg = b"shift:".to_vec();
    msg.extend_from_slice(&u32::MAX.to_le_bytes());
    oversized.stream.write_all(&msg).unwrap();
    assert!(oversized.sees_eof(T));

    // The other cable's session never noticed.
    assert_eq!(good.read_idcode().unwrap(), 0x0362_D093);
    // And cable A serves a well-behaved client afterwards.
    let id = poll("cable A to serve again", T, || {
        XvcClient::connect(addr_a).ok()?.read_idcode().ok()
    });
    assert_eq!(id, 0x0362_D093);
}

#[test]
fn tcf_on_the_xvc_port_is_closed() {
    let rt = runtime();
    let (_server, addr, mut events) = start_server(&rt, "A");
    let mut c = XvcClient::connect(addr).unwrap();
    c.stream.write_all(b"E\0Locator\0Hello\0").unwrap();
    assert!(c.sees_eof(T));
    let end = rt.block_on(async {
        loop {
            if let Some(ServerEvent::ClientDisconnected { end, .. }) = events.recv().await {
                return end;
            }
        }
    });
    assert!(format!("{end:?}").contains("xvc_url"), "{end:?}");
}

#[test]
fn shutdown_closes_port_and_session_and_returns_cable() {
    let rt = runtime();
    let (server, addr, _ev) = start_server(&rt, "A");
    let mut c = XvcClient::connect(addr).unwrap();
    assert_eq!(c.read_idcode().unwrap(), 0x0362_D093);
    let cable = rt.block_on(server.shutdown(T));
    assert!(
        cable.is_some(),
        "the cable comes back after the session ends"
    );
    assert!(c.sees_eof(T), "client sees EOF");
    assert!(std::net::TcpStream::connect(addr).is_err(), "port closed");
}

#[test]
fn on_busy_queue_serves_the_waiting_client_when_the_cable_frees() {
    let rt = runtime();
    let mut settings = ServerSettings::new("A");
    settings.on_busy = OnBusy::Queue(T);
    let (_server, addr, _ev) = start_server_with(&rt, settings);
    let mut first = XvcClient::connect(addr).unwrap();
    assert_eq!(first.read_idcode().unwrap(), 0x0362_D093);
    // The second client's request waits in the queue...
    let waiting = std::thread::spawn(move || {
        let mut second = XvcClient::connect(addr).unwrap();
        second.read_idcode().unwrap()
    });
    // ...while the first keeps working, and is answered once the first leaves.
    assert_eq!(first.read_idcode().unwrap(), 0x0362_D093);
    drop(first);
    assert_eq!(waiting.join().unwrap(), 0x0362_D093);
}

#[test]
fn on_busy_queue_gives_up_after_its_timeout() {
    let rt = runtime();
    let mut settings = ServerSettings::new("A");
    settings.on_busy = OnBusy::Queue(Duration::from_millis(200));
    let (_server, addr, mut events) = start_server_with(&rt, settings);
    let mut first = XvcClient::connect(addr).unwrap();
    assert_eq!(first.read_idcode().unwrap(), 0x0362_D093);
    let mut second = XvcClient::connect(addr).unwrap();
    assert!(second.sees_eof(T));
    let reason = rt.block_on(async {
        loop {
            if let Some(ServerEvent::Refused { reason, .. }) = events.recv().await {
                return reason;
            }
        }
    });
    assert_eq!(reason.as_str(), "queue_timeout");
    assert_eq!(first.read_idcode().unwrap(), 0x0362_D093);
}

#[test]
fn idle_timeout_ends_a_silent_session_and_frees_the_cable() {
    let rt = runtime();
    let mut settings = ServerSettings::new("A");
    settings.idle_timeout = Some(Duration::from_millis(200));
    let (_server, addr, _ev) = start_server_with(&rt, settings);
    let mut first = XvcClient::connect(addr).unwrap();
    assert_eq!(first.read_idcode().unwrap(), 0x0362_D093);
    assert!(first.sees_eof(T), "idle session closed");
    let id = poll("the cable to be free", T, || {
        XvcClient::connect(addr).ok()?.read_idcode().ok()
    });
    assert_eq!(id, 0x0362_D093);
}
