//! The supervisor: the single owner of "which cable is served on which port, and how".
//!
//! Every change arrives as an [`Input`] on one queue — a cable attached or detached, a server
//! reporting a client or a cable error, a cable finished opening, a timer, a signal, a status
//! request — and is applied in order, so a detach can never race a late attach of the same
//! device. After each change the pure [`assign`] decides the wanted picture and
//! [`Supervisor::reconcile`] applies only the difference: a cable whose port and settings did
//! not change keeps its listener and its session.
//!
//! Lifecycle of a served cable: bind the port → open the cable (off the loop, on a blocking
//! thread) → read its JTAG chain → serve. A cable error makes it `degraded` (the port stays
//! bound, clients are refused) and it is reopened on the schedule in [`state`](super::state);
//! after the last attempt it is `offline` until replugged or rescanned.

use crate::agent::assign::{assign, AttachedCable, Served};
use crate::agent::leases::Leases;
use crate::agent::notify;
use crate::agent::opener::{CableOpener, SimulatedOpener};
use crate::agent::state::{self, CableState};
use crate::agent::status::{AgentStatus, CableStatus, ChainDevice, Histogram};
use crate::agent::usb_opener::UsbOpener;
use crate::config::{self, CableSettings, Config, ConfigSource};
use crate::control::protocol::Disconnected;
use crate::control::socket::{ControlError, ControlSocket};
use crate::ftdi::profiles::Profile;
use crate::ftdi::CableOptions;
use crate::hotplug::{self, CableEvent, CableInfo};
use crate::jtag::identify::{self, ChainEntry};
use crate::jtag::{Cable, CableError};
use crate::logging::message_id;
use crate::xvc::server::{
    CableLabel, CableServer, RefuseReason, ServerEvent, SHIFT_LATENCY_BUCKETS,
};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// What `xvc-agent run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The config file, and whether it was named explicitly (`--config`).
    pub config_path: PathBuf,
    pub config_explicit: bool,
    /// Serve this many simulated cables instead of watching udev.
    pub simulate: Option<usize>,
    /// Moves the port pool to start here (keeping its size).
    pub base_port: Option<u16>,
    /// Overrides `listen:` of the config.
    pub listen: Option<IpAddr>,
    /// Overrides `state_dir:` (and `$STATE_DIRECTORY`).
    pub state_dir: Option<PathBuf>,
    /// Control socket path (`None`: [`default_socket_path`](crate::control::default_socket_path)).
    pub control_socket: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            config_path: PathBuf::from(config::DEFAULT_PATH),
            config_explicit: false,
            simulate: None,
            base_port: None,
            listen: None,
            state_dir: None,
            control_socket: None,
        }
    }
}

/// A cable opened and identified, ready to serve.
pub struct OpenedCable {
    pub cable: Box<dyn Cable>,
    pub chain: Vec<ChainDevice>,
}

/// An input to the supervisor loop.
pub enum Input {
    Cable(CableEvent),
    /// The current set of devices, from a re-enumeration (SIGUSR1).
    Present(Vec<CableInfo>),
    Server {
        key: PathBuf,
        generation: u64,
        event: ServerEvent,
    },
    Opened {
        key: PathBuf,
        generation: u64,
        result: Result<OpenedCable, CableError>,
    },
    RetryOpen {
        key: PathBuf,
        generation: u64,
    },
    RetryBind {
        key: PathBuf,
        generation: u64,
    },
    /// SIGHUP: reread the config file.
    Reload,
    /// SIGUSR1: re-enumerate devices and retry offline cables.
    Rescan,
    /// SIGUSR2: write a status summary to the log.
    LogStatus,
    Status(oneshot::Sender<AgentStatus>),
    /// End the session on the cable named by rule name, serial, USB path or port;
    /// `requested_by` is logged.
    Disconnect {
        cable: String,
        requested_by: String,
        reply: oneshot::Sender<Result<Disconnected, String>>,
    },
    /// SIGTERM / SIGINT: stop gracefully.
    Shutdown,
}

/// Errors that stop the agent from starting.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("cannot watch udev for cables: {0}")]
    Discovery(#[from] hotplug::udev::UdevError),
}

/// Where a cable source gets the current device list from (for SIGUSR1 rescans).
pub type Enumerate = Arc<dyn Fn() -> Vec<CableInfo> + Send + Sync>;

/// Everything the supervisor is wired to.
pub struct Wiring {
    pub opener: Arc<dyn CableOpener>,
    pub initial: Vec<CableEvent>,
    pub enumerate: Option<Enumerate>,
    /// Told once when the initial cables are served.
    pub ready: Option<oneshot::Sender<()>>,
}

/// Reads the config the way `run` does: CLI overrides applied, errors returned.
pub fn load_config(opts: &RunOptions) -> Result<(Config, ConfigSource), config::ConfigError> {
    let (mut cfg, source) = config::load_or_default(&opts.config_path, opts.config_explicit)?;
    apply_overrides(&mut cfg, opts);
    Ok((cfg, source))
}

fn apply_overrides(cfg: &mut Config, opts: &RunOptions) {
    if let Some(base) = opts.base_port {
        cfg.ports = cfg.ports.moved_to(base);
    }
    if let Some(listen) = opts.listen {
        cfg.listen = listen;
    }
}

fn state_dir(cfg: &Config, opts: &RunOptions) -> PathBuf {
    opts.state_dir
        .clone()
        .or_else(|| std::env::var_os("STATE_DIRECTORY").map(|v| first_path(&v)))
        .unwrap_or_else(|| cfg.state_dir.clone())
}

/// `$STATE_DIRECTORY` may list several directories separated by ':'.
fn first_path(v: &std::ffi::OsStr) -> PathBuf {
    let s = v.to_string_lossy();
    PathBuf::from(s.split(':').next().unwrap_or_default())
}

/// Runs `xvc-agent run`: picks the cable source, wires signals, serves until SIGTERM/SIGINT.
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    let wiring = match opts.simulate {
        Some(n) => Wiring {
            opener: Arc::new(SimulatedOpener),
            initial: hotplug::simulated::initial_events(n),
            enumerate: Some(Arc::new(move || {
                (1..=n).map(hotplug::simulated::sim_cable).collect()
            })),
            ready: None,
        },
        None => {
            // The monitor exists before the enumeration runs, so nothing is missed between.
            let filter = hotplug::udev::default_filter();
            let mut source =
                hotplug::udev::UdevSource::new(filter.clone()).map_err(AgentError::from)?;
            let initial = source.enumerate().map_err(AgentError::from)?;
            source.spawn(tx.clone(), Input::Cable);
            Wiring {
                opener: Arc::new(UsbOpener),
                initial,
                enumerate: Some(Arc::new(move || {
                    hotplug::udev::present(&filter).unwrap_or_else(|e| {
                        tracing::error!("rescan failed: {e}");
                        Vec::new()
                    })
                })),
                ready: None,
            }
        }
    };
    tokio::spawn(forward_signals(tx.clone()));
    let socket_path = opts
        .control_socket
        .clone()
        .unwrap_or_else(crate::control::default_socket_path);
    let _control = match ControlSocket::serve(&socket_path, tx.clone()) {
        Ok(c) => Some(c),
        Err(e @ ControlError::InUse(_)) => return Err(e.into()),
        Err(e) => {
            tracing::warn!("{e}; `xvc-agent status` will not work");
            None
        }
    };
    run_with(opts, wiring, tx, rx).await
}

/// Runs the supervisor loop until [`Input::Shutdown`].
pub async fn run_with(
    opts: RunOptions,
    wiring: Wiring,
    tx: mpsc::UnboundedSender<Input>,
    mut rx: mpsc::UnboundedReceiver<Input>,
) -> anyhow::Result<()> {
    let (cfg, source) = load_config(&opts)?;
    let config_label = match source {
        ConfigSource::File => opts.config_path.display().to_string(),
        ConfigSource::BuiltIn => {
            tracing::info!(
                "no config file at {}: using built-in defaults",
                opts.config_path.display()
            );
            "built-in defaults".to_string()
        }
    };
    let state_dir = state_dir(&cfg, &opts);
    let _http = cfg.metrics.and_then(|m| {
        let ctx = crate::control::http::HttpContext {
            inputs: tx.clone(),
            policy: crate::xvc::access::AccessPolicy {
                mode: cfg.access,
                allow: cfg.allow.clone(),
            },
        };
        match bind(m.listen) {
            Ok(listener) => {
                tracing::info!("HTTP: status page, API and metrics on http://{}/", m.listen);
                Some(AbortOnDrop(tokio::spawn(crate::control::http::serve(
                    listener,
                    Arc::new(ctx),
                ))))
            }
            Err(e) => {
                tracing::error!("cannot serve HTTP on {}: {e}", m.listen);
                None
            }
        }
    });
    // The advertiser follows the status; it stops when the supervisor (the sender) is gone.
    let (published, published_rx) = tokio::sync::watch::channel(AgentStatus {
        version: String::new(),
        config: String::new(),
        reloads: 0,
        cables: Vec::new(),
    });
    let _advertiser = AbortOnDrop(tokio::spawn(crate::lab::advertise::run(
        cfg.advertise,
        published_rx,
    )));
    let leases = match Leases::load(&state_dir) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("starting without remembered ports: {e}");
            Leases::new()
        }
    };
    let mut sup = Supervisor {
        opts,
        config: cfg,
        config_label,
        state_dir,
        leases,
        opener: wiring.opener,
        enumerate: wiring.enumerate,
        attached: Vec::new(),
        tx,
        next_generation: 1,
        reloads: 0,
        ready: wiring.ready,
        ready_sent: false,
        last_status: String::new(),
        published,
    };
    for ev in wiring.initial {
        sup.cable_event(ev).await;
    }
    sup.reconcile().await;
    sup.after_input();

    let mut watchdog = notify::watchdog_interval().map(tokio::time::interval);
    loop {
        let input = tokio::select! {
            input = rx.recv() => input,
            _ = tick(&mut watchdog) => {
                notify::watchdog();
                continue;
            }
        };
        let Some(input) = input else { break };
        if matches!(input, Input::Shutdown) {
            break;
        }
        sup.handle(input).await;
        sup.after_input();
    }
    notify::stopping();
    sup.shutdown().await;
    Ok(())
}

/// Stops a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn forward_signals(tx: mpsc::UnboundedSender<Input>) {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        SignalKind::terminate(),
        SignalKind::interrupt(),
        SignalKind::hangup(),
        SignalKind::user_defined1(),
        SignalKind::user_defined2(),
    ];
    let mut streams = Vec::new();
    for k in kinds {
        match signal(k) {
            Ok(s) => streams.push(s),
            Err(e) => {
                tracing::error!("cannot install signal handlers: {e}");
                return;
            }
        }
    }
    let [term, int, hup, usr1, usr2] = &mut streams[..] else {
        return;
    };
    loop {
        let input = tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); Input::Shutdown }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); Input::Shutdown }
            _ = hup.recv() => { tracing::info!("SIGHUP: reloading configuration"); Input::Reload }
            _ = usr1.recv() => { tracing::info!("SIGUSR1: rescanning devices"); Input::Rescan }
            _ = usr2.recv() => Input::LogStatus,
        };
        if tx.send(input).is_err() {
            return;
        }
    }
}

/// A running (or starting) server for an attached cable.
struct Running {
    port: u16,
    settings: CableSettings,
    profile: &'static Profile,
    generation: u64,
    phase: Phase,
}

enum Phase {
    /// Port bound, cable being opened; clients wait in the listen backlog.
    Opening { listener: TcpListener },
    /// Serving (or degraded, when the server has no cable).
    Serving { server: CableServer },
    /// The port could not be bound; retried every [`state::BIND_RETRY`].
    BindFailed,
}

/// An attached device and what the supervisor does with it.
struct Attached {
    info: CableInfo,
    detected: Option<&'static Profile>,
    name: String,
    run: Option<Running>,
    /// State when not running: queued, ignored or offline.
    idle_state: CableState,
    reason: Option<String>,
    chain: Vec<ChainDevice>,
    reopen_attempts: u32,
    usb_errors: u64,
    reconnects: u64,
}

impl Attached {
    fn key(&self) -> &Path {
        &self.info.syspath
    }

    fn server(&self) -> Option<&CableServer> {
        match &self.run {
            Some(Running {
                phase: Phase::Serving { server },
                ..
            }) => Some(server),
            _ => None,
        }
    }

    fn session_active(&self) -> bool {
        self.server().is_some_and(|s| s.client().is_some())
    }

    fn state(&self) -> CableState {
        match &self.run {
            None => self.idle_state,
            Some(r) => match &r.phase {
                Phase::Opening { .. } => CableState::Starting,
                Phase::BindFailed => CableState::Error,
                Phase::Serving { server } if !server.has_cable() => CableState::Degraded,
                Phase::Serving { server } if server.client().is_some() => CableState::Busy,
                Phase::Serving { .. } => CableState::Serving,
            },
        }
    }
}

struct Supervisor {
    opts: RunOptions,
    config: Config,
    config_label: String,
    state_dir: PathBuf,
    leases: Leases,
    opener: Arc<dyn CableOpener>,
    enumerate: Option<Enumerate>,
    /// Attached devices in arrival order.
    attached: Vec<Attached>,
    tx: mpsc::UnboundedSender<Input>,
    next_generation: u64,
    reloads: u64,
    ready: Option<oneshot::Sender<()>>,
    ready_sent: bool,
    last_status: String,
    /// The latest status, for the DNS-SD advertiser.
    published: tokio::sync::watch::Sender<AgentStatus>,
}

impl Supervisor {
    async fn handle(&mut self, input: Input) {
        match input {
            Input::Cable(ev) => {
                self.cable_event(ev).await;
                self.reconcile().await;
            }
            Input::Present(infos) => {
                self.present(infos).await;
                self.reconcile().await;
            }
            Input::Server {
                key,
                generation,
                event,
            } => self.server_event(&key, generation, event).await,
            Input::Opened {
                key,
                generation,
                result,
            } => self.opened(&key, generation, result),
            Input::RetryOpen { key, generation } => self.retry_open(&key, generation),
            Input::RetryBind { key, generation } => {
                if let Some(a) = self.find_mut(&key) {
                    if a.run.as_ref().is_some_and(|r| r.generation == generation) {
                        a.run = None;
                    }
                }
                self.reconcile().await;
            }
            Input::Reload => self.reload().await,
            Input::Rescan => self.rescan(),
            Input::LogStatus => {
                let st = self.status();
                tracing::info!("status: {}", st.summary());
                for c in &st.cables {
                    tracing::info!(
                        "  {} port {} {}{}{}",
                        c.name,
                        c.port.map_or("-".to_string(), |p| p.to_string()),
                        c.state,
                        c.reason
                            .as_deref()
                            .map_or(String::new(), |r| format!(" ({r})")),
                        c.client
                            .as_deref()
                            .map_or(String::new(), |p| format!(" client {p}")),
                    );
                }
            }
            Input::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Input::Disconnect {
                cable,
                requested_by,
                reply,
            } => {
                let _ = reply.send(self.disconnect(&cable, &requested_by));
            }
            Input::Shutdown => {}
        }
    }

    /// Sends READY once nothing is starting any more, and STATUS whenever it changes.
    fn after_input(&mut self) {
        let snapshot = self.status();
        let status = snapshot.summary();
        self.published.send_if_modified(|old| {
            let changed = *old != snapshot;
            if changed {
                *old = snapshot;
            }
            changed
        });
        if !self.ready_sent
            && !self
                .attached
                .iter()
                .any(|a| a.state() == CableState::Starting)
        {
            self.ready_sent = true;
            notify::ready(&status);
            tracing::info!("ready: {status}");
            if let Some(tx) = self.ready.take() {
                let _ = tx.send(());
            }
        } else if status != self.last_status {
            notify::status(&status);
        }
        self.last_status = status;
    }

    fn find_mut(&mut self, key: &Path) -> Option<&mut Attached> {
        self.attached.iter_mut().find(|a| a.key() == key)
    }

    async fn cable_event(&mut self, ev: CableEvent) {
        match ev {
            CableEvent::Attached(info) => self.attach(info),
            CableEvent::Detached { syspath } => self.detach(&syspath).await,
        }
    }

    fn attach(&mut self, info: CableInfo) {
        if self.attached.iter().any(|a| a.info.syspath == info.syspath) {
            return; // seen already (enumeration and monitor overlap)
        }
        let detected = crate::ftdi::profiles::detect(
            info.vid,
            info.pid,
            info.manufacturer.as_deref(),
            info.product.as_deref(),
        );
        tracing::info!(
            cable_serial = %info.identity(), cable_path = %info.usb_path,
            message_id = message_id::CABLE_ATTACHED,
            "attached {:04x}:{:04x} {} {}",
            info.vid, info.pid,
            info.manufacturer.as_deref().unwrap_or("?"),
            info.product.as_deref().unwrap_or("?"),
        );
        self.attached.push(Attached {
            name: info.identity(),
            info,
            detected,
            run: None,
            idle_state: CableState::Queued,
            reason: None,
            chain: Vec::new(),
            reopen_attempts: 0,
            usb_errors: 0,
            reconnects: 0,
        });
    }

    async fn detach(&mut self, syspath: &Path) {
        let Some(i) = self.attached.iter().position(|a| a.info.syspath == syspath) else {
            return;
        };
        let mut a = self.attached.remove(i);
        let port = a.run.as_ref().map(|r| r.port);
        stop_running(&mut a, self.config.shutdown_timeout).await;
        tracing::info!(cable_serial = %a.info.identity(), cable_path = %a.info.usb_path,
            message_id = message_id::CABLE_DETACHED, "detached{}",
            port.map_or(String::new(), |p| format!(", port {p} closed")));
    }

    /// Applies a full device list: new ones attach, missing ones detach.
    async fn present(&mut self, infos: Vec<CableInfo>) {
        let gone: Vec<PathBuf> = self
            .attached
            .iter()
            .filter(|a| !infos.iter().any(|i| i.syspath == a.info.syspath))
            .map(|a| a.info.syspath.clone())
            .collect();
        for key in gone {
            self.detach(&key).await;
        }
        for info in infos {
            self.attach(info);
        }
    }

    fn rescan(&mut self) {
        for a in &mut self.attached {
            if a.idle_state == CableState::Offline && a.run.is_none() {
                a.idle_state = CableState::Queued;
                a.reopen_attempts = 0;
            }
        }
        match &self.enumerate {
            Some(enumerate) => {
                let enumerate = enumerate.clone();
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(Input::Present(enumerate()));
                });
            }
            None => {
                let _ = self.tx.send(Input::Present(
                    self.attached.iter().map(|a| a.info.clone()).collect(),
                ));
            }
        }
    }

    async fn reload(&mut self) {
        notify::reloading();
        match load_config(&self.opts) {
            Ok((cfg, source)) => {
                self.reloads += 1;
                if cfg == self.config {
                    tracing::info!(
                        message_id = message_id::CONFIG_RELOADED,
                        "configuration reloaded: no change"
                    );
                } else {
                    tracing::info!(
                        message_id = message_id::CONFIG_RELOADED,
                        "configuration reloaded: applying changes"
                    );
                    self.config = cfg;
                }
                if source == ConfigSource::BuiltIn {
                    self.config_label = "built-in defaults".into();
                }
                self.reconcile().await;
            }
            Err(e) => {
                tracing::error!(
                    "configuration not reloaded, the previous one stays in effect:\n{e}"
                );
            }
        }
        notify::ready(&self.status().summary());
    }

    /// Computes the wanted picture and applies the difference.
    async fn reconcile(&mut self) {
        let cables: Vec<AttachedCable> = self
            .attached
            .iter()
            .map(|a| AttachedCable {
                info: a.info.clone(),
                detected: a.detected,
                port: a.run.as_ref().map(|r| r.port),
                session_active: a.session_active(),
            })
            .collect();
        let plan = assign(&self.config, &cables, &self.leases);

        // Stop first, so a port handed from one cable to another is free before it is bound.
        let timeout = self.config.shutdown_timeout;
        for a in &mut self.attached {
            let keep = match (plan.served(a.key()), &a.run) {
                (Some(s), Some(r)) => {
                    s.kept_for_session || (same_place(s, r) && a.idle_state != CableState::Offline)
                }
                (_, None) => true,
                (None, Some(_)) => false,
            };
            if !keep {
                stop_running(a, timeout).await;
            }
        }
        for a in &mut self.attached {
            if let Some(s) = plan.served(a.key()) {
                a.name = s.name.clone();
                a.reason = None;
                if a.run.is_none() && a.idle_state != CableState::Offline {
                    let generation = self.next_generation;
                    self.next_generation += 1;
                    start(a, s, generation, &self.opener, &self.tx);
                }
            } else if let Some(q) = plan.queued(a.key()) {
                a.name = q.name.clone();
                if a.idle_state != CableState::Queued || a.reason.as_ref() != Some(&q.reason) {
                    tracing::info!(cable_serial = %a.info.identity(), cable_path = %a.info.usb_path,
                        message_id = message_id::CABLE_QUEUED, "queued: {}", q.reason);
                }
                a.idle_state = CableState::Queued;
                a.reason = Some(q.reason.clone());
            } else if let Some(ig) = plan.ignored.iter().find(|i| i.key == a.key()) {
                if a.idle_state != CableState::Ignored {
                    tracing::info!(cable_serial = %a.info.identity(), cable_path = %a.info.usb_path,
                        "not served: {}", ig.reason);
                }
                a.idle_state = CableState::Ignored;
                a.reason = Some(ig.reason.clone());
            }
        }
        if plan.leases != self.leases {
            self.leases = plan.leases;
            if let Err(e) = self.leases.save(&self.state_dir) {
                tracing::warn!("cannot remember port leases: {e}");
            }
        }
    }

    async fn server_event(&mut self, key: &Path, generation: u64, event: ServerEvent) {
        let tx = self.tx.clone();
        let Some(a) = self.find_mut(key) else { return };
        if a.run.as_ref().map(|r| r.generation) != Some(generation) {
            return;
        }
        match event {
            ServerEvent::ClientConnected { .. } | ServerEvent::Refused { .. } => {}
            ServerEvent::ClientDisconnected { .. } => {
                // A deferred config change or a waiting better cable may apply now.
                self.reconcile().await;
            }
            ServerEvent::CableFailed { error } => {
                tracing::warn!(cable_serial = %a.info.identity(), cable_path = %a.info.usb_path,
                    message_id = message_id::USB_ERROR, "cable error, reopening: {error}");
                a.reason = Some(error.to_string());
                a.usb_errors += 1;
                schedule_reopen(a, generation, &tx);
            }
        }
    }

    fn opened(&mut self, key: &Path, generation: u64, result: Result<OpenedCable, CableError>) {
        let tx = self.tx.clone();
        let Some(a) = self.find_mut(key) else { return };
        let Some(run) = a.run.as_mut().filter(|r| r.generation == generation) else {
            return; // stopped meanwhile: the cable handle is dropped here
        };
        let identity = a.info.identity();
        let (cable, failure) = match result {
            Ok(opened) => {
                if a.reopen_attempts > 0 {
                    a.reconnects += 1;
                }
                a.chain = opened.chain;
                a.reopen_attempts = 0;
                a.reason = None;
                (Some(opened.cable), None)
            }
            Err(e) => (None, Some(e)),
        };
        match std::mem::replace(&mut run.phase, Phase::BindFailed) {
            Phase::Opening { listener } => {
                let sink = event_sink(&tx, key, generation);
                let settings = run.settings.server_settings(CableLabel {
                    name: a.name.clone(),
                    serial: identity.clone(),
                    usb_path: a.info.usb_path.clone(),
                });
                match CableServer::start(listener, cable, settings, Some(sink)) {
                    Ok(server) => {
                        if failure.is_none() {
                            tracing::info!(
                                cable_serial = %identity, cable_path = %a.info.usb_path, xvc_port = run.port,
                                message_id = message_id::CABLE_SERVING,
                                "serving on {} (chain: {})", server.local_addr(), describe_chain(&a.chain)
                            );
                        }
                        run.phase = Phase::Serving { server };
                    }
                    Err(e) => {
                        tracing::error!(cable_serial = %identity, cable_path = %a.info.usb_path, "cannot start server: {e}");
                        a.run = None;
                        a.idle_state = CableState::Error;
                        a.reason = Some(e.to_string());
                        return;
                    }
                }
            }
            Phase::Serving { server } => {
                if let Some(cable) = cable {
                    tracing::info!(cable_serial = %identity, cable_path = %a.info.usb_path, xvc_port = run.port,
                        message_id = message_id::CABLE_SERVING, "cable reopened, serving again");
                    server.install_cable(cable);
                }
                run.phase = Phase::Serving { server };
            }
            Phase::BindFailed => {}
        }
        if let Some(e) = failure {
            a.usb_errors += 1;
            tracing::warn!(cable_serial = %identity, cable_path = %a.info.usb_path,
                message_id = message_id::USB_ERROR, "cannot open cable: {e}");
            a.reason = Some(format!("cannot open: {e}"));
            schedule_reopen(a, generation, &tx);
        }
    }

    fn retry_open(&mut self, key: &Path, generation: u64) {
        let opener = self.opener.clone();
        let tx = self.tx.clone();
        let Some(a) = self.find_mut(key) else { return };
        let Some(run) = a.run.as_ref().filter(|r| r.generation == generation) else {
            return;
        };
        spawn_open(
            a.info.clone(),
            run.profile,
            cable_options(&run.settings),
            generation,
            opener,
            tx,
        );
    }

    /// Ends the session on the cable `which` names (rule name, serial, USB path or port).
    fn disconnect(&self, which: &str, requested_by: &str) -> Result<Disconnected, String> {
        let port: Option<u16> = which.parse().ok();
        let a = self
            .attached
            .iter()
            .find(|a| {
                a.name == which
                    || a.info.serial.as_deref() == Some(which)
                    || a.info.usb_path == which
                    || (port.is_some() && a.run.as_ref().map(|r| r.port) == port)
            })
            .ok_or_else(|| {
                let known: Vec<&str> = self.attached.iter().map(|a| a.name.as_str()).collect();
                if known.is_empty() {
                    format!("no cable {which:?}: no cables attached")
                } else {
                    format!(
                        "no cable {which:?} (give a name, serial, USB path or port; attached: {})",
                        known.join(", ")
                    )
                }
            })?;
        let client = a.server().and_then(|s| s.disconnect(requested_by));
        if client.is_none() {
            tracing::info!(cable_serial = %a.info.identity(), cable_path = %a.info.usb_path,
                "disconnect requested by {requested_by}: {} has no client", a.name);
        }
        Ok(Disconnected {
            cable: a.name.clone(),
            port: a.run.as_ref().map(|r| r.port),
            client: client.map(|p| p.to_string()),
        })
    }

    fn status(&self) -> AgentStatus {
        AgentStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            config: self.config_label.clone(),
            reloads: self.reloads,
            cables: self.attached.iter().map(cable_status).collect(),
        }
    }

    async fn shutdown(&mut self) {
        let timeout = self.config.shutdown_timeout;
        let mut stops = tokio::task::JoinSet::new();
        for a in &mut self.attached {
            if let Some(Running {
                phase: Phase::Serving { server },
                ..
            }) = a.run.take()
            {
                stops.spawn(server.shutdown(timeout));
            }
        }
        let all = async { while stops.join_next().await.is_some() {} };
        if tokio::time::timeout(timeout, all).await.is_err() {
            tracing::warn!("shutdown_timeout reached with sessions still ending");
        }
        tracing::info!("stopped");
    }
}

/// True when the running server already matches what the plan wants.
fn same_place(s: &Served, r: &Running) -> bool {
    s.port == r.port
        && s.settings == r.settings
        && s.profile.map(|p| p.name) == Some(r.profile.name)
}

fn event_sink(
    tx: &mpsc::UnboundedSender<Input>,
    key: &Path,
    generation: u64,
) -> crate::xvc::server::EventSink {
    let tx = tx.clone();
    let key = key.to_path_buf();
    Arc::new(move |event| {
        let _ = tx.send(Input::Server {
            key: key.clone(),
            generation,
            event,
        });
    })
}

/// Binds the port and starts opening the cable.
fn start(
    a: &mut Attached,
    s: &Served,
    generation: u64,
    opener: &Arc<dyn CableOpener>,
    tx: &mpsc::UnboundedSender<Input>,
) {
    let Some(profile) = s.profile else {
        return; // only a cable kept for its session has no profile, and it is running
    };
    let addr = SocketAddr::new(s.settings.listen, s.port);
    let phase = match bind(addr) {
        Ok(listener) => {
            spawn_open(
                a.info.clone(),
                profile,
                cable_options(&s.settings),
                generation,
                opener.clone(),
                tx.clone(),
            );
            a.reason = None;
            Phase::Opening { listener }
        }
        Err(e) => {
            let why = format!("cannot listen on {addr}: {e}");
            if a.reason.as_ref() != Some(&why) {
                tracing::error!(cable_serial = %a.info.identity(), cable_path = %a.info.usb_path, xvc_port = s.port,
                    "{why}; retrying every {:?}", state::BIND_RETRY);
            }
            a.reason = Some(why);
            let (tx, key) = (tx.clone(), a.info.syspath.clone());
            tokio::spawn(async move {
                tokio::time::sleep(state::BIND_RETRY).await;
                let _ = tx.send(Input::RetryBind { key, generation });
            });
            Phase::BindFailed
        }
    };
    a.run = Some(Running {
        port: s.port,
        settings: s.settings.clone(),
        profile,
        generation,
        phase,
    });
}

/// How to initialise a cable with these settings.
fn cable_options(settings: &CableSettings) -> CableOptions {
    CableOptions {
        tdo_edge: settings.tdo_edge,
        max_tck_hz: settings.max_frequency,
        ..CableOptions::default()
    }
}

/// Opens and identifies a cable on a blocking thread; the result comes back as an input.
fn spawn_open(
    info: CableInfo,
    profile: &'static Profile,
    options: CableOptions,
    generation: u64,
    opener: Arc<dyn CableOpener>,
    tx: mpsc::UnboundedSender<Input>,
) {
    tokio::task::spawn_blocking(move || {
        let result = opener.open(&info, profile, &options).and_then(|mut cable| {
            let chain = identify::read_chain(&mut *cable)?;
            Ok(OpenedCable {
                cable,
                chain: chain.into_iter().map(chain_device).collect(),
            })
        });
        let _ = tx.send(Input::Opened {
            key: info.syspath,
            generation,
            result,
        });
    });
}

/// Schedules the next reopen attempt, or declares the cable offline.
fn schedule_reopen(a: &mut Attached, generation: u64, tx: &mpsc::UnboundedSender<Input>) {
    match state::reopen_delay(a.reopen_attempts) {
        Some(delay) => {
            a.reopen_attempts += 1;
            let (tx, key) = (tx.clone(), a.info.syspath.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(Input::RetryOpen { key, generation });
            });
        }
        None => {
            tracing::error!(
                cable_serial = %a.info.identity(), cable_path = %a.info.usb_path,
                message_id = message_id::CABLE_OFFLINE,
                "cable offline after {} reopen attempts; replug it or send SIGUSR1",
                state::MAX_REOPEN_ATTEMPTS
            );
            // Closing the port happens on the next reconcile (offline cables are not kept).
            if let Some(Running {
                phase: Phase::Serving { server },
                ..
            }) = a.run.take()
            {
                tokio::spawn(server.shutdown(Duration::from_secs(1)));
            }
            a.idle_state = CableState::Offline;
        }
    }
}

async fn stop_running(a: &mut Attached, timeout: Duration) {
    if let Some(run) = a.run.take() {
        if let Phase::Serving { server } = run.phase {
            server.shutdown(timeout).await;
        }
        tracing::info!(cable_serial = %a.info.identity(), cable_path = %a.info.usb_path, xvc_port = run.port,
            "stopped serving on port {}", run.port);
    }
}

fn chain_device(entry: ChainEntry) -> ChainDevice {
    match entry {
        ChainEntry::Idcode(id) => {
            let part = crate::jtag::parts::describe(id);
            ChainDevice {
                idcode: Some(format!("{id:#010x}")),
                name: part.name,
                family: part.family.map(String::from),
            }
        }
        ChainEntry::BypassOnly => ChainDevice {
            idcode: None,
            name: "bypass-only device".into(),
            family: None,
        },
    }
}

fn describe_chain(chain: &[ChainDevice]) -> String {
    if chain.is_empty() {
        return "no devices found".into();
    }
    chain
        .iter()
        .map(|d| match &d.idcode {
            Some(id) => format!("{} {id}", d.name),
            None => d.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn cable_status(a: &Attached) -> CableStatus {
    let server = a.server();
    let stats = server.map(|s| s.stats());
    let client = server.and_then(|s| s.client());
    let load = |f: fn(&crate::xvc::server::CableStats) -> &std::sync::atomic::AtomicU64| {
        stats.as_ref().map_or(0, |s| f(s).load(Ordering::Relaxed))
    };
    CableStatus {
        name: a.name.clone(),
        serial: a.info.serial.clone(),
        usb_path: a.info.usb_path.clone(),
        profile: a
            .run
            .as_ref()
            .map(|r| r.profile)
            .or(a.detected)
            .map(|p| p.name.to_string()),
        port: a.run.as_ref().map(|r| r.port),
        listen: a.run.as_ref().map(|r| r.settings.listen),
        state: a.state(),
        reason: a.reason.clone(),
        client: client.as_ref().map(|c| c.peer.to_string()),
        client_since: client
            .as_ref()
            .and_then(|c| c.since.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())),
        client_idle_seconds: client.as_ref().map(|c| c.idle_for.as_secs()),
        sessions: load(|s| &s.sessions),
        shifts: load(|s| &s.shifts),
        bits: load(|s| &s.bits),
        refused: RefuseReason::ALL
            .iter()
            .map(|&r| {
                let n = stats
                    .as_ref()
                    .map_or(0, |s| s.refused[r as usize].load(Ordering::Relaxed));
                (r.as_str().to_string(), n)
            })
            .collect(),
        usb_errors: a.usb_errors,
        reconnects: a.reconnects,
        shift_latency: {
            let (cumulative, sum_seconds) = stats
                .as_ref()
                .map(|s| s.shift_latency.snapshot())
                .unwrap_or_else(|| (vec![0; SHIFT_LATENCY_BUCKETS.len() + 1], 0.0));
            Histogram {
                bounds: SHIFT_LATENCY_BUCKETS.to_vec(),
                cumulative,
                sum_seconds,
            }
        },
        chain: a.chain.clone(),
    }
}

/// Binds a listener; on the IPv6 wildcard the socket also accepts IPv4 (dual stack).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(64)?;
    TcpListener::from_std(socket.into())
}
