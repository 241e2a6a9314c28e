//! The agent in-process: the supervisor (`run_with`) on a runtime of the test's own, fed
//! through its input queue as udev would feed it, with the simulated opener or one the test
//! builds with [`opener`].

use super::{poll, T};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use xvc_agent::agent::opener::{CableOpener, SimulatedOpener};
use xvc_agent::agent::state::CableState;
use xvc_agent::agent::status::AgentStatus;
use xvc_agent::agent::supervisor::{run_with, Input};
use xvc_agent::agent::wiring::{RunOptions, Wiring};
use xvc_agent::ftdi::profiles::Profile;
use xvc_agent::ftdi::CableOptions;
use xvc_agent::hotplug::simulated::sim_cable;
use xvc_agent::hotplug::{CableEvent, CableInfo};
use xvc_agent::jtag::{Cable, CableError};

/// The tests' tokio runtime: two workers, and blocking-pool threads that end 100 ms after
/// their last job (opens run there; idle threads otherwise linger for 10 s, so thread counts
/// settle quickly after a burst of opens).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_keep_alive(Duration::from_millis(100))
        .enable_all()
        .build()
        .unwrap()
}

/// A [`CableOpener`] from a closure, so a test writes only what its opener does differently
/// (wait for a gate, count opens, wrap or fault the cable), not the trait's signature.
pub fn opener<F>(open: F) -> Arc<dyn CableOpener>
where
    F: Fn(&CableInfo, &'static Profile, &CableOptions) -> Result<Box<dyn Cable>, CableError>
        + Send
        + Sync
        + 'static,
{
    Arc::new(open)
}

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
        let rt = runtime();
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
        Self::start(yaml, initial, Arc::new(SimulatedOpener::default()))
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
