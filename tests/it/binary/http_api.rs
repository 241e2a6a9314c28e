//! The HTTP listener of a running agent (`--simulate 2`), over real TCP on 127.0.0.1: the API
//! equals `status --json`, the metrics parse with an independent Prometheus parser and keep
//! their series, bad requests get 4xx, a peer outside `allow:` gets nothing, and the pages
//! render in a real browser (Debian's headless chromium) with a screenshot kept under
//! target/tmp.

use crate::kit::{cli, loopback, poll, port_block, wait_for_port, Agent, XvcClient, T};
use indoc::formatdoc;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Lab {
    agent: Agent,
    http: u16,
    base: u16,
}

/// Two simulated cables on 127.0.0.1, the HTTP listener on `http`, `allow:` as given.
fn start(allow: &str) -> Lab {
    let base = port_block(2);
    let http = port_block(1);
    let config = formatdoc!(
        "
        listen: 127.0.0.1
        allow: [{allow}]
        http: {{ listen: 127.0.0.1:{http} }}
        advertise: off
        "
    );
    let agent = Agent::start(
        &config,
        &["--simulate", "2", "--base-port", &base.to_string()],
    );
    wait_for_port(loopback(http), T);
    Lab { agent, http, base }
}

/// Sends `request` as is and returns the status code, the head and the body.
fn raw(port: u16, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(request).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {resp:?}"));
    (code, head.to_string(), body.to_string())
}

fn get(port: u16, path: &str) -> (u16, String, String) {
    raw(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: labhost:{port}\r\n\r\n").as_bytes(),
    )
}

fn status_json(lab: &Lab) -> serde_json::Value {
    let socket = lab.agent.control_socket();
    let out = cli(["status", "--json", "--socket", socket.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn api_is_the_status_model() {
    let lab = start("127.0.0.0/8");
    let mut holder = XvcClient::connect(loopback(lab.base)).unwrap();
    holder.read_idcode().unwrap();
    // Wait until the agent shows the session, then compare with nothing moving.
    poll("cable 1 busy", T, || {
        let v = status_json(&lab);
        (v["cables"][0]["state"] == "busy").then_some(())
    });
    let (code, head, body) = get(lab.http, "/api/v1/cables");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("application/json"), "{head}");
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(api, status_json(&lab));

    for id in ["SIM000002", "sim-2"] {
        let (code, _, body) = get(lab.http, &format!("/api/v1/cables/{id}"));
        assert_eq!(code, 200, "{id}");
        let one: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(one, api["cables"][1], "{id}");
    }
    let (code, _, body) = get(lab.http, "/api/v1/cables/NOSUCH");
    assert_eq!(code, 404, "{body}");
    drop(holder);
}

/// Every series name the hand-written renderer produced before, for a cable with a session.
const SERIES: &[&str] = &[
    "xvc_agent_build_info",
    "xvc_agent_config_reloads_total",
    "xvc_agent_cables",
    "xvc_agent_cable_up",
    "xvc_agent_client_connected",
    "xvc_agent_cable_reserved",
    "xvc_agent_sessions_total",
    "xvc_agent_shifts_total",
    "xvc_agent_shifted_bits_total",
    "xvc_agent_usb_errors_total",
    "xvc_agent_reconnects_total",
    "xvc_agent_refused_connections_total",
    "xvc_agent_shift_duration_seconds_bucket",
    "xvc_agent_shift_duration_seconds_sum",
    "xvc_agent_shift_duration_seconds_count",
];

/// Parses with the Prometheus project's own Python parser (`python3-prometheus-client`) and
/// prints one `name<TAB>labels<TAB>value` line per sample.
const PARSER: &str = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        print(s.name + "\t" + json.dumps(s.labels, sort_keys=True) + "\t" + repr(s.value))
"#;

#[test]
fn metrics_parse_and_keep_their_series() {
    let lab = start("127.0.0.0/8");
    let mut client = XvcClient::connect(loopback(lab.base)).unwrap();
    client.read_idcode().unwrap();
    let (code, head, body) = get(lab.http, "/metrics");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let mut py = Command::new("/usr/bin/python3")
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with python3-prometheus-client (make deps)");
    py.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser rejects the exposition: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed = String::from_utf8(out.stdout).unwrap();
    let names: std::collections::BTreeSet<&str> = parsed
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    let expected: std::collections::BTreeSet<&str> = SERIES.iter().copied().collect();
    assert_eq!(names, expected, "{body}");
    let sample = |name: &str, label: &str| {
        parsed
            .lines()
            .find(|l| l.starts_with(&format!("{name}\t")) && l.contains(label))
            .and_then(|l| l.rsplit('\t').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} with {label} in\n{parsed}"))
    };
    assert_eq!(sample("xvc_agent_cables", "\"busy\""), 1.0);
    assert_eq!(sample("xvc_agent_client_connected", "SIM000001"), 1.0);
    assert_eq!(sample("xvc_agent_cable_reserved", "SIM000001"), 0.0);
    assert!(sample("xvc_agent_shifted_bits_total", "SIM000001") > 0.0);
    drop(client);
}

#[test]
fn bad_requests_get_4xx_and_the_agent_keeps_serving() {
    let lab = start("127.0.0.0/8");
    let port = lab.http;
    assert_eq!(get(port, "/nope").0, 404);
    assert_eq!(get(port, "/api/v1/cables/a/b").0, 404);
    assert_eq!(get(port, "/api/v1/cables/%zz").0, 400);
    let (code, head, _) = raw(
        port,
        b"POST /api/v1/cables HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(code, 405);
    assert!(
        head.to_ascii_lowercase().contains("allow: get, head"),
        "{head}"
    );
    assert_eq!(raw(port, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n").0, 405);
    // A 64 KiB header.
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let code = raw(port, big.as_bytes()).0;
    assert!((400..500).contains(&code), "oversized head: {code}");
    for garbage in [
        &b"HELLO\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ] {
        let code = raw(port, garbage).0;
        assert!((400..500).contains(&code), "{garbage:?}: {code}");
    }
    let (code, _, body) = get(port, "/");
    assert_eq!(code, 200);
    assert!(body.contains("SIM000001"), "{body}");
}

#[test]
fn a_peer_outside_allow_gets_nothing() {
    let lab = start("127.0.0.1/32");
    assert_eq!(get(lab.http, "/metrics").0, 200);
    // Connect from 127.0.0.2: outside the list.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    socket
        .connect(&SocketAddr::from(([127, 0, 0, 1], lab.http)).into())
        .unwrap();
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(T)).unwrap();
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    assert!(
        resp.is_empty(),
        "answered: {}",
        String::from_utf8_lossy(&resp)
    );
    let log = lab.agent.log();
    assert!(log.contains("refused 127.0.0.2"), "{log}");
}

/// Runs headless chromium with the flags a CI box needs and a profile of its own.
fn chromium(profile: &std::path::Path, args: &[&str]) -> String {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium is installed by `make deps`");
    let mut out = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let start = Instant::now();
    let status = poll("chromium to finish", Duration::from_secs(120), || {
        child.try_wait().unwrap()
    });
    assert!(status.success(), "chromium {args:?}: {status}");
    println!("chromium {:?} took {:?}", args.last(), start.elapsed());
    reader.join().unwrap()
}

#[test]
fn pages_in_a_real_browser() {
    let lab = start("127.0.0.0/8");
    let mut holder = XvcClient::connect(loopback(lab.base)).unwrap();
    holder.read_idcode().unwrap();
    let client_addr = holder.stream.local_addr().unwrap().to_string();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/", lab.http);
    let dom = chromium(profile.path(), &["--dump-dom", &url]);
    for (serial, port) in [("SIM000001", lab.base), ("SIM000002", lab.base + 1)] {
        let row = dom
            .lines()
            .find(|l| l.contains(&format!("data-serial=\"{serial}\"")))
            .unwrap_or_else(|| panic!("no row for {serial} in\n{dom}"));
        assert!(row.contains(&format!("data-port=\"{port}\"")), "{row}");
        assert!(
            row.contains(&format!("open_hw_target -xvc_url 127.0.0.1:{port}")),
            "{row}"
        );
    }
    let busy = dom
        .lines()
        .find(|l| l.contains("data-serial=\"SIM000001\""))
        .unwrap();
    assert!(busy.contains("data-state=\"busy\""), "{busy}");
    assert!(
        busy.contains(&client_addr),
        "busy cable without its client: {busy}"
    );

    let lab_dom = chromium(
        profile.path(),
        &["--dump-dom", &format!("http://127.0.0.1:{}/lab", lab.http)],
    );
    assert!(lab_dom.contains("cables in the lab"), "{lab_dom}");
    // This host runs no avahi-daemon (only the VM lab does): the page says why it is empty.
    assert!(
        lab_dom.contains("id=\"error\"") || lab_dom.contains("id=\"lab\""),
        "{lab_dom}"
    );

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,480",
            &url,
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    println!("screenshot: {}", shot.display());
    drop(holder);
}

/// After a bitstream load into a simulated cable, the API and the status page show what its
/// FPGA received: the bit count, the SHA-256 of the file and DONE.
#[test]
fn api_and_page_show_what_a_simulated_fpga_received() {
    use sha2::{Digest, Sha256};
    let lab = start("127.0.0.0/8");
    // Not a multiple of 100 bytes: after such a file openFPGALoader clocks one more bit.
    let frames: Vec<u32> = (0..4097u32).map(|i| i.wrapping_mul(0x9E37_79B9)).collect();
    let body =
        xvc_agent::sim::series7::write_packets(xvc_agent::sim::parts::XC7A35T.idcode, &frames);
    let sha: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let image = lab.agent.dir.path().join("design.bin");
    std::fs::write(&image, &body).unwrap();
    let out = Command::new("openFPGALoader")
        .args(["-c", "xvc-client", "--ip", "127.0.0.1", "--port"])
        .arg((lab.base + 1).to_string())
        .args(["-m", "--file-type", "bin"])
        .arg(&image)
        .output()
        .expect("openFPGALoader is installed by `make deps`");
    assert!(out.status.success(), "{out:?}");

    let (code, _, json) = get(lab.http, "/api/v1/cables/SIM000002");
    assert_eq!(code, 200);
    let cable: serde_json::Value = serde_json::from_str(&json).unwrap();
    let fpga = &cable["simulated_fpga"][0];
    assert_eq!(fpga["part"], "xc7a35t", "{cable}");
    assert_eq!(fpga["cfg_in_bits"], body.len() as u64 * 8, "{cable}");
    assert_eq!(fpga["sha256"], sha, "{cable}");
    assert_eq!(fpga["done"], true, "{cable}");
    // The untouched cable's FPGA has received nothing.
    let (_, _, json) = get(lab.http, "/api/v1/cables/SIM000001");
    let other: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(other["simulated_fpga"][0]["cfg_in_bits"], 0, "{other}");
    assert_eq!(other["simulated_fpga"][0]["done"], false, "{other}");

    let (code, _, page) = get(lab.http, "/");
    assert_eq!(code, 200);
    let line = format!(
        "simulated xc7a35t: DONE, {} CFG_IN bits, sha256 <code>{sha}</code>",
        body.len() * 8
    );
    assert!(page.contains(&line), "{line} not on the page:\n{page}");
}
