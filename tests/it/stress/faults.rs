//! Faults the lab throws at a running agent: a USB read timeout, a cable gone in the middle of
//! a shift, short and out-of-step replies, a port another program holds, a burst of SIGHUPs
//! and SIGTERM during transfers. Each costs at most the session on the faulty cable; the other
//! cable's session carries on, and the faulty cable is served again once it can be.

use crate::kit::{
    loopback, opener, poll, port_block, refused, Agent, InProcess, XvcClient, IDCODE, T,
};
use indoc::formatdoc;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use xvc_agent::agent::retry::BIND_RETRY;
use xvc_agent::agent::state::CableState;
use xvc_agent::ftdi::{CableOptions, FtdiCable, Timeouts};
use xvc_agent::hotplug::simulated::sim_cable;
use xvc_agent::sim::ft232h::{Ft232h, ReplyFault};
use xvc_agent::sim::JtagChain;
use xvc_agent::xvc::codec;

/// Short driver time limits, so an injected timeout costs a fraction of a second.
const QUICK: Timeouts = Timeouts {
    control: Duration::from_millis(200),
    io: Duration::from_millis(200),
};

/// The emulated HS2s an opener made, kept so a test can inject faults into them. A reopen
/// after an error finds the same chip, as a real reopen finds the same device;
/// [`Chips::replace`] models a replug (a new device).
#[derive(Default)]
struct Chips {
    chips: Mutex<HashMap<PathBuf, Ft232h>>,
    opens: AtomicUsize,
}

impl Chips {
    /// The chip of simulated cable `i` (once the agent has opened it).
    fn chip(&self, i: usize) -> Ft232h {
        let key = sim_cable(i).syspath;
        poll(&format!("cable {i} opened"), T, || {
            self.chips.lock().unwrap().get(&key).cloned()
        })
    }

    /// Forgets cable `i`'s chip: the next open gets a new device.
    fn replace(&self, i: usize) {
        self.chips.lock().unwrap().remove(&sim_cable(i).syspath);
    }

    /// The chip of the device at `syspath`, made on its first open; counts the opens.
    fn open(&self, syspath: &std::path::Path) -> Ft232h {
        self.opens.fetch_add(1, Ordering::SeqCst);
        self.chips
            .lock()
            .unwrap()
            .entry(syspath.to_path_buf())
            .or_insert_with(|| Ft232h::hs2(JtagChain::xc7a35t()))
            .clone()
    }
}

/// Two cables, 1 on port `p` and 2 on `p + 1`; a bystander session on cable 2.
struct TwoCables {
    h: InProcess,
    chips: Arc<Chips>,
    p: u16,
    bystander: XvcClient,
}

impl TwoCables {
    fn start() -> TwoCables {
        let p = port_block(2);
        let chips = Arc::new(Chips::default());
        let yaml = formatdoc!(
            "
            listen: 127.0.0.1
            ports: {}-{}
            cables:
              - match: {{ serial: SIM000001 }}
                port: {p}
              - match: {{ serial: SIM000002 }}
                port: {}
            ",
            p + 2,
            p + 2,
            p + 1
        );
        // Opens emulated HS2s like the simulated opener, on chips the test can reach.
        let emulated = {
            let chips = chips.clone();
            opener(move |info, profile, options| {
                let chip = chips.open(&info.syspath);
                let options = CableOptions {
                    timeouts: QUICK,
                    ..*options
                };
                Ok(Box::new(FtdiCable::open_with(chip, profile, options)?))
            })
        };
        let h = InProcess::start(&yaml, &[1, 2], emulated);
        h.wait_state("SIM000001", CableState::Serving);
        let mut bystander = XvcClient::connect(loopback(p + 1)).unwrap();
        assert_eq!(bystander.read_idcode().unwrap(), IDCODE);
        TwoCables {
            h,
            chips,
            p,
            bystander,
        }
    }

    /// A new session on cable 1, once the previous one has ended (a client arriving while the
    /// last one is still being closed would be refused as busy).
    fn session(&self) -> XvcClient {
        self.h.wait_state("SIM000001", CableState::Serving);
        let mut c = XvcClient::connect(loopback(self.p)).unwrap();
        assert_eq!(c.read_idcode().unwrap(), IDCODE);
        c
    }

    /// The bystander's session is intact.
    fn check_bystander(&mut self) {
        assert_eq!(
            self.bystander.read_idcode().unwrap(),
            IDCODE,
            "cable 2's session was disturbed"
        );
        assert_eq!(
            self.h.state_of("SIM000002"),
            Some((CableState::Busy, Some(self.p + 1)))
        );
    }

    fn cable1(&self) -> xvc_agent::agent::status::CableStatus {
        self.h
            .status()
            .cables
            .into_iter()
            .find(|c| c.serial.as_deref() == Some("SIM000001"))
            .expect("cable 1 attached")
    }
}

/// A TMS-0 shift of `nbytes` in Run-Test/Idle; returns whether the reply came back whole.
fn shift_completes(c: &mut XvcClient, nbytes: usize) -> bool {
    let tdi: Vec<u8> = (0..nbytes).map(|i| i as u8).collect();
    c.shift((nbytes * 8) as u32, &vec![0; nbytes], &tdi).is_ok()
}

#[test]
fn usb_read_timeout_mid_shift_costs_one_session_and_the_cable_is_reopened() {
    let mut t = TwoCables::start();
    let mut a = t.session();
    t.chips.chip(1).time_out_reads(1);
    assert!(!shift_completes(&mut a, 4096), "a timed-out shift answered");
    assert!(a.sees_eof(T), "the session ends on the timeout");
    // Reopened at once on the same device: serving again, counted in status.
    t.h.wait_state("SIM000001", CableState::Serving);
    let c = t.cable1();
    assert_eq!((c.usb_errors, c.reconnects), (1, 1), "{c:?}");
    assert!(shift_completes(&mut t.session(), 4096));
    t.check_bystander();
    assert_eq!(t.chips.opens.load(Ordering::SeqCst), 3);
    t.h.stop();
}

#[test]
fn short_and_out_of_step_replies_cost_one_session_each() {
    let mut t = TwoCables::start();
    let faults = [
        ReplyFault::Drop { at: 0 },
        ReplyFault::Drop { at: 3000 },
        ReplyFault::Insert { at: 1, byte: 0xFA },
        ReplyFault::Insert {
            at: 5000,
            byte: 0x00,
        },
    ];
    for (n, fault) in faults.into_iter().enumerate() {
        let mut a = t.session();
        t.chips.chip(1).corrupt_reply(fault);
        assert!(!shift_completes(&mut a, 8192), "{fault:?} went unnoticed");
        assert!(a.sees_eof(T), "{fault:?}: session not ended");
        t.h.wait_state("SIM000001", CableState::Serving);
        assert_eq!(t.cable1().usb_errors, n as u64 + 1);
        assert!(shift_completes(&mut t.session(), 8192), "after {fault:?}");
        t.check_bystander();
    }
    t.h.stop();
}

#[test]
fn cable_gone_mid_shift_is_degraded_until_unplugged_and_served_after_replug() {
    let mut t = TwoCables::start();
    let mut a = t.session();
    t.chips.chip(1).unplug_after_out_bytes(2000);
    assert!(!shift_completes(&mut a, 16 * 1024));
    assert!(a.sees_eof(T));
    // The immediate reopen fails (the device is gone): degraded, the port stays bound and
    // clients are refused rather than queued behind a dead cable.
    poll("cable 1 degraded after its failed reopen", T, || {
        let c = t.cable1();
        (c.state == CableState::Degraded && c.usb_errors >= 2).then_some(())
    });
    let mut late = XvcClient::connect(loopback(t.p)).unwrap();
    assert!(late.sees_eof(T), "a client was let in to a gone cable");
    t.check_bystander();
    // udev's remove event: the port closes. A replug is a new device and is served again.
    t.h.unplug(1);
    assert!(t.h.state_of("SIM000001").is_none());
    assert!(refused(t.p));
    t.chips.replace(1);
    t.h.plug(1);
    assert_eq!(t.h.wait_state("SIM000001", CableState::Serving), Some(t.p));
    assert!(shift_completes(&mut t.session(), 16 * 1024));
    t.check_bystander();
    t.h.stop();
}

#[test]
fn a_port_held_by_another_program_is_an_error_and_is_served_once_free() {
    let p = port_block(3);
    // Another program holds cable 1's fixed port.
    let squatter = std::net::TcpListener::bind(loopback(p)).unwrap();
    let yaml = formatdoc!(
        "
        listen: 127.0.0.1
        ports: {}-{}
        cables:
          - match: {{ serial: SIM000001 }}
            port: {p}
        ",
        p + 1,
        p + 2
    );
    let h = InProcess::simulated(&yaml, &[1, 2]);
    assert_eq!(h.wait_state("SIM000001", CableState::Error), Some(p));
    let reason = h.status().cables[0].reason.clone().unwrap_or_default();
    assert!(reason.contains("cannot listen"), "{reason}");
    // The others serve meanwhile.
    assert_eq!(h.wait_state("SIM000002", CableState::Serving), Some(p + 1));
    let mut b = XvcClient::connect(loopback(p + 1)).unwrap();
    assert_eq!(b.read_idcode().unwrap(), IDCODE);
    // Freed: picked up by the next bind retry (every BIND_RETRY), without any event.
    drop(squatter);
    let freed = std::time::Instant::now();
    poll(
        "cable 1 served after its port was freed",
        BIND_RETRY + T,
        || (h.state_of("SIM000001") == Some((CableState::Serving, Some(p)))).then_some(()),
    );
    println!(
        "port freed -> served: {:.2} s (bind retry every {:?})",
        freed.elapsed().as_secs_f64(),
        BIND_RETRY
    );
    let mut a = XvcClient::connect(loopback(p)).unwrap();
    assert_eq!(a.read_idcode().unwrap(), IDCODE);
    assert_eq!(b.read_idcode().unwrap(), IDCODE);
    h.stop();
}

#[test]
fn a_burst_of_50_sighups_keeps_serving_and_counts_every_reload_it_ran() {
    let p = port_block(2);
    let config = |name: &str| {
        formatdoc!(
            "
            listen: 127.0.0.1
            ports: {p}-{}
            cables:
              - name: {name}
                match: {{ serial: SIM000002 }}
            ",
            p + 1
        )
    };
    let agent = Agent::start(&config("before"), &["--simulate", "2"]);
    let mut a = XvcClient::connect(loopback(p)).unwrap();
    assert_eq!(a.read_idcode().unwrap(), IDCODE);
    for i in 0..50 {
        agent.signal(libc::SIGHUP);
        if i % 10 == 9 {
            assert_eq!(a.read_idcode().unwrap(), IDCODE, "session broken mid-burst");
        }
    }
    // A last reload with a changed file marks the end of the burst: signals sent before it
    // have been taken (several pending SIGHUPs merge into one, as signals do).
    std::fs::write(agent.dir.path().join("config.yaml"), config("after")).unwrap();
    agent.signal(libc::SIGHUP);
    poll("the changed config applied", T, || {
        let st = agent.status();
        st["cables"]
            .as_array()?
            .iter()
            .any(|c| c["name"] == "after")
            .then_some(())
    });
    // Every reload the agent counts told systemd RELOADING=1 and logged once; wait for the
    // notifications of the last ones to arrive, then the three counts must agree.
    let reloads = poll("reload count, notifications and log to agree", T, || {
        let r = agent.status()["reloads"].as_u64()? as usize;
        let logged = agent.log().matches("configuration reloaded").count();
        (agent.notify.count("RELOADING=1") == r && logged == r).then_some(r)
    });
    println!("50 SIGHUPs + 1: {reloads} reloads ran (pending signals merge)");
    assert!((1..=51).contains(&reloads), "{reloads} reloads");
    assert!(agent.notify.count("READY=1") >= reloads);
    // Still serving, the session intact, the other cable reachable.
    assert_eq!(a.read_idcode().unwrap(), IDCODE);
    let mut b = XvcClient::connect(loopback(p + 1)).unwrap();
    assert_eq!(b.read_idcode().unwrap(), IDCODE);
    drop((a, b));
    let mut agent = agent;
    assert!(agent.terminate().0.success());
}

#[test]
fn sigterm_during_transfers_on_four_cables_exits_within_shutdown_timeout() {
    let p = port_block(4);
    let shutdown_timeout = Duration::from_secs(2);
    let mut agent = Agent::start(
        &formatdoc!(
            "
            listen: 127.0.0.1
            ports: {p}-{}
            shutdown_timeout: 2s
            ",
            p + 3
        ),
        &["--simulate", "4"],
    );
    let nbytes = 16 * 1024;
    let shift = codec::encode_shift((nbytes * 8) as u32, &vec![0; nbytes], &vec![0x3C; nbytes]);
    let mut clients = Vec::new();
    for port in p..p + 4 {
        let mut c = XvcClient::connect(loopback(port)).unwrap();
        assert_eq!(c.read_idcode().unwrap(), IDCODE);
        // A pipelining client: one thread sends shifts back to back, another reads replies.
        let mut writer = c.stream.try_clone().unwrap();
        let shift = shift.clone();
        let pump = std::thread::spawn(move || {
            for _ in 0..5000 {
                if writer.write_all(&shift).is_err() {
                    break;
                }
            }
        });
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut got = 0usize;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => return (got, "EOF".to_string()),
                    Ok(n) => {
                        got += n;
                        if got >= nbytes {
                            let _ = first_tx.send(());
                        }
                    }
                    Err(e) => return (got, e.to_string()),
                }
            }
        });
        first_rx.recv_timeout(T).expect("a first reply");
        clients.push((pump, reader));
    }
    let (status, took) = agent.terminate();
    println!(
        "SIGTERM with 4 cables mid-transfer: exited in {:.2} s",
        took.as_secs_f64()
    );
    assert!(status.success(), "exit status {status}");
    // Within shutdown_timeout, plus an allowance for the process to start and finish exiting.
    assert!(
        took < shutdown_timeout + Duration::from_secs(1),
        "took {took:?}"
    );
    for (pump, reader) in clients {
        let (got, end) = reader.join().unwrap();
        println!("  client received {got} bytes, then {end}");
        assert_eq!(
            got % nbytes,
            0,
            "a reply was cut short ({got} bytes, then {end})"
        );
        assert_eq!(end, "EOF", "the client saw {end}, not EOF");
        pump.join().unwrap();
    }
    for port in p..p + 4 {
        assert!(refused(port));
    }
}
