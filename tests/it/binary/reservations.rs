//! Reservations, tried the way a lab uses them: `xvc-agent reserve` and `release` over the
//! real control socket (as root, as a member of the agent's group, as a stranger), and XVC
//! clients over real TCP from loopback and from a second address in a network namespace of
//! the test's own. Restarts, replugs, expiry, a damaged file, and everything that shows a
//! reservation (status, the JSON API, the page, metrics).

use crate::kit::netns::{in_namespace, HostAndClient, CLIENT_ADDR, HOST_ADDR};
use crate::kit::{cli, loopback, poll, port_block, Agent, InProcess, Launch, XvcClient, IDCODE, T};
use indoc::formatdoc;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use xvc_agent::agent::reservations::{parse_from, Requester, ReserveRequest};
use xvc_agent::agent::state::CableState;
use xvc_agent::agent::supervisor::Input;
use xvc_agent::xvc::codec::{self, Command as Xvc};

const SERIAL: &str = "SIM000001";
/// An address no client of these tests has: a reservation for it refuses them all.
const ELSEWHERE: &str = "198.51.100.9";

/// Whether a new connection to `addr` is served: `getinfo:` answered, or closed by the agent
/// without a byte (refused).
fn served(addr: SocketAddr) -> bool {
    let mut s = TcpStream::connect_timeout(&addr, T).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    if s.write_all(&codec::encode(&Xvc::GetInfo)).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(n) if n > 0)
}

fn config(port: u16, extra: &str) -> String {
    formatdoc!(
        "
        listen: 127.0.0.1
        ports: {port}-{}
        advertise: off
        {extra}
        ",
        port + 1
    )
}

/// `xvc-agent ARGS --socket SOCKET` as root.
fn ctl(agent: &Agent, args: &[&str]) -> Output {
    let sock = agent.control_socket();
    cli(args
        .iter()
        .copied()
        .chain(["--socket", sock.to_str().unwrap()]))
}

/// `xvc-agent ARGS --socket SOCKET` as another user: `daemon` (uid 1) with the agent's group
/// (root's, gid 0) among its groups when `in_group`, else `nobody` without groups.
fn ctl_as(agent: &Agent, in_group: bool, args: &[&str]) -> Output {
    let who: &[&str] = if in_group {
        &["--reuid=1", "--regid=1", "--groups=0"]
    } else {
        &["--reuid=65534", "--regid=65534", "--clear-groups"]
    };
    let sock = agent.control_socket();
    Command::new("setpriv")
        .args(who)
        .arg("--")
        .arg(crate::kit::BINARY)
        .args(args)
        .args(["--socket", sock.to_str().unwrap()])
        .env_remove("SSH_CONNECTION")
        .output()
        .expect("run setpriv (util-linux)")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> String {
    assert!(o.status.success(), "{o:?}");
    stdout(&o)
}

/// Exit status 1 and a one-line error containing `what`.
#[track_caller]
fn fails(o: Output, what: &str) {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(what), "{what:?} not in {err}");
}

/// The status entry of cable `serial`.
fn cable(agent: &Agent, serial: &str) -> serde_json::Value {
    agent.status()["cables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == serial)
        .cloned()
        .unwrap_or_else(|| panic!("no {serial} in status"))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_reservation_serves_only_its_addresses_until_released() {
    let Some(net) = HostAndClient::new("xvcrs") else {
        return;
    };
    let port = 2542;
    let agent = Agent::start_wrapped(
        &["ip", "netns", "exec", &net.host],
        &formatdoc!(
            "
            listen: \"::\"
            ports: {port}-{port}
            allow: [127.0.0.0/8, \"::1/128\", 192.0.2.0/24]
            advertise: off
            "
        ),
        &["--simulate", "1"],
    );
    let host_loopback = loopback(port);
    let on_link: SocketAddr = (HOST_ADDR.parse::<std::net::IpAddr>().unwrap(), port).into();
    let from_host = |ns: &str| in_namespace(ns, move || served(host_loopback));
    let from_client = |ns: &str| in_namespace(ns, move || served(on_link));
    assert!(from_host(&net.host), "served before the reservation");

    let asked = Instant::now();
    let out = ok(ctl(
        &agent,
        &[
            "reserve",
            SERIAL,
            "--from",
            CLIENT_ADDR,
            "--note",
            "timing closure",
        ],
    ));
    assert!(
        out.contains("SIM000001 (port 2542): reserved for root until "),
        "{out}"
    );
    assert!(!from_host(&net.host), "loopback refused while reserved");
    println!(
        "reserve to enforcement: a connection made {:.1} ms after `reserve` was started is refused",
        asked.elapsed().as_secs_f64() * 1e3
    );
    let mut client = in_namespace(&net.client, move || {
        let mut c = XvcClient::connect(on_link).expect("connect from the client namespace");
        assert_eq!(c.read_idcode().unwrap(), IDCODE);
        c
    });
    let log = agent.log();
    assert!(
        log.contains("refused client: reserved by root until ")
            && log.contains("(not among its addresses)"),
        "{log}"
    );
    assert!(
        log.contains(&format!("for {CLIENT_ADDR}/32 (timing closure)")),
        "{log}"
    );

    let c = cable(&agent, SERIAL);
    let r = &c["reservation"];
    assert_eq!(r["owner"], "root");
    assert_eq!(r["note"], "timing closure");
    assert_eq!(r["from"], serde_json::json!([format!("{CLIENT_ADDR}/32")]));
    assert_eq!(r["session_continues"], false);
    let default_end = now_secs() + 4 * 3600;
    let until = r["until"].as_u64().unwrap();
    assert!(until <= default_end + 1 && until + 60 > default_end, "{r}");
    assert_eq!(c["refused"]["reserved"], 1);
    let table = ok(ctl(&agent, &["status"]));
    assert!(
        table.contains("└ reserved by root until ")
            && table.contains("for 192.0.2.2/32: timing closure"),
        "{table}"
    );

    // The client's session ends; after the release loopback is served again.
    assert_eq!(client.read_idcode().unwrap(), IDCODE);
    drop(client);
    poll("the client's session to end", T, || {
        cable(&agent, SERIAL)["client"].is_null().then_some(())
    });
    assert!(
        from_client(&net.client),
        "a new connection from the namespace is served"
    );
    assert!(!from_host(&net.host), "loopback still refused");
    let out = ok(ctl(&agent, &["release", "2542"]));
    assert!(out.contains("released"), "{out}");
    assert!(from_host(&net.host), "loopback served after the release");
    assert!(cable(&agent, SERIAL)["reservation"].is_null());
    assert!(agent.log().contains("reservation released by root"));
    drop(agent);
}

#[test]
fn a_short_reservation_ends_on_its_own() {
    let p = port_block(2);
    let agent = Agent::start(&config(p, ""), &["--simulate", "1"]);
    ok(ctl(
        &agent,
        &["reserve", SERIAL, "--for", "2s", "--from", ELSEWHERE],
    ));
    assert!(!served(loopback(p)), "refused while reserved");
    poll("the 2 s reservation to end", T, || {
        cable(&agent, SERIAL)["reservation"].is_null().then_some(())
    });
    assert!(served(loopback(p)), "served once it ended");
    let log = agent.log();
    assert!(log.contains("reservation of root ended at "), "{log}");
}

#[test]
fn reservations_survive_a_restart_and_end_on_time_even_while_the_agent_is_down() {
    let p = port_block(2);
    let config = config(p, "");
    let args = ["--simulate", "2"];
    let agent = Agent::start(&config, &args);
    ok(ctl(
        &agent,
        &["reserve", "SIM000001", "--for", "1h", "--from", ELSEWHERE],
    ));
    ok(ctl(
        &agent,
        &["reserve", "SIM000002", "--for", "2s", "--from", ELSEWHERE],
    ));
    let long_end = cable(&agent, "SIM000001")["reservation"]["until"].clone();
    let short_end = cable(&agent, "SIM000002")["reservation"]["until"]
        .as_u64()
        .unwrap();
    let dir = agent.stop();
    // The short one ends while no agent runs.
    poll("the 2 s reservation's end to pass", T, || {
        (now_secs() > short_end).then_some(())
    });
    let agent = Launch::default().start_in(dir, &config, &args);
    let c1 = cable(&agent, "SIM000001");
    assert_eq!(c1["reservation"]["owner"], "root");
    assert_eq!(c1["reservation"]["until"], long_end, "the same end time");
    assert!(!served(loopback(c1["port"].as_u64().unwrap() as u16)));
    let c2 = cable(&agent, "SIM000002");
    assert!(c2["reservation"].is_null(), "{c2}");
    assert!(served(loopback(c2["port"].as_u64().unwrap() as u16)));
    assert!(
        agent.log().contains("reservation of root ended at "),
        "{}",
        agent.log()
    );
}

#[test]
fn a_reservation_holds_across_an_unplug_and_replug() {
    let p = port_block(1);
    let agent = InProcess::simulated(
        &format!("listen: 127.0.0.1\nports: {p}-{p}\nadvertise: off\n"),
        &[1],
    );
    agent.wait_state(SERIAL, CableState::Serving);
    let reserve = || {
        let (reply, answer) = tokio::sync::oneshot::channel();
        agent
            .tx
            .send(Input::Reserve {
                cable: SERIAL.into(),
                who: Requester {
                    name: "alice".into(),
                    may_force: false,
                },
                request: ReserveRequest {
                    from: vec![parse_from(ELSEWHERE).unwrap()],
                    duration: Some(Duration::from_secs(3600)),
                    note: Some("bring-up".into()),
                },
                reply,
            })
            .unwrap();
        agent.rt.block_on(answer).unwrap().expect("reserved");
    };
    reserve();
    assert!(!served(loopback(p)));
    agent.unplug(1);
    poll("the cable to be gone", T, || {
        agent.status().cables.is_empty().then_some(())
    });
    let st = agent.status();
    assert_eq!(
        st.unplugged_reservations[SERIAL].owner, "alice",
        "status shows the reservation of the unplugged cable"
    );
    // Only its owner can release it, by the cable's identity, while it is unplugged.
    let release = |who: &str| {
        let (reply, answer) = tokio::sync::oneshot::channel();
        agent
            .tx
            .send(Input::Release {
                cable: SERIAL.into(),
                who: Requester {
                    name: who.into(),
                    may_force: false,
                },
                force: false,
                reply,
            })
            .unwrap();
        agent.rt.block_on(answer).unwrap()
    };
    let err = release("bob").unwrap_err().to_string();
    assert!(err.contains("is reserved by alice until"), "{err}");
    agent.plug(1);
    agent.wait_state(SERIAL, CableState::Serving);
    assert!(agent.status().unplugged_reservations.is_empty());
    assert!(!served(loopback(p)), "still reserved after the replug");
    let st = agent.status();
    let r = st.cables[0]
        .reservation
        .as_ref()
        .expect("reservation shown");
    assert_eq!(
        (r.owner.as_str(), r.note.as_deref()),
        ("alice", Some("bring-up"))
    );
    agent.unplug(1);
    poll("the cable to be gone again", T, || {
        agent.status().cables.is_empty().then_some(())
    });
    assert_eq!(release("alice").unwrap().outcome, "released");
    assert!(agent.status().unplugged_reservations.is_empty());
    agent.plug(1);
    agent.wait_state(SERIAL, CableState::Serving);
    assert!(served(loopback(p)), "served after the release");
    agent.stop();
}

#[test]
fn one_owner_at_a_time_root_may_force_strangers_are_refused() {
    let p = port_block(2);
    let agent = Agent::start(&config(p, ""), &["--simulate", "1"]);
    // The temporary directory must be searchable for other users to reach the socket.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(agent.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();

    // A member of the agent's group reserves; the owner is named from the credentials.
    let out = ok(ctl_as(
        &agent,
        true,
        &["reserve", SERIAL, "--note", "lab 3"],
    ));
    assert!(out.contains("reserved for daemon until "), "{out}");
    assert_eq!(
        cable(&agent, SERIAL)["reservation"]["from"],
        serde_json::json!(["127.0.0.0/8", "::1/128"]),
        "without --from and SSH_CONNECTION: this host's loopback"
    );
    // Anyone else is told who holds it until when.
    fails(
        ctl(&agent, &["reserve", SERIAL]),
        "SIM000001 is reserved by daemon until ",
    );
    fails(
        ctl(&agent, &["release", SERIAL]),
        "only its owner may release it",
    );
    assert_eq!(cable(&agent, SERIAL)["reservation"]["owner"], "daemon");
    // The owner extends it.
    let out = ok(ctl_as(&agent, true, &["reserve", SERIAL, "--for", "8h"]));
    assert!(out.contains("reservation extended for daemon"), "{out}");
    assert_eq!(cable(&agent, SERIAL)["reservation"]["note"], "lab 3");
    // Root breaks it, and that is logged with who did it.
    let out = ok(ctl(&agent, &["release", "--force", SERIAL]));
    assert!(
        out.contains("reservation of daemon ended (--force)"),
        "{out}"
    );
    let log = agent.log();
    assert!(
        log.contains("reservation broken by root (--force): was reserved by daemon until "),
        "{log}"
    );
    // A member of the group may not force.
    ok(ctl(&agent, &["reserve", SERIAL]));
    fails(
        ctl_as(&agent, true, &["release", "--force", SERIAL]),
        "only root and the agent's user may break",
    );
    // A user outside the group: the socket's mode, then the credential check, refuse.
    fails(
        ctl_as(&agent, false, &["reserve", SERIAL]),
        "permission denied",
    );
    std::fs::set_permissions(
        agent.control_socket(),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    fails(
        ctl_as(&agent, false, &["release", "--force", SERIAL]),
        "refused this user",
    );
    assert_eq!(cable(&agent, SERIAL)["reservation"]["owner"], "root");
    agent.wait_log("control socket: refused uid 65534");
}

#[test]
fn a_session_running_when_the_cable_is_reserved_goes_on_and_the_next_follows_it() {
    let p = port_block(2);
    let agent = Agent::start(&config(p, ""), &["--simulate", "1"]);
    let mut holder = XvcClient::connect(loopback(p)).unwrap();
    assert_eq!(holder.read_idcode().unwrap(), IDCODE);
    let out = ok(ctl(&agent, &["reserve", SERIAL, "--from", ELSEWHERE]));
    assert!(
        out.contains("began before the reservation and goes on until it ends"),
        "{out}"
    );
    let c = cable(&agent, SERIAL);
    assert_eq!(c["reservation"]["session_continues"], true);
    assert_eq!(c["state"], "busy");
    let table = ok(ctl(&agent, &["status"]));
    assert!(table.contains("goes on until it ends"), "{table}");
    // Not cut: it keeps working.
    for _ in 0..3 {
        assert_eq!(holder.read_idcode().unwrap(), IDCODE);
    }
    drop(holder);
    poll("the session to end", T, || {
        cable(&agent, SERIAL)["client"].is_null().then_some(())
    });
    assert!(
        !served(loopback(p)),
        "the next connection follows the reservation"
    );
    assert_eq!(cable(&agent, SERIAL)["refused"]["reserved"], 1);
}

#[test]
fn a_client_waiting_in_line_when_the_cable_is_reserved_is_refused_not_served() {
    let p = port_block(2);
    let agent = Launch {
        env: &[("RUST_LOG", "debug")],
        ..Launch::default()
    }
    .start(&config(p, "on_busy: queue"), &["--simulate", "1"]);
    let mut holder = XvcClient::connect(loopback(p)).unwrap();
    assert_eq!(holder.read_idcode().unwrap(), IDCODE);
    let waiter = std::thread::spawn(move || served(loopback(p)));
    agent.wait_log("waiting in line for the cable");
    ok(ctl(&agent, &["reserve", SERIAL, "--from", ELSEWHERE]));
    drop(holder);
    assert!(!waiter.join().unwrap(), "refused, not handed the cable");
    assert_eq!(cable(&agent, SERIAL)["refused"]["reserved"], 1);
    assert!(agent
        .log()
        .contains("refused client: reserved by root until "));
}

#[test]
fn a_damaged_reservations_file_is_set_aside_and_the_agent_serves() {
    let p = port_block(2);
    let config = config(p, "");
    let agent = Agent::start(&config, &["--simulate", "1"]);
    let dir = agent.stop();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("reservations.json"),
        "{ \"version\": 1, \"reserv",
    )
    .unwrap();
    let agent = Launch::default().start_in(dir, &config, &["--simulate", "1"]);
    assert!(served(loopback(p)));
    let log = agent.log();
    assert!(
        log.contains("damaged reservations file") && log.contains("kept as "),
        "{log}"
    );
    let aside: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("reservations.json.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read_to_string(state.join(&aside[0])).unwrap(),
        "{ \"version\": 1, \"reserv"
    );
    let fresh: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("reservations.json")).unwrap())
            .unwrap();
    assert_eq!(fresh["reservations"], serde_json::json!({}));
    // And reservations work again.
    ok(ctl(&agent, &["reserve", SERIAL, "--from", ELSEWHERE]));
    assert!(!served(loopback(p)));
}

#[test]
fn bad_input_is_one_line_exit_1_and_changes_nothing() {
    let p = port_block(2);
    let agent = Agent::start(
        &config(p, "reservations: { default: 10m, max: 1h }"),
        &["--simulate", "1"],
    );
    fails(
        ctl(&agent, &["reserve", "no-such-cable"]),
        "no cable \"no-such-cable\"",
    );
    fails(
        ctl(&agent, &["reserve", SERIAL, "--for", "2h"]),
        "--for 2h: longer than the longest reservation, 1h (reservations.max)",
    );
    fails(
        ctl(&agent, &["reserve", SERIAL, "--for", "soon"]),
        "--for: invalid duration \"soon\"",
    );
    fails(
        ctl(&agent, &["reserve", SERIAL, "--from", "lab-pc"]),
        "--from \"lab-pc\": not an address or network",
    );
    fails(
        ctl(&agent, &["reserve", SERIAL, "--note", "two\nlines"]),
        "--note: at most 200 characters",
    );
    fails(
        ctl(&agent, &["release", "no-such-cable"]),
        "no cable \"no-such-cable\"",
    );
    assert!(cable(&agent, SERIAL)["reservation"].is_null());
    assert!(!std::fs::exists(agent.dir.path().join("state/reservations.json")).unwrap());
    // No agent: exit status 3.
    let out = cli(["reserve", SERIAL, "--socket", "/nonexistent/control.sock"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    // The configured default applies without --for.
    ok(ctl(&agent, &["reserve", SERIAL]));
    let until = cable(&agent, SERIAL)["reservation"]["until"]
        .as_u64()
        .unwrap();
    let expected = now_secs() + 600;
    assert!(
        until <= expected + 1 && until + 60 > expected,
        "{until} vs {expected}"
    );
    // Releasing a cable that is not reserved is not an error.
    ok(ctl(&agent, &["release", SERIAL]));
    assert!(ok(ctl(&agent, &["release", SERIAL])).contains("not reserved"));
}

#[test]
fn the_api_the_page_and_the_metrics_show_the_reservation() {
    let p = port_block(2);
    let http = port_block(1);
    let agent = Agent::start(
        &config(p, &format!("http: {{ listen: 127.0.0.1:{http} }}")),
        &["--simulate", "1"],
    );
    crate::kit::wait_for_port(loopback(http), T);
    ok(ctl(
        &agent,
        &[
            "reserve",
            SERIAL,
            "--from",
            ELSEWHERE,
            "--note",
            "<regression run>",
        ],
    ));
    assert!(!served(loopback(p)));
    let get = |path: &str| {
        let mut s = TcpStream::connect(loopback(http)).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: labhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        resp.split_once("\r\n\r\n").unwrap().1.to_string()
    };
    let api: serde_json::Value = serde_json::from_str(&get("/api/v1/cables")).unwrap();
    let r = &api["cables"][0]["reservation"];
    assert_eq!(r["owner"], "root");
    assert_eq!(r["note"], "<regression run>");
    assert!(r["until"].as_u64().unwrap() > now_secs());
    let page = get("/");
    assert!(
        page.contains("reserved by <span class=\"owner\">root</span> until")
            && page.contains(": &lt;regression run&gt;</div>"),
        "{page}"
    );
    let metrics = get("/metrics");
    assert!(
        metrics.contains("xvc_agent_cable_reserved{serial=\"SIM000001\"")
            && metrics.contains("xvc_agent_refused_connections_total{serial=\"SIM000001\",port=\"")
            && metrics.contains("reason=\"reserved\"} 1"),
        "{metrics}"
    );
}
