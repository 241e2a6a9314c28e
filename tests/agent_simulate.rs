//! The agent binary with `--simulate`: real process, real TCP, and a real XVC client
//! (openFPGALoader) detecting the emulated FPGA.

mod common;

use common::{free_port_range, wait_for, XvcClient};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A datagram socket standing in for systemd's notification socket.
struct NotifySocket {
    sock: std::os::unix::net::UnixDatagram,
    path: std::path::PathBuf,
}

impl NotifySocket {
    fn new(dir: &tempfile::TempDir) -> NotifySocket {
        let path = dir.path().join("notify.sock");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(T)).unwrap();
        NotifySocket { sock, path }
    }

    /// Waits for a notification with the line `what`, returning the whole message.
    fn wait_for(&self, what: &str) -> String {
        for _ in 0..1000 {
            let mut buf = vec![0u8; 4096];
            let n = self.sock.recv(&mut buf).expect("a notification in time");
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if m.lines().any(|l| l == what) {
                return m;
            }
        }
        panic!("no {what}");
    }
}

/// Starts the agent and waits for its READY=1 (readiness without touching its ports).
fn start_ready(dir: &tempfile::TempDir, config: &str, args: &[&str]) -> (Agent, NotifySocket) {
    let notify = NotifySocket::new(dir);
    let agent = start_agent_env(
        dir,
        config,
        args,
        &[("NOTIFY_SOCKET", notify.path.to_str().unwrap())],
    );
    notify.wait_for("READY=1");
    (agent, notify)
}

/// Starts `xvc-agent run` with a config file and state directory of its own.
fn start_agent_env(
    dir: &tempfile::TempDir,
    config: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Agent {
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_xvc-agent"))
        .arg("run")
        .arg("--config")
        .arg(&config_path)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("agent.log")).unwrap())
        .spawn()
        .expect("start xvc-agent");
    Agent(child)
}

fn signal(agent: &Agent, sig: libc::c_int) {
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(agent.0.id() as libc::pid_t, sig) };
}

fn terminate(agent: &mut Agent) -> std::process::ExitStatus {
    signal(agent, libc::SIGTERM);
    wait_for("agent to exit after SIGTERM", T, || {
        agent.0.try_wait().unwrap()
    })
}

#[test]
fn openfpgaloader_detects_both_simulated_cables() {
    let base = free_port_range(2);
    let dir = tempfile::tempdir().unwrap();
    let (mut agent, _notify) = start_ready(
        &dir,
        "",
        &[
            "--simulate",
            "2",
            "--base-port",
            &base.to_string(),
            "--listen",
            "127.0.0.1",
        ],
    );
    for port in [base, base + 1] {
        let out = Command::new("openFPGALoader")
            .args(["-c", "xvc-client", "--ip", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("--detect")
            .output()
            .expect("openFPGALoader is installed by `make deps`");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "openFPGALoader failed:\n{text}");
        assert!(text.contains("0x362d093"), "IDCODE not found:\n{text}");
        assert!(text.contains("xc7a35"), "part not named:\n{text}");
    }
    let started = Instant::now();
    let status = terminate(&mut agent);
    assert!(status.success(), "agent exit status {status}");
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[test]
fn openfpgaloader_loads_a_bitstream() {
    let base = free_port_range(1);
    let dir = tempfile::tempdir().unwrap();
    let (mut agent, _notify) = start_ready(
        &dir,
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
    // A raw 256 KiB image: openFPGALoader resets the part, shifts it into CFG_IN and checks DONE.
    let image = dir.path().join("image.bin");
    let data: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(&image, data).unwrap();
    let out = Command::new("openFPGALoader")
        .args(["-c", "xvc-client", "--ip", "127.0.0.1", "--port"])
        .arg(base.to_string())
        .args(["-m", "--file-type", "bin"])
        .arg(&image)
        .output()
        .expect("openFPGALoader is installed by `make deps`");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openFPGALoader failed:\n{text}");
    assert!(text.contains("Done"), "load did not finish:\n{text}");
    assert!(terminate(&mut agent).success());
}

#[test]
fn sigterm_ends_an_active_session_and_closes_ports() {
    let base = free_port_range(1);
    let dir = tempfile::tempdir().unwrap();
    let (mut agent, _notify) = start_ready(
        &dir,
        "shutdown_timeout: 2s\n",
        &[
            "--simulate",
            "1",
            "--base-port",
            &base.to_string(),
            "--listen",
            "127.0.0.1",
        ],
    );
    let addr: SocketAddr = ([127, 0, 0, 1], base).into();
    let mut client = wait_for("a session", T, || {
        let mut c = XvcClient::connect(addr).ok()?;
        c.read_idcode().ok().map(|_| c)
    });
    // Keep the cable busy with back-to-back 1 MiB shifts from another thread.
    let mut writer = client.stream.try_clone().unwrap();
    let shift =
        xvc_agent::xvc::codec::encode_shift(8 << 20, &vec![0; 1 << 20], &vec![0xA5; 1 << 20]);
    let pump = std::thread::spawn(move || {
        for _ in 0..200 {
            if writer.write_all(&shift).is_err() {
                break;
            }
        }
    });
    let mut first = vec![0u8; 1 << 20];
    client.stream.read_exact(&mut first).unwrap();
    let started = Instant::now();
    let status = terminate(&mut agent);
    assert!(status.success(), "agent exit status {status}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped within shutdown_timeout (2 s): {:?}",
        started.elapsed()
    );
    // The client gets whole replies, then EOF.
    let mut rest = Vec::new();
    let _ = client.stream.read_to_end(&mut rest);
    assert_eq!(rest.len() % (1 << 20), 0, "only whole shift replies");
    pump.join().unwrap();
    assert!(std::net::TcpStream::connect(addr).is_err(), "port closed");
}

#[test]
fn sd_notify_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let notify = NotifySocket::new(&dir);
    let base = free_port_range(1);
    let mut agent = start_agent_env(
        &dir,
        "listen: 127.0.0.1\n",
        &["--simulate", "1", "--base-port", &base.to_string()],
        &[
            ("NOTIFY_SOCKET", notify.path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let wait_for_msg = |what: &str| notify.wait_for(what);
    let ready = wait_for_msg("READY=1");
    assert!(ready.contains("STATUS=1 serving"), "{ready}");
    wait_for_msg("WATCHDOG=1");
    signal(&agent, libc::SIGHUP);
    let reloading = wait_for_msg("RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    wait_for_msg("READY=1");
    signal(&agent, libc::SIGTERM);
    wait_for_msg("STOPPING=1");
    let status = wait_for("agent exit", T, || agent.0.try_wait().unwrap());
    assert!(status.success());
}

#[test]
fn check_config_reports_every_error_with_exit_78() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "ports: 10-5\naccess: loose\nbogus: 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xvc-agent"))
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
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
    let out = Command::new(env!("CARGO_BIN_EXE_xvc-agent"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
}
