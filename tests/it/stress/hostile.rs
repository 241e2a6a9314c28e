//! Hostile and broken clients against the agent binary: garbage, truncated commands, `nbits`
//! 0 and near 2^32, a client sending a byte every 100 ms, 200 simultaneous connections to a
//! cable someone holds, a peer outside the allowlist, and a flood of headers declaring huge
//! vectors. Each loses at most its own connection; the rightful session on the other cable
//! reads the right IDCODE throughout; the agent's memory stays bounded (no allocation sized
//! by an unchecked length) and its descriptors and threads come back.
//!
//! Every test is one kind of hostility in its own [`Scene`]: an agent with two cables, the
//! rightful owner on the first.

use crate::kit::procfs::Resources;
use crate::kit::{loopback, poll, port_block, Agent, XvcClient, IDCODE, T};
use indoc::formatdoc;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xvc_agent::xvc::codec;

/// The rightful client: reads the IDCODE over and over on its own thread until told to stop,
/// and fails the test on the first wrong or missing answer.
struct Owner {
    stop: Arc<AtomicBool>,
    reads: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<Result<(), String>>,
}

impl Owner {
    fn start(port: u16) -> Owner {
        let mut c = XvcClient::connect(loopback(port)).unwrap();
        assert_eq!(c.read_idcode().unwrap(), IDCODE);
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let (s, r) = (stop.clone(), reads.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match c.read_idcode() {
                    Ok(IDCODE) => r.fetch_add(1, Ordering::SeqCst),
                    Ok(other) => return Err(format!("read IDCODE {other:#010x}")),
                    Err(e) => return Err(format!("session broken: {e}")),
                };
            }
            Ok(())
        });
        Owner {
            stop,
            reads,
            thread,
        }
    }

    /// Fails unless the owner made progress since `since` reads.
    fn check_progress(&self, since: u64, what: &str) -> u64 {
        poll(
            &format!("the owner's session to go on after {what}"),
            T,
            || {
                let n = self.reads.load(Ordering::SeqCst);
                (n > since).then_some(n)
            },
        )
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .join()
            .unwrap()
            .expect("the rightful session never fails");
        self.reads.load(Ordering::SeqCst)
    }
}

fn connect(port: u16) -> TcpStream {
    crate::kit::raw_stream(loopback(port))
}

/// Reads until the server closes the connection; true if it did (EOF or reset) in time.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// Sends `bytes` on a fresh connection to `port`, optionally ends the sending side, and
/// checks the server closes it.
fn send_and_expect_close(port: u16, bytes: &[u8], half_close: bool, what: &str) {
    let mut s = connect(port);
    // The server may close before everything is written (it rejects from a prefix).
    let _ = s.write_all(bytes);
    if half_close {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    assert!(closed_by_server(&mut s), "{what}: connection not closed");
}

/// After a hostile client, the next one on the same cable is served normally.
fn served_normally(port: u16, what: &str) {
    let mut c = crate::kit::session(loopback(port));
    assert_eq!(c.read_idcode().unwrap(), IDCODE, "after {what}");
}

fn shift_header(nbits: u32) -> Vec<u8> {
    let mut v = b"shift:".to_vec();
    v.extend_from_slice(&nbits.to_le_bytes());
    v
}

fn refused_count(agent: &Agent, serial: &str, reason: &str) -> u64 {
    let st = agent.status();
    st["cables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == serial)
        .and_then(|c| c["refused"][reason].as_u64())
        .unwrap_or(0)
}

/// Whether the second cable is free (served, no session on it).
fn open_is_free(agent: &Agent) -> bool {
    agent.state_of("SIM000002").as_deref() == Some("serving")
}

/// An agent serving two simulated cables to 127.0.0.1 only (strict access): the owner holds
/// the first (`held`) and reads its IDCODE throughout; the second (`open`) is free, its
/// warm-up session done, so that the baseline includes a session's buffers.
struct Scene {
    agent: Agent,
    held: u16,
    open: u16,
    owner: Owner,
    /// The owner's reads at the last check.
    progress: u64,
    baseline: Resources,
}

impl Scene {
    fn start() -> Scene {
        let p = port_block(2);
        let agent = Agent::start(
            &formatdoc!(
                "
                listen: 127.0.0.1
                ports: {p}-{}
                allow: [127.0.0.1/32]
                access: strict
                ",
                p + 1
            ),
            &["--simulate", "2"],
        );
        let (held, open) = (p, p + 1);
        let owner = Owner::start(held);
        let progress = owner.check_progress(0, "start");
        served_normally(open, "nothing");
        poll("cable 2's warm-up session to end", T, || {
            open_is_free(&agent).then_some(())
        });
        Scene {
            baseline: agent.resources(),
            agent,
            held,
            open,
            owner,
            progress,
        }
    }

    /// Fails unless the owner read its IDCODE again since the last check.
    fn owner_went_on_after(&mut self, what: &str) {
        self.progress = self.owner.check_progress(self.progress, what);
    }

    /// The owner's session never failed, the agent's descriptors and threads are back to the
    /// baseline, and it stops cleanly.
    fn finish(mut self) {
        let after = poll("descriptors and threads back to the baseline", T, || {
            let r = self.agent.resources();
            (open_is_free(&self.agent)
                && r.fds <= self.baseline.fds
                && r.threads <= self.baseline.threads)
                .then_some(r)
        });
        println!("agent before hostile clients: {}", self.baseline);
        println!("agent after:                  {after}");
        let progress = self.progress;
        let reads = self.owner.finish();
        println!(
            "the owner read the right IDCODE {reads} times throughout ({progress} at the last check)"
        );
        let st = self.agent.status();
        println!(
            "cable 1: {} sessions, refused {}; cable 2: {} sessions, refused {}",
            st["cables"][0]["sessions"],
            st["cables"][0]["refused"],
            st["cables"][1]["sessions"],
            st["cables"][1]["refused"]
        );
        assert!(self.agent.terminate().0.success());
    }
}

#[test]
fn garbage_and_truncated_commands_close_only_their_own_connection() {
    let mut scene = Scene::start();
    let (held, open) = (scene.held, scene.open);
    let mut garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    garbage[0] = b'x';
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("garbage", garbage, false),
        ("a TCF greeting", b"E\0Locator\0Hello\0".to_vec(), false),
        ("a mistyped command", b"getinfo;".to_vec(), false),
        ("a truncated header", b"shift:\x40\x00".to_vec(), true),
        (
            "truncated vectors",
            {
                let mut v = shift_header(64);
                v.extend_from_slice(&[0xFF; 11]);
                v
            },
            true,
        ),
        ("a truncated settck", b"settck:\x01".to_vec(), true),
        ("nbits 2^32 - 1", shift_header(u32::MAX), false),
        ("nbits 2^32 - 7", shift_header(u32::MAX - 6), false),
        (
            "nbits just over 16 KiB vectors",
            shift_header(8 * 16 * 1024 + 1),
            false,
        ),
    ];
    for (what, bytes, half_close) in &cases {
        send_and_expect_close(open, bytes, *half_close, what);
        served_normally(open, what);
        scene.owner_went_on_after(what);
        // The same against the held cable: refused before a byte is read.
        send_and_expect_close(held, bytes, *half_close, what);
    }
    scene.finish();
}

#[test]
fn nbits_zero_is_an_empty_reply_and_the_session_goes_on() {
    let scene = Scene::start();
    let mut c = XvcClient::connect(loopback(scene.open)).unwrap();
    assert_eq!(c.shift(0, &[], &[]).unwrap(), Vec::<u8>::new());
    assert!(c.getinfo().unwrap().starts_with("xvcServer_v1.0:"));
    assert_eq!(c.read_idcode().unwrap(), IDCODE);
    drop(c);
    scene.finish();
}

#[test]
fn a_slow_client_is_served_without_slowing_the_owner() {
    // A getinfo and the IDCODE scan, one byte every 100 ms.
    let mut scene = Scene::start();
    let mut slow = XvcClient::connect(loopback(scene.open)).unwrap();
    let mut request = b"getinfo:".to_vec();
    request.extend(codec::encode_shift(9, &[0x1F, 0x01], &[0, 0]));
    let started = Instant::now();
    let before_slow = scene.owner.reads.load(Ordering::SeqCst);
    for b in &request {
        slow.stream.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut reply = vec![0u8; b"xvcServer_v1.0:16384\n".len() + 2];
    slow.stream.read_exact(&mut reply).unwrap();
    assert!(reply.starts_with(b"xvcServer_v1.0:"));
    let during_slow = scene.owner.reads.load(Ordering::SeqCst) - before_slow;
    println!(
        "slow client: {} bytes over {:.1} s served; the owner read the IDCODE {during_slow} times meanwhile",
        request.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(during_slow > 0);
    drop(slow);
    served_normally(scene.open, "the slow client");
    scene.owner_went_on_after("the slow client");
    scene.finish();
}

#[test]
fn a_peer_outside_the_allowlist_is_closed_before_a_byte_is_read() {
    let scene = Scene::start();
    let before = refused_count(&scene.agent, "SIM000002", "not_allowed");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    socket.connect(&loopback(scene.open).into()).unwrap();
    let mut outsider: TcpStream = socket.into();
    outsider.set_read_timeout(Some(T)).unwrap();
    let _ = outsider.write_all(b"getinfo:");
    assert!(closed_by_server(&mut outsider), "outsider served");
    assert_eq!(
        refused_count(&scene.agent, "SIM000002", "not_allowed"),
        before + 1
    );
    served_normally(scene.open, "the outsider");
    scene.finish();
}

#[test]
fn two_hundred_connections_to_a_held_cable_are_all_refused() {
    let mut scene = Scene::start();
    let busy_before = refused_count(&scene.agent, "SIM000001", "busy");
    let mut crowd: Vec<TcpStream> = (0..200).map(|_| connect(scene.held)).collect();
    for s in &mut crowd {
        let _ = s.write_all(b"getinfo:");
    }
    let refused = crowd
        .iter_mut()
        .map(closed_by_server)
        .filter(|&c| c)
        .count();
    assert_eq!(refused, 200, "only {refused} of 200 refused");
    assert_eq!(
        refused_count(&scene.agent, "SIM000001", "busy"),
        busy_before + 200
    );
    drop(crowd);
    scene.owner_went_on_after("200 simultaneous connections");
    scene.finish();
}

#[test]
fn a_flood_of_oversized_headers_leaves_memory_bounded() {
    // Headers declaring vectors over the limit, and headers at the limit followed by a little
    // data: memory must not follow the declared lengths.
    let mut scene = Scene::start();
    let open = scene.open;
    let rss_before = scene.agent.resources().rss_kib;
    let flood = 1000;
    for i in 0..flood {
        if i % 10 == 0 {
            let mut s = connect(open);
            let mut v = shift_header(8 * 1024 * 1024);
            v.extend_from_slice(&[0xA5; 16 * 1024]);
            s.write_all(&v).unwrap();
            drop(s);
        } else {
            send_and_expect_close(open, &shift_header(u32::MAX - i), false, "oversized");
        }
    }
    served_normally(open, "the flood");
    let rss_after = scene.agent.resources().rss_kib;
    scene.owner_went_on_after("the flood");
    println!(
        "flood of {flood} oversized / at-limit headers: agent RSS {} -> {} KiB ({:+} KiB)",
        rss_before,
        rss_after,
        rss_after as i64 - rss_before as i64
    );
    // Declared lengths add up to gigabytes; a few MiB of allocator slack is all that may show.
    assert!(
        rss_after <= rss_before + 8 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    scene.finish();
}
