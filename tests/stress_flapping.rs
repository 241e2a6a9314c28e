//! Flapping cables: the agent in-process sees 1000 attach/detach cycles of simulated cables
//! (`XVC_STRESS_CYCLES` for more), with clients reading the IDCODE between them, and must end
//! where it started: the same open descriptors and threads, RSS within a small allowance, and
//! no port left bound.
//!
//! This file holds a single test on purpose: descriptors, threads and RSS are read from
//! /proc/self, which a second test running in parallel in this process would disturb.

// The kit serves every integration test; this binary uses a part of it.
#[allow(dead_code, unused_imports)]
mod kit;

use indoc::formatdoc;
use kit::procfs::resources;
use kit::{env_count, loopback, poll, port_block, refused, InProcess, XvcClient};
use kit::{IDCODE, T};
use xvc_agent::agent::state::CableState;

/// RSS growth allowed over the cycles. The allocator keeps freed pages in its arenas and
/// tokio's blocking pool keeps a thread's stack warm; neither grows with the cycle count. A leak
/// of even a few hundred bytes per cycle would show over 10 000 cycles (`make stress`).
const RSS_SLACK_KIB: u64 = 4 * 1024;

/// Plugs cables 1 and 2, reads the IDCODE through each, and unplugs both. When `hold` is set,
/// cable 1's client stays connected through the unplug and must see its session end.
fn cycle(h: &InProcess, ports: (u16, u16), hold: bool) {
    h.plug(1);
    h.plug(2);
    // A plugged cable is identified (its EEPROM read on a blocking thread) before its port is
    // bound; then clients wait in the listen backlog until it is open.
    let st = poll("both cables identified and given a port", T, || {
        let st = h.status();
        (st.cables.len() == 2 && st.cables.iter().all(|c| c.port.is_some())).then_some(st)
    });
    let port_of = |serial: &str| {
        st.cables
            .iter()
            .find(|c| c.serial.as_deref() == Some(serial))
            .and_then(|c| c.port)
            .unwrap_or_else(|| panic!("{serial} has no port: {st:?}"))
    };
    assert_eq!((port_of("SIM000001"), port_of("SIM000002")), ports);
    let mut a = XvcClient::connect(loopback(ports.0)).expect("connect to cable 1");
    let mut b = XvcClient::connect(loopback(ports.1)).expect("connect to cable 2");
    assert_eq!(a.read_idcode().unwrap(), IDCODE);
    assert_eq!(b.read_idcode().unwrap(), IDCODE);
    drop(b);
    let held = hold.then_some(a);
    h.unplug(1);
    h.unplug(2);
    let st = h.status();
    assert!(st.cables.is_empty(), "cables left after unplug: {st:?}");
    if let Some(mut a) = held {
        assert!(a.sees_eof(T), "a session survived its cable's unplug");
    }
    assert!(refused(ports.0), "port {} still bound", ports.0);
    assert!(refused(ports.1), "port {} still bound", ports.1);
}

#[test]
fn plug_cycles_leave_no_descriptor_thread_memory_or_port_behind() {
    let cycles = env_count("XVC_STRESS_CYCLES", 1000);
    let p = port_block(2);
    let yaml = formatdoc!(
        "
        listen: 127.0.0.1
        ports: {p}-{}
        ",
        p + 1
    );
    let h = InProcess::simulated(&yaml, &[]);
    // Warm-up: the runtime's blocking pool, the allocator's arenas and the lease file reach
    // their working size.
    for i in 0..20 {
        cycle(&h, (p, p + 1), i % 10 == 0);
    }
    let before = resources(None);
    let started = std::time::Instant::now();
    for i in 0..cycles {
        cycle(&h, (p, p + 1), i % 10 == 0);
    }
    let took = started.elapsed();
    // Session threads end just after their client sees EOF, and the blocking pool lets an
    // idle thread go after its keep-alive (shortened by the harness). Wait for both to settle
    // to (at most) the starting point.
    let after = poll(
        "descriptors and threads back to their starting counts",
        T,
        || {
            let now = resources(None);
            (now.fds <= before.fds && now.threads <= before.threads).then_some(now)
        },
    );
    println!(
        "flapping: {cycles} cycles (2 cables plugged, 2 sessions, 2 unplugged each) in {:.1} s, {:.2} ms per cycle",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e3 / cycles as f64
    );
    println!("  before: {before}");
    println!("  after:  {after}");
    println!(
        "  RSS change {:+} KiB (allowed {RSS_SLACK_KIB} KiB)",
        after.rss_kib as i64 - before.rss_kib as i64
    );
    assert!(
        after.rss_kib <= before.rss_kib + RSS_SLACK_KIB,
        "RSS grew from {} to {} KiB",
        before.rss_kib,
        after.rss_kib
    );
    // The agent still serves after all that.
    h.plug(1);
    assert_eq!(h.wait_state("SIM000001", CableState::Serving), Some(p));
    assert_eq!(
        XvcClient::connect(loopback(p))
            .unwrap()
            .read_idcode()
            .unwrap(),
        IDCODE
    );
    h.stop();
}
