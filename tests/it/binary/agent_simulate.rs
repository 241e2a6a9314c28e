//! The agent binary with `--simulate`: real process, real TCP, and a real XVC client
//! (openFPGALoader) detecting the emulated FPGA.

use crate::kit::{cli, loopback, port_block, session, Agent, Launch, XvcClient, IDCODE, T};
use indoc::formatdoc;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;
use xvc_agent::ftdi::identify::boards::{Board, BOARDS};
use xvc_agent::ftdi::profiles::HS2;
use xvc_agent::sim::series7::write_packets;
use xvc_agent::xvc::codec::{self, Command as Xvc};

/// Starts `--simulate N` on 127.0.0.1 with the pool at `base` and waits for READY=1.
fn start_simulated(config: &str, cables: usize, base: u16) -> Agent {
    Agent::start(
        config,
        &[
            "--simulate",
            &cables.to_string(),
            "--base-port",
            &base.to_string(),
            "--listen",
            "127.0.0.1",
        ],
    )
}

/// Runs openFPGALoader as an XVC client of `port`; returns its success and its output.
fn openfpgaloader(port: u16, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = Command::new("openFPGALoader")
        .args(["-c", "xvc-client", "--ip", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("openFPGALoader is installed by `make deps`");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn openfpgaloader_detects_both_simulated_cables() {
    let base = port_block(2);
    let mut agent = start_simulated("", 2, base);
    for port in [base, base + 1] {
        let (ok, text) = openfpgaloader(port, &["--detect".as_ref()]);
        assert!(ok, "openFPGALoader failed:\n{text}");
        assert!(text.contains("0x362d093"), "IDCODE not found:\n{text}");
        assert!(text.contains("xc7a35"), "part not named:\n{text}");
    }
    let (status, took) = agent.terminate();
    assert!(status.success(), "agent exit status {status}");
    assert!(took < Duration::from_secs(6));
}

/// A well-formed bitstream body (a `.bin`) for the simulated xc7a35t: `frames` words of
/// pseudo-random frame data, so its size is not a multiple of 100 bytes (openFPGALoader
/// clocks one extra bit out of Shift-DR after such a file).
fn synthetic_bin(frames: usize, seed: u32) -> Vec<u8> {
    let words: Vec<u32> = (0..frames as u32)
        .map(|i| (i ^ seed).wrapping_mul(2654435761).rotate_left(7))
        .collect();
    let body = write_packets(xvc_agent::sim::parts::XC7A35T.idcode, &words);
    assert_ne!(body.len() % 100, 0);
    body
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Loads `body` through openFPGALoader into the cable on `port`; returns the status entry
/// of the simulated FPGA afterwards.
fn load_with_openfpgaloader(agent: &Agent, port: u16, body: &[u8]) -> serde_json::Value {
    let image = agent.dir.path().join(format!("image-{port}.bin"));
    std::fs::write(&image, body).unwrap();
    let (ok, text) = openfpgaloader(
        port,
        &[
            "-m".as_ref(),
            "--file-type".as_ref(),
            "bin".as_ref(),
            image.as_os_str(),
        ],
    );
    assert!(ok, "openFPGALoader failed:\n{text}");
    assert!(text.contains("Done"), "load did not finish:\n{text}");
    let status = agent.status();
    let cable = status["cables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["port"] == port)
        .expect("the cable in status")
        .clone();
    let fpga = cable["simulated_fpga"]
        .as_array()
        .expect("a simulated FPGA record");
    assert_eq!(fpga.len(), 1, "{cable}");
    fpga[0].clone()
}

#[test]
fn openfpgaloader_loads_a_bitstream_bit_exact() {
    let base = port_block(1);
    let mut agent = start_simulated("", 1, base);
    let body = synthetic_bin(64 * 1024, 1);
    let fpga = load_with_openfpgaloader(&agent, base, &body);
    assert_eq!(fpga["part"], "xc7a35t");
    assert_eq!(fpga["cfg_in_bits"], body.len() as u64 * 8, "{fpga}");
    assert_eq!(fpga["sha256"], sha256_hex(&body), "{fpga}");
    assert_eq!(fpga["done"], true, "{fpga}");
    assert!(
        agent.log().contains(&format!(
            "simulated xc7a35t configured: DONE after {} CFG_IN bits, sha256 {}",
            body.len() * 8,
            sha256_hex(&body)
        )),
        "no configuration line in the log:\n{}",
        agent.log()
    );
    assert!(agent.terminate().0.success());
}

/// The check can fail: one TDI bit flipped inside the frame data (a test-only fault of the
/// simulated FPGA) shows as another hash and DONE stays low, while openFPGALoader, which
/// does not read DONE back, reports success.
#[test]
fn a_flipped_bit_shows_in_the_hash_and_leaves_done_low() {
    let base = port_block(1);
    let body = synthetic_bin(16 * 1024, 2);
    let flip = (body.len() as u64 / 2) * 8 + 5;
    let mut agent = Launch {
        env: &[("XVC_SIM_FLIP_CFG_IN_BIT", &flip.to_string())],
        ..Launch::default()
    }
    .start(
        "",
        &[
            "--simulate",
            "1",
            "--base-port",
            &base.to_string(),
            "--listen",
            "127.0.0.1",
        ],
    );
    let fpga = load_with_openfpgaloader(&agent, base, &body);
    assert_eq!(fpga["cfg_in_bits"], body.len() as u64 * 8, "{fpga}");
    assert_ne!(fpga["sha256"], sha256_hex(&body), "{fpga}");
    assert_eq!(fpga["done"], false, "{fpga}");
    assert!(
        fpga["error"].as_str().unwrap_or("").contains("CRC"),
        "{fpga}"
    );
    assert!(!agent.log().contains("configured: DONE"));
    assert!(agent.terminate().0.success());
}

#[test]
fn an_unparsable_fault_setting_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "").unwrap();
    let out = Command::new(crate::kit::BINARY)
        .args([
            "run",
            "--simulate",
            "1",
            "--log",
            "stderr",
            "--base-port",
            "0",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--control-socket")
        .arg(dir.path().join("control.sock"))
        .env("XVC_SIM_FLIP_CFG_IN_BIT", "many")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("XVC_SIM_FLIP_CFG_IN_BIT=\"many\": not a bit number"),
        "{err}"
    );
}

#[test]
fn sigterm_ends_an_active_session_and_closes_ports() {
    let base = port_block(1);
    // 64 KiB shifts: a vector limit raised in the configuration.
    let config = "shutdown_timeout: 2s\nmax_vector_bytes: 65536\n";
    let mut agent = start_simulated(config, 1, base);
    let addr = loopback(base);
    let client = session(addr);
    // Keep the cable busy with back-to-back 64 KiB shifts from another thread (each one far
    // shorter than shutdown_timeout, so the in-flight one always completes).
    const SHIFT: usize = 64 << 10;
    let mut writer = client.stream.try_clone().unwrap();
    // Once the agent has gone, a write into a full window may wait for the peer's FIN timeout;
    // the pump gives up instead.
    writer
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let shift = xvc_agent::xvc::codec::encode_shift(
        (SHIFT * 8) as u32,
        &vec![0; SHIFT],
        &vec![0xA5; SHIFT],
    );
    let pump = std::thread::spawn(move || {
        for _ in 0..2000 {
            if writer.write_all(&shift).is_err() {
                break;
            }
        }
    });
    // Read replies as they come, as a client does, until EOF.
    let mut reader = client.stream.try_clone().unwrap();
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let drain = std::thread::spawn(move || {
        let mut total = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => {
                    total += n;
                    if total >= SHIFT {
                        let _ = first_tx.send(());
                    }
                }
            }
        }
    });
    first_rx.recv_timeout(T).expect("a first reply");
    let (status, took) = agent.terminate();
    assert!(status.success(), "agent exit status {status}");
    // A bound with slack for a loaded machine, not a timing measurement.
    assert!(
        took < Duration::from_secs(2 + 3),
        "stopped within shutdown_timeout (2 s): {took:?}"
    );
    // The client got whole replies only (the in-flight shift completed), then EOF.
    let total = drain.join().unwrap();
    assert!(total >= SHIFT);
    assert_eq!(total % SHIFT, 0, "only whole shift replies");
    pump.join().unwrap();
    assert!(std::net::TcpStream::connect(addr).is_err(), "port closed");
}

#[test]
fn sd_notify_sequence() {
    let base = port_block(1);
    let mut agent = Launch {
        env: &[("WATCHDOG_USEC", "200000")],
        ..Launch::default()
    }
    .start(
        "listen: 127.0.0.1\n",
        &["--simulate", "1", "--base-port", &base.to_string()],
    );
    let notify = &agent.notify;
    let ready = notify.wait_message("READY=1", 1);
    assert!(ready.contains("STATUS=1 serving"), "{ready}");
    notify.wait_count("WATCHDOG=1", 1);
    agent.signal(libc::SIGHUP);
    let reloading = notify.wait_message("RELOADING=1", 1);
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    notify.wait_count("READY=1", 2);
    let (status, _) = agent.terminate();
    agent.notify.wait_count("STOPPING=1", 1);
    assert!(status.success());
}

#[test]
fn check_config_reports_every_error_with_exit_78() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        indoc::indoc! {"
            ports: 10-5
            access: loose
            bogus: 1
        "},
    )
    .unwrap();
    let out = cli(["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    let p = path.display().to_string();
    for line in [
        format!("{p}:1:8:"),
        format!("{p}:2:9:"),
        format!("{p}:3:1:"),
    ] {
        assert!(err.contains(&line), "missing {line} in:\n{err}");
    }
    std::fs::write(&path, "ports: 3000-3010\n").unwrap();
    let out = cli(["check-config", "--config", path.to_str().unwrap()]);
    assert!(out.status.success());
}

#[test]
fn status_table_and_json_over_the_control_socket() {
    let base = port_block(2);
    let config = formatdoc!(
        "
        listen: 127.0.0.1
        ports: {}-{}
        cables:
          - name: bench-a
            match: {{ serial: SIM000001 }}
            port: {base}
        ",
        base + 1,
        base + 1
    );
    let mut agent = Agent::start(&config, &["--simulate", "2"]);
    let sock = agent.control_socket();
    let sock = sock.to_str().unwrap();
    let mut client = XvcClient::connect(loopback(base)).unwrap();
    assert_eq!(client.read_idcode().unwrap(), 0x0362_D093);

    let out = cli(["status", "--socket", sock]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with("bench-a"))
        .unwrap_or_else(|| panic!("{table}"));
    for want in [
        "SIM000001",
        "sim-1",
        "hs2",
        &base.to_string(),
        "busy",
        "127.0.0.1:",
        "xc7a35t (0x0362d093)",
    ] {
        assert!(row.contains(want), "{want} missing in {row}");
    }
    assert!(
        table.lines().any(|l| l.starts_with("SIM000002")
            && l.contains(&(base + 1).to_string())
            && l.contains("serving")),
        "{table}"
    );

    let out = cli(["status", "--json", "--socket", sock]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cables = json["cables"].as_array().unwrap();
    assert_eq!(cables.len(), 2);
    assert_eq!(cables[0]["serial"], "SIM000001");
    assert_eq!(cables[0]["port"], base);
    assert_eq!(cables[0]["state"], "busy");
    assert!(cables[0]["shifts"].as_u64().unwrap() >= 3);
    assert_eq!(cables[1]["state"], "serving");
    drop(client);
    assert!(agent.terminate().0.success());
}

#[test]
fn status_without_an_agent_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nothing.sock");
    let out = cli(["status", "--socket", sock.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not running"), "{err}");
}

/// Checks the Prometheus text format line by line and returns the samples.
fn parse_prometheus(text: &str) -> Vec<(String, String, f64)> {
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let name = it.next().unwrap().to_string();
            let kind = it.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name);
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                assert!(l.ends_with('}'), "{line}");
                (n, l.trim_end_matches('}'))
            }
            None => (series, ""),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| typed.contains(*f))
            .unwrap_or(name);
        assert!(typed.contains(family), "no TYPE for {name}");
        samples.push((name.to_string(), labels.to_string(), value));
    }
    samples
}

#[test]
fn metrics_scrape_covers_both_cables() {
    let base = port_block(2);
    let metrics_port = port_block(1);
    let config = formatdoc!(
        "
        listen: 127.0.0.1
        metrics: {{ listen: 127.0.0.1:{metrics_port} }}
        "
    );
    let mut agent = Agent::start(
        &config,
        &["--simulate", "2", "--base-port", &base.to_string()],
    );
    let mut client = XvcClient::connect(loopback(base)).unwrap();
    client.read_idcode().unwrap();
    let mut http = std::net::TcpStream::connect(("127.0.0.1", metrics_port)).unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    http.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"));
    let samples = parse_prometheus(body);
    let find = |name: &str, label: &str| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l.contains(label))
            .map(|s| s.2)
            .unwrap_or_else(|| panic!("no {name} with {label}"))
    };
    assert_eq!(find("xvc_agent_cables", "state=\"busy\""), 1.0);
    assert_eq!(find("xvc_agent_cables", "state=\"serving\""), 1.0);
    assert!(find("xvc_agent_shifted_bits_total", "serial=\"SIM000001\"") > 0.0);
    assert_eq!(
        find("xvc_agent_shifted_bits_total", "serial=\"SIM000002\""),
        0.0
    );
    assert!(
        find(
            "xvc_agent_shift_duration_seconds_count",
            "serial=\"SIM000001\""
        ) >= 3.0
    );
    find("xvc_agent_build_info", "version=");
    drop(client);
    assert!(agent.terminate().0.success());
}

/// The facts the Python harnesses share (tests/kit/facts.py) are the product's: the HS2's
/// identity, the simulated part's IDCODE, the XVC words and defaults.
#[test]
fn the_python_harnesses_facts_are_the_products() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kit/facts.py");
    let text = std::fs::read_to_string(path).expect("tests/kit/facts.py");
    let facts: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .filter(|(name, _)| {
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    // Python literals of the product's values.
    let word = |encoded: Vec<u8>, args: usize| {
        format!(
            "b{:?}",
            std::str::from_utf8(&encoded[..encoded.len() - args]).unwrap()
        )
    };
    let info = String::from_utf8(codec::getinfo_reply(1)).unwrap();
    fn python_list<'a>(rows: impl Iterator<Item = &'a Board>) -> String {
        let names: Vec<String> = rows.map(|b| format!("{:?}", b.name)).collect();
        format!("[{}]", names.join(", "))
    }
    let sim = xvc_agent::hotplug::simulated::sim_cable(1);
    let want: BTreeMap<&str, String> = [
        ("HS2_VID", format!("{:#06x}", HS2.vid)),
        ("HS2_PID", format!("{:#06x}", HS2.pid)),
        (
            "HS2_MANUFACTURER",
            format!("{:?}", sim.manufacturer.unwrap()),
        ),
        ("HS2_PRODUCT", format!("{:?}", sim.product.unwrap())),
        ("XC7A35T_IDCODE", format!("0x{IDCODE:08X}")),
        ("XVC_GETINFO", word(codec::encode(&Xvc::GetInfo), 0)),
        (
            "XVC_SETTCK",
            word(codec::encode(&Xvc::SetTck { period_ns: 0 }), 4),
        ),
        ("XVC_SHIFT", word(codec::encode_shift(0, &[], &[]), 4)),
        (
            "XVC_INFO_PREFIX",
            format!("{:?}", &info[..=info.rfind(':').unwrap()]),
        ),
        ("XVC_DEFAULT_PORT", xvc_agent::xvc::DEFAULT_PORT.to_string()),
        (
            "SERVED_BOARDS",
            python_list(BOARDS.iter().filter(|b| b.wiring().is_some())),
        ),
        (
            "NEVER_BOARDS",
            python_list(BOARDS.iter().filter(|b| b.wiring().is_none())),
        ),
        (
            "XVC_MAX_VECTOR_BYTES",
            xvc_agent::xvc::DEFAULT_MAX_VECTOR_BYTES.to_string(),
        ),
    ]
    .into_iter()
    .collect();
    let have: BTreeMap<&str, String> = facts
        .iter()
        .map(|(name, value)| (*name, value.trim().to_string()))
        .collect();
    assert_eq!(have, want, "{path} differs from the product");
}
