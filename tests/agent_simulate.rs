//! The agent binary with `--simulate`: real process, real TCP, and a real XVC client
//! (openFPGALoader) detecting the emulated FPGA.

mod kit;

use indoc::formatdoc;
use kit::{cli, loopback, port_block, session, Agent, Launch, XvcClient, IDCODE, T};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;
use xvc_agent::ftdi::profiles::HS2;
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

#[test]
fn openfpgaloader_loads_a_bitstream() {
    let base = port_block(1);
    let mut agent = start_simulated("", 1, base);
    // A raw 256 KiB image: openFPGALoader resets the part, shifts it into CFG_IN and checks DONE.
    let image = agent.dir.path().join("image.bin");
    let data: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(&image, data).unwrap();
    let (ok, text) = openfpgaloader(
        base,
        &[
            "-m".as_ref(),
            "--file-type".as_ref(),
            "bin".as_ref(),
            image.as_os_str(),
        ],
    );
    assert!(ok, "openFPGALoader failed:\n{text}");
    assert!(text.contains("Done"), "load did not finish:\n{text}");
    assert!(agent.terminate().0.success());
}

#[test]
fn sigterm_ends_an_active_session_and_closes_ports() {
    let base = port_block(1);
    let mut agent = start_simulated("shutdown_timeout: 2s\n", 1, base);
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
    let want: BTreeMap<&str, String> = [
        ("HS2_VID", format!("{:#06x}", HS2.vid)),
        ("HS2_PID", format!("{:#06x}", HS2.pid)),
        (
            "HS2_MANUFACTURER",
            format!("{:?}", HS2.manufacturer.unwrap()),
        ),
        ("HS2_PRODUCT", format!("{:?}", HS2.product.unwrap())),
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
