//! The agent binary with `--simulate`: real process, real TCP, and a real XVC client
//! (openFPGALoader) detecting the emulated FPGA.

mod common;

use common::{free_port_range, wait_for, wait_for_port, XvcClient};
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

fn start_agent(args: &[&str]) -> Agent {
    let child = Command::new(env!("CARGO_BIN_EXE_xvc-agent"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start xvc-agent");
    Agent(child)
}

fn terminate(agent: &mut Agent) -> std::process::ExitStatus {
    let pid = agent.0.id() as libc::pid_t;
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    wait_for("agent to exit after SIGTERM", T, || {
        agent.0.try_wait().unwrap()
    })
}

#[test]
fn openfpgaloader_detects_both_simulated_cables() {
    let base = free_port_range(2);
    let mut agent = start_agent(&[
        "run",
        "--simulate",
        "2",
        "--base-port",
        &base.to_string(),
        "--listen",
        "127.0.0.1",
    ]);
    for port in [base, base + 1] {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        wait_for_port(addr, T);
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
fn sigterm_ends_an_active_session_and_closes_ports() {
    let base = free_port_range(1);
    let mut agent = start_agent(&[
        "run",
        "--simulate",
        "1",
        "--base-port",
        &base.to_string(),
        "--listen",
        "127.0.0.1",
    ]);
    let addr: SocketAddr = ([127, 0, 0, 1], base).into();
    wait_for_port(addr, T);
    let mut client = wait_for("a session", T, || {
        let mut c = XvcClient::connect(addr).ok()?;
        c.read_idcode().ok().map(|_| c)
    });
    let status = terminate(&mut agent);
    assert!(status.success(), "agent exit status {status}");
    assert!(client.sees_eof(Duration::from_secs(5)), "client sees EOF");
    assert!(std::net::TcpStream::connect(addr).is_err(), "port closed");
}
