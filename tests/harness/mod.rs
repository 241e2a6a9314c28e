//! Helpers shared by the supervisor and stress suites: the agent in-process (through
//! `run_with`), the agent binary with `--simulate` (readiness from a NOTIFY_SOCKET datagram),
//! and readings of a process's resources from /proc (descriptors, threads, RSS, CPU time,
//! context switches).

#![allow(dead_code)]

pub mod scale;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use xvc_agent::agent::opener::{CableOpener, SimulatedOpener};
use xvc_agent::agent::run::{RunOptions, Wiring};
use xvc_agent::agent::state::CableState;
use xvc_agent::agent::status::AgentStatus;
use xvc_agent::agent::supervisor::{run_with, Input};
use xvc_agent::hotplug::simulated::sim_cable;
use xvc_agent::hotplug::CableEvent;

/// Time allowed for anything the agent should do promptly.
pub const T: Duration = Duration::from_secs(20);
/// The IDCODE of the simulated part (xc7a35t).
pub const IDCODE: u32 = 0x0362_D093;

pub fn loopback(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// Reads a variable of the environment as a number, with a default (long variants of the
/// stress tests are selected this way by `make stress`).
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Finds `count` consecutive free TCP ports on 127.0.0.1 below the kernel's ephemeral range.
///
/// Ports the kernel hands out as source ports of outgoing connections (this machine runs other
/// tests too) would now and then be taken when a cable's port is bound again after an unplug,
/// and a probe of a closed port could connect to itself. Below the range neither happens.
pub fn port_block(count: u16) -> u16 {
    crate::common::free_port_range(count)
}

/// True when nothing listens on `port` on 127.0.0.1.
///
/// A port in the ephemeral range can be picked as the source port of the probe itself; the
/// kernel then connects the socket to itself (TCP simultaneous open), which says nothing about
/// a listener and counts as refused.
pub fn refused(port: u16) -> bool {
    match std::net::TcpStream::connect_timeout(&loopback(port), Duration::from_secs(2)) {
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        Ok(s) => s.local_addr().ok() == s.peer_addr().ok(),
    }
}

// ---------------------------------------------------------------------------------------------
// /proc readings

/// What a process holds at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    pub fds: usize,
    pub threads: usize,
    pub rss_kib: u64,
}

impl std::fmt::Display for Resources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} fds, {} threads, RSS {:.1} MiB",
            self.fds,
            self.threads,
            self.rss_kib as f64 / 1024.0
        )
    }
}

/// `/proc/<pid>` or `/proc/self`.
pub fn proc_dir(pid: Option<u32>) -> PathBuf {
    match pid {
        Some(p) => PathBuf::from(format!("/proc/{p}")),
        None => PathBuf::from("/proc/self"),
    }
}

/// A `Key:   value kB` field of /proc/<pid>/status, as its number.
pub fn status_field(dir: &Path, key: &str) -> u64 {
    let text = std::fs::read_to_string(dir.join("status")).expect("read /proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {}", dir.display()))
}

pub fn resources(pid: Option<u32>) -> Resources {
    let dir = proc_dir(pid);
    Resources {
        fds: std::fs::read_dir(dir.join("fd")).expect("read fds").count(),
        threads: status_field(&dir, "Threads") as usize,
        rss_kib: status_field(&dir, "VmRSS"),
    }
}

/// User + system CPU time of a process, in clock ticks (all its threads).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Voluntary context switches of each thread of a process, by thread id.
pub fn voluntary_switches(pid: u32) -> std::collections::HashMap<u64, u64> {
    let mut out = std::collections::HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let dir = task.unwrap().path();
        let Some(tid) = dir.file_name().and_then(|n| n.to_str()?.parse().ok()) else {
            continue;
        };
        if let Ok(text) = std::fs::read_to_string(dir.join("status")) {
            if let Some(n) = text
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                out.insert(tid, n);
            }
        }
    }
    out
}

/// Voluntary context switches between two readings: threads that ended in between count
/// what they did until their last reading, threads that started count all of theirs.
pub fn switches_between(
    before: &std::collections::HashMap<u64, u64>,
    after: &std::collections::HashMap<u64, u64>,
) -> u64 {
    after
        .iter()
        .map(|(tid, n)| n.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum()
}

/// Polls `f` every millisecond until it returns `Some`, or panics after `timeout`.
pub fn poll<R>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------------
// The agent in-process

/// The supervisor on its own runtime, fed through its input queue like udev would.
pub struct InProcess {
    pub rt: tokio::runtime::Runtime,
    pub tx: mpsc::UnboundedSender<Input>,
    pub dir: tempfile::TempDir,
    done: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl InProcess {
    /// Starts an agent with `yaml`, the simulated cables `initial` (1-based) and `opener`.
    pub fn start(yaml: &str, initial: &[usize], opener: Arc<dyn CableOpener>) -> InProcess {
        Self::start_in(tempfile::tempdir().unwrap(), yaml, initial, opener)
    }

    /// Like [`InProcess::start`], with the config and state in `dir` (a restart reuses it).
    pub fn start_in(
        dir: tempfile::TempDir,
        yaml: &str,
        initial: &[usize],
        opener: Arc<dyn CableOpener>,
    ) -> InProcess {
        std::fs::write(dir.path().join("config.yaml"), yaml).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // Opens run on the blocking pool, whose idle threads otherwise linger for 10 s:
            // thread counts then settle quickly after a burst of opens.
            .thread_keep_alive(Duration::from_millis(100))
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let opts = RunOptions {
            config_path: dir.path().join("config.yaml"),
            config_explicit: true,
            state_dir: Some(dir.path().join("state")),
            ..RunOptions::default()
        };
        let wiring = Wiring {
            opener,
            initial: initial
                .iter()
                .map(|&i| CableEvent::Attached(sim_cable(i)))
                .collect(),
            enumerate: None,
            ready: Some(ready_tx),
        };
        let done = rt.spawn(run_with(opts, wiring, tx.clone(), rx));
        rt.block_on(async { tokio::time::timeout(T, ready_rx).await })
            .expect("agent ready in time")
            .expect("agent ready");
        InProcess {
            rt,
            tx,
            dir,
            done: Some(done),
        }
    }

    pub fn simulated(yaml: &str, initial: &[usize]) -> InProcess {
        Self::start(yaml, initial, Arc::new(SimulatedOpener))
    }

    /// The status; since inputs are applied in order, every input sent before has been
    /// handled when it returns.
    pub fn status(&self) -> AgentStatus {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Input::Status(reply)).unwrap();
        self.rt.block_on(rx).unwrap()
    }

    pub fn state_of(&self, serial: &str) -> Option<(CableState, Option<u16>)> {
        self.status()
            .cables
            .into_iter()
            .find(|c| c.serial.as_deref() == Some(serial))
            .map(|c| (c.state, c.port))
    }

    /// Waits until cable `serial` is in `state`; returns its port.
    pub fn wait_state(&self, serial: &str, state: CableState) -> Option<u16> {
        poll(&format!("{serial} to be {state}"), T, || {
            self.state_of(serial)
                .filter(|(s, _)| *s == state)
                .map(|(_, p)| p)
        })
    }

    pub fn plug(&self, i: usize) {
        self.tx
            .send(Input::Cable(CableEvent::Attached(sim_cable(i))))
            .unwrap();
    }

    pub fn unplug(&self, i: usize) {
        self.tx
            .send(Input::Cable(CableEvent::Detached {
                syspath: sim_cable(i).syspath,
            }))
            .unwrap();
    }

    /// Rewrites the config file and asks for a reload (SIGHUP).
    pub fn reload(&self, yaml: &str) {
        std::fs::write(self.dir.path().join("config.yaml"), yaml).unwrap();
        self.tx.send(Input::Reload).unwrap();
    }

    /// Stops the agent and hands back its directory (config and state).
    pub fn stop(mut self) -> tempfile::TempDir {
        self.tx.send(Input::Shutdown).unwrap();
        let done = self.done.take().unwrap();
        self.rt
            .block_on(async { tokio::time::timeout(T, done).await })
            .expect("agent stops in time")
            .unwrap()
            .unwrap();
        self.dir
    }
}

// ---------------------------------------------------------------------------------------------
// The agent binary

/// A datagram socket standing in for systemd's notification socket, read continuously like
/// systemd does: the agent's notifications are blocking sends, and an unread socket (whose
/// queue holds only a few datagrams) would stall the agent's loop.
pub struct NotifySocket {
    pub path: PathBuf,
    seen: Arc<(std::sync::Mutex<Vec<String>>, std::sync::Condvar)>,
}

impl NotifySocket {
    pub fn new(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let seen = Arc::new((std::sync::Mutex::new(Vec::new()), std::sync::Condvar::new()));
        let out = seen.clone();
        // Ends when the test process does; a read timeout only re-arms the loop.
        sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            loop {
                match sock.recv(&mut buf) {
                    Ok(n) => {
                        out.0
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                        out.1.notify_all();
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => return,
                }
            }
        });
        NotifySocket { path, seen }
    }

    /// Every notification so far.
    pub fn messages(&self) -> Vec<String> {
        self.seen.0.lock().unwrap().clone()
    }

    /// How many notifications so far hold the line `line`.
    pub fn count(&self, line: &str) -> usize {
        self.seen
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.lines().any(|l| l == line))
            .count()
    }

    /// Waits until `n` notifications hold the line `line`.
    pub fn wait_count(&self, line: &str, n: usize) {
        self.wait_message(line, n);
    }

    /// Waits for the `n`-th notification (1-based) holding the line `line` and returns it.
    pub fn wait_message(&self, line: &str, n: usize) -> String {
        let deadline = Instant::now() + T;
        let mut msgs = self.seen.0.lock().unwrap();
        loop {
            if let Some(m) = msgs
                .iter()
                .filter(|m| m.lines().any(|l| l == line))
                .nth(n - 1)
            {
                return m.clone();
            }
            let now = Instant::now();
            assert!(now < deadline, "no {line} notification (#{n}) in time");
            msgs = self.seen.1.wait_timeout(msgs, deadline - now).unwrap().0;
        }
    }
}

/// `xvc-agent run` as a child process with its own config, state dir and control socket.
pub struct Agent {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub notify: NotifySocket,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- agent log (last {} lines) ---", tail.len());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

impl Agent {
    /// Starts the binary with `config` and `args`, and waits for its READY=1.
    pub fn start(config: &str, args: &[&str]) -> Agent {
        Self::start_wrapped(&[], config, args)
    }

    /// Like [`Agent::start`], run through `wrapper` (a command that executes its arguments,
    /// such as `ip netns exec NAME`), which must exec the agent so that its PID is the agent's.
    pub fn start_wrapped(wrapper: &[&str], config: &str, args: &[&str]) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let notify = NotifySocket::new(dir.path());
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config).unwrap();
        let binary = env!("CARGO_BIN_EXE_xvc-agent");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let child = command
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--control-socket")
            .arg(dir.path().join("control.sock"))
            .args(args)
            .env("NOTIFY_SOCKET", &notify.path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("agent.log")).unwrap())
            .spawn()
            .expect("start xvc-agent");
        let agent = Agent { child, dir, notify };
        agent.notify.wait_count("READY=1", 1);
        agent
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    pub fn resources(&self) -> Resources {
        resources(Some(self.pid()))
    }

    /// The status as JSON, over the control socket.
    pub fn status(&self) -> serde_json::Value {
        let sock = self.dir.path().join("control.sock");
        xvc_agent::control::client::status(&sock)
            .expect("status from the control socket")
            .0
    }

    /// State of the cable with this serial, from the status.
    pub fn state_of(&self, serial: &str) -> Option<String> {
        let st = self.status();
        st["cables"]
            .as_array()?
            .iter()
            .find(|c| c["serial"] == serial)
            .and_then(|c| c["state"].as_str().map(String::from))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// The agent's control socket.
    pub fn control_socket(&self) -> PathBuf {
        self.dir.path().join("control.sock")
    }

    /// Sends SIGTERM and waits for the exit; returns the status and how long it took.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let t0 = Instant::now();
        self.signal(libc::SIGTERM);
        let status = poll("the agent to exit after SIGTERM", T, || {
            self.child.try_wait().unwrap()
        });
        (status, t0.elapsed())
    }
}
