//! The agent binary as a child process: `xvc-agent run` with a config, state directory and
//! control socket of its own, readiness from a NOTIFY_SOCKET datagram as systemd sees it; and
//! one-shot CLI commands (`status`, `check-config`, `disconnect`, ...).

use super::{poll, procfs, T};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The agent binary cargo built for this test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_xvc-agent");

/// Runs the agent binary with `args` to completion.
pub fn cli<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(BINARY)
        .args(args)
        .output()
        .expect("run xvc-agent")
}

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

/// How to start an agent beyond its config and arguments.
#[derive(Default)]
pub struct Launch<'a> {
    /// A command that executes its arguments (such as `ip netns exec NAME`); it must exec the
    /// agent so that its PID is the agent's.
    pub wrapper: &'a [&'a str],
    /// Variables added to the agent's environment (such as `WATCHDOG_USEC`).
    pub env: &'a [(&'a str, &'a str)],
}

impl Launch<'_> {
    /// Starts `xvc-agent run` with `config` and `args`, and waits for its READY=1.
    pub fn start(&self, config: &str, args: &[&str]) -> Agent {
        self.start_in(tempfile::tempdir().unwrap(), config, args)
    }

    /// Like [`Launch::start`], in `dir`: a restart gets the directory (state, control socket)
    /// of the agent [`Agent::stop`] ended.
    pub fn start_in(&self, dir: tempfile::TempDir, config: &str, args: &[&str]) -> Agent {
        let _ = std::fs::remove_file(dir.path().join("notify.sock"));
        let notify = NotifySocket::new(dir.path());
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config).unwrap();
        let mut command = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(BINARY);
                c
            }
            None => Command::new(BINARY),
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
            .envs(self.env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("agent.log")).unwrap())
            .spawn()
            .expect("start xvc-agent");
        let agent = Agent { child, dir, notify };
        agent.notify.wait_count("READY=1", 1);
        agent
    }
}

/// `xvc-agent run` as a child process with its own config, state dir and control socket;
/// killed when dropped (its log's tail printed if the test is failing).
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
        Launch::default().start(config, args)
    }

    /// Like [`Agent::start`], run through `wrapper` (a command that executes its arguments,
    /// such as `ip netns exec NAME`), which must exec the agent so that its PID is the agent's.
    pub fn start_wrapped(wrapper: &[&str], config: &str, args: &[&str]) -> Agent {
        Launch {
            wrapper,
            ..Launch::default()
        }
        .start(config, args)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    pub fn resources(&self) -> procfs::Resources {
        procfs::resources(Some(self.pid()))
    }

    /// The status as JSON, over the control socket.
    pub fn status(&self) -> serde_json::Value {
        xvc_agent::control::client::status(&self.control_socket())
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

    /// Waits (up to [`T`]) until the agent's log contains `text`.
    pub fn wait_log(&self, text: &str) {
        poll(&format!("{text:?} in the agent's log"), T, || {
            self.log().contains(text).then_some(())
        });
    }

    /// The agent's control socket.
    pub fn control_socket(&self) -> PathBuf {
        self.dir.path().join("control.sock")
    }

    /// Stops the agent (SIGTERM) and hands back its directory, for [`Launch::start_in`].
    pub fn stop(mut self) -> tempfile::TempDir {
        let (status, _) = self.terminate();
        assert!(status.success(), "agent exit: {status:?}\n{}", self.log());
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
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
