//! Who holds a cable, tried the way real clients behave: reconnecting the instant the
//! previous client left, port checks that connect and close while the cable is being opened,
//! a client whose host vanishes without a FIN, and an administrator ending a session. All
//! over real TCP, against the agent binary or the in-process supervisor.

use crate::kit::netns::{in_namespace, ip, HostAndClient, HOST_ADDR};
use crate::kit::{
    cli, loopback, opener, poll, port_block, raw_stream as connect, Agent, InProcess,
};
use crate::kit::{XvcClient, IDCODE, T};
use indoc::formatdoc;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use xvc_agent::agent::opener::{CableOpener, SimulatedOpener};
use xvc_agent::agent::state::CableState;
use xvc_agent::xvc::codec::{self, Command as Xvc};

const GETINFO_REPLY: &str = "xvcServer_v1.0:16384\n";

/// Sends `getinfo:` and reads the answer; `Err` says how the connection ended first
/// (refused), naming the client's address.
fn try_getinfo(stream: &mut TcpStream) -> Result<String, String> {
    let me = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    stream
        .write_all(&codec::encode(&Xvc::GetInfo))
        .map_err(|e| format!("{me}: write: {e}"))?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\n") {
        match stream.read(&mut byte) {
            Ok(1) => reply.push(byte[0]),
            Ok(_) => return Err(format!("{me}: EOF after {} bytes", reply.len())),
            Err(e) => return Err(format!("{me}: {e} after {} bytes", reply.len())),
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn one_cable_agent(port: u16) -> Agent {
    Agent::start(
        &formatdoc!(
            "
            listen: 127.0.0.1
            ports: {port}-{port}
            "
        ),
        &["--simulate", "1"],
    )
}

#[test]
fn a_client_reconnecting_at_once_after_a_close_is_always_served() {
    let p = port_block(1);
    let agent = one_cable_agent(p);
    let addr = loopback(p);
    let cycles = crate::kit::env_count("XVC_RECONNECT_CYCLES", 1000);
    let mut refusals = 0;
    let mut handoffs = Vec::with_capacity(cycles);
    let mut previous: Option<TcpStream> = None;
    for _ in 0..cycles {
        let closed_at = Instant::now();
        drop(previous.take());
        let mut next = connect(addr);
        match try_getinfo(&mut next) {
            Ok(reply) => {
                assert_eq!(reply, GETINFO_REPLY);
                handoffs.push(closed_at.elapsed());
            }
            Err(why) => {
                eprintln!("refused: {why}");
                refusals += 1
            }
        }
        previous = Some(next);
    }
    drop(previous);
    // The same connect and first reply with the cable known to be free (the previous session
    // over, its connection closed): what a client pays without any handoff.
    let mut baseline = Vec::new();
    for _ in 0..100 {
        poll("the cable to be free", T, || {
            (agent.state_of("SIM000001").as_deref() == Some("serving")).then_some(())
        });
        let t0 = Instant::now();
        let mut c = connect(addr);
        assert_eq!(try_getinfo(&mut c).unwrap(), GETINFO_REPLY);
        baseline.push(t0.elapsed());
    }
    handoffs.sort();
    baseline.sort();
    let (p50, p99) = (percentile(&handoffs, 0.5), percentile(&handoffs, 0.99));
    let free50 = percentile(&baseline, 0.5);
    println!(
        "{cycles} close-then-reconnect cycles: {refusals} refused; handoff (close -> next reply) \
         p50 {:.0} us, p99 {:.0} us; to a cable known free p50 {:.0} us (handoff/free {:.2})",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        free50.as_secs_f64() * 1e6,
        p50.as_secs_f64() / free50.as_secs_f64(),
    );
    assert_eq!(
        refusals,
        0,
        "refusals in the log:\n{}",
        refusal_lines(&agent)
    );
}

/// The log lines about refused clients and sessions ending, for a failure message.
fn refusal_lines(agent: &Agent) -> String {
    let log = agent.log();
    let lines: Vec<&str> = log.lines().collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if line.contains("refused") {
            for l in &lines[i.saturating_sub(3)..=i] {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn a_client_connecting_right_after_the_agent_closed_a_misbehaving_one_is_served() {
    let p = port_block(1);
    let agent = one_cable_agent(p);
    let addr = loopback(p);
    let cycles = crate::kit::env_count("XVC_GARBAGE_CYCLES", 300);
    let mut refusals = 0;
    let mut costs = Vec::with_capacity(cycles);
    for _ in 0..cycles {
        let mut bad = connect(addr);
        bad.write_all(b"hello, is this telnet?\r\n").unwrap();
        // The agent closes the misbehaving connection; this client keeps its socket open.
        let mut sink = [0u8; 64];
        loop {
            match bad.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let closed_at = Instant::now();
        let mut good = connect(addr);
        match try_getinfo(&mut good) {
            Ok(reply) => {
                assert_eq!(reply, GETINFO_REPLY);
                costs.push(closed_at.elapsed());
            }
            Err(why) => {
                eprintln!("refused: {why}");
                refusals += 1
            }
        }
        drop(good);
        drop(bad);
    }
    costs.sort();
    println!(
        "{cycles} garbage-then-connect cycles: {refusals} refused; next client's reply after \
         the close p50 {:.0} us, p99 {:.0} us",
        percentile(&costs, 0.5).as_secs_f64() * 1e6,
        percentile(&costs, 0.99).as_secs_f64() * 1e6,
    );
    assert_eq!(
        refusals,
        0,
        "refusals in the log:\n{}",
        refusal_lines(&agent)
    );
}

/// A gate that stays shut until the test releases it (a cable slow to initialise).
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    fn pass(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }
}

#[test]
fn port_checks_during_opening_never_take_the_session_from_the_real_client() {
    let p = port_block(1);
    let gate = Arc::new(Gate::default());
    // Opens simulated cables, but only once the test lets it.
    let gated = {
        let gate = gate.clone();
        opener(move |info, profile, options| {
            gate.pass();
            SimulatedOpener::default().open(info, profile, options)
        })
    };
    let agent = InProcess::start(
        &formatdoc!(
            "
            listen: 127.0.0.1
            ports: {p}-{p}
            "
        ),
        &[],
        gated,
    );
    agent.plug(1);
    agent.wait_state("SIM000001", CableState::Starting);
    // The port is bound while the cable opens: port checks connect and leave at once.
    for _ in 0..5 {
        drop(connect(loopback(p)));
    }
    let mut client = connect(loopback(p));
    client.write_all(&codec::encode(&Xvc::GetInfo)).unwrap();
    gate.release();
    let mut reply = vec![0u8; GETINFO_REPLY.len()];
    client
        .read_exact(&mut reply)
        .expect("the real client is served, not refused");
    assert_eq!(String::from_utf8_lossy(&reply), GETINFO_REPLY);
    let status = agent.status();
    let cable = &status.cables[0];
    assert_eq!(cable.state, CableState::Busy);
    assert_eq!(
        cable.client.as_deref(),
        Some(client.local_addr().unwrap().to_string().as_str()),
        "the session belongs to the real client"
    );
    assert_eq!(cable.sessions, 1, "probes never became sessions");
    assert!(
        cable.refused.values().all(|&n| n == 0),
        "nobody refused: {:?}",
        cable.refused
    );
    drop(client);
    agent.stop();
}

#[test]
fn a_live_active_holder_still_refuses_a_second_client_and_names_itself() {
    let p = port_block(1);
    let agent = one_cable_agent(p);
    let mut holder = XvcClient::connect(loopback(p)).unwrap();
    assert_eq!(holder.read_idcode().unwrap(), IDCODE);
    let mut second = connect(loopback(p));
    assert!(try_getinfo(&mut second).is_err(), "second client refused");
    let holder_addr = holder.stream.local_addr().unwrap().to_string();
    poll("the refusal in the log", T, || {
        agent
            .log()
            .lines()
            .any(|l| l.contains("refused client: cable busy") && l.contains(&holder_addr))
            .then_some(())
    });
    assert_eq!(holder.read_idcode().unwrap(), IDCODE, "holder unaffected");
}

// ---------------------------------------------------------------------------------------------
// Administrator override

/// Reads until the connection ends; returns the bytes received.
fn drain(stream: &mut TcpStream) -> usize {
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n,
        }
    }
}

#[test]
fn disconnect_by_name_serial_and_port_frees_the_cable_for_the_next_client() {
    let p = port_block(2);
    let agent = Agent::start(
        &formatdoc!(
            "
            listen: 127.0.0.1
            max_vector_bytes: 65536
            ports: {}-{}
            cables:
              - name: bench-a
                match: {{ serial: SIM000001 }}
                port: {p}
            ",
            p + 1,
            p + 1
        ),
        &["--simulate", "2"],
    );
    let sock = agent.control_socket();
    let sock = sock.to_str().unwrap();
    for (which, port) in [("bench-a", p), ("SIM000002", p + 1), (&*p.to_string(), p)] {
        let mut holder = XvcClient::connect(loopback(port)).unwrap();
        assert_eq!(holder.read_idcode().unwrap(), IDCODE);
        let holder_addr = holder.stream.local_addr().unwrap().to_string();
        // A shift in flight when the request arrives completes; none is cut.
        let n = 64 * 1024;
        holder
            .stream
            .write_all(&codec::encode_shift(
                (n * 8) as u32,
                &vec![0; n],
                &vec![0xA5; n],
            ))
            .unwrap();
        let out = cli(["disconnect", "--socket", sock, which]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "disconnect {which}: {out:?}");
        assert!(
            stdout.contains(&holder_addr),
            "names the client it ended: {stdout}"
        );
        let got = drain(&mut holder.stream);
        assert!(got == 0 || got == n, "a reply was cut: {got} of {n} bytes");
        let mut next = XvcClient::connect(loopback(port)).unwrap();
        assert_eq!(next.read_idcode().unwrap(), IDCODE, "next client served");
    }
    assert!(
        agent.log().contains("at the request of uid 0"),
        "the requester is logged:\n{}",
        agent.log()
    );
    // A cable without a client: nothing to end, not an error.
    let out = cli(["disconnect", "--socket", sock, "SIM000002"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no client"));
    // An unknown cable is a clear error, exit status 1.
    let out = cli(["disconnect", "--socket", sock, "no-such-cable"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no cable \"no-such-cable\"") && stderr.contains("bench-a"),
        "{stderr}"
    );
}

#[test]
fn only_root_the_agent_user_or_its_group_may_disconnect() {
    let p = port_block(1);
    let agent = one_cable_agent(p);
    let mut holder = XvcClient::connect(loopback(p)).unwrap();
    assert_eq!(holder.read_idcode().unwrap(), IDCODE);
    let sock = agent.control_socket();
    let as_nobody = |sock: &str| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(crate::kit::BINARY)
            .args(["disconnect", "--socket", sock, "SIM000001"])
            .output()
            .expect("run setpriv (util-linux)")
    };
    // The socket's mode keeps strangers out...
    let out = as_nobody(sock.to_str().unwrap());
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("permission denied"),
        "{out:?}"
    );
    // ...and with the mode opened up, the peer credential check still refuses them.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    // The temporary directory must be searchable for the stranger to reach the socket.
    std::fs::set_permissions(agent.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let out = as_nobody(sock.to_str().unwrap());
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "{out:?}"
    );
    assert_eq!(holder.read_idcode().unwrap(), IDCODE, "session untouched");
    agent.wait_log("control socket: refused uid 65534");
}

#[test]
fn status_shows_how_long_the_holder_has_been_silent() {
    let p = port_block(1);
    let agent = one_cable_agent(p);
    let mut holder = XvcClient::connect(loopback(p)).unwrap();
    assert_eq!(holder.read_idcode().unwrap(), IDCODE);
    let idle = |agent: &Agent| agent.status()["cables"][0]["client_idle_seconds"].as_u64();
    // Silence accrues while the client sends nothing...
    let silent = poll("the holder's idle time to reach 2 s", T, || {
        idle(&agent).filter(|&s| s >= 2)
    });
    assert!(silent >= 2);
    let table = cli([
        "status",
        "--socket",
        agent.control_socket().to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains(", idle "),
        "{table:?}"
    );
    // ...and a command resets it.
    assert_eq!(holder.read_idcode().unwrap(), IDCODE);
    assert!(idle(&agent).unwrap() < silent);
}

// ---------------------------------------------------------------------------------------------
// A client whose host vanishes: two network namespaces of the test's own, joined by a veth
// pair; the client's end of the link goes down with the session open.

#[test]
fn a_vanished_client_frees_the_cable_within_the_keepalive_bound() {
    let Some(net) = HostAndClient::new("xvcka") else {
        return; // said on stderr; refused under CI
    };
    let (host, laptop) = (net.host.clone(), net.client.clone());
    let port = 2542;
    let agent = Agent::start_wrapped(
        &["ip", "netns", "exec", &host],
        &formatdoc!(
            "
            listen: {HOST_ADDR}
            ports: {port}-{port}
            allow: [192.0.2.0/24]
            "
        ),
        &["--simulate", "1"],
    );
    let server: SocketAddr = format!("{HOST_ADDR}:{port}").parse().unwrap();
    let mut laptop_client = in_namespace(&laptop, move || {
        let mut c = XvcClient::connect(server).expect("connect from the laptop namespace");
        assert_eq!(c.getinfo().unwrap(), GETINFO_REPLY);
        c
    });
    assert_eq!(agent.state_of("SIM000001").as_deref(), Some("busy"));
    // The laptop goes to sleep: its link drops, nothing is sent to the agent.
    ip(&["-n", &laptop, "link", "set", &net.client_link, "down"]);
    let gone = Instant::now();
    let bound = Duration::from_secs(45);
    poll(
        "the vanished client's cable to be free within the 45 s keepalive bound",
        bound,
        || (agent.state_of("SIM000001").as_deref() == Some("serving")).then_some(()),
    );
    let freed = gone.elapsed();
    println!(
        "vanished client: cable free {:.1} s after the link went down (bound {} s)",
        freed.as_secs_f64(),
        bound.as_secs()
    );
    assert!(
        agent.log().contains("peer unreachable"),
        "the reason is logged:\n{}",
        agent.log()
    );
    // The laptop wakes up and connects again: served.
    ip(&["-n", &laptop, "link", "set", &net.client_link, "up"]);
    let reply = in_namespace(&laptop, move || {
        let mut c = XvcClient::connect(server).expect("reconnect");
        c.read_idcode().unwrap()
    });
    assert_eq!(reply, IDCODE);
    let _ = laptop_client
        .stream
        .write_all(&codec::encode(&Xvc::GetInfo));
    drop(agent);
    drop(net);
}
