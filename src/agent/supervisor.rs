//! The supervisor loop: the single owner of "which cable is served on which port".
//!
//! Inputs arrive on one queue (cable attached/detached, shutdown); each is applied in order, so
//! there are no races between a detach and a late attach of the same device. Ports come from
//! a pool starting at `base_port`; a cable that comes back (same serial, else same USB path)
//! gets the port it had before.

use crate::agent::notify;
use crate::agent::opener::{CableOpener, SimulatedOpener};
use crate::agent::usb_opener::UsbOpener;
use crate::hotplug::{self, CableEvent, CableInfo};
use crate::xvc::server::{CableServer, ServerSettings};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What `xvc-agent run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Serve this many simulated cables instead of watching udev.
    pub simulate: Option<usize>,
    /// First port of the pool.
    pub base_port: u16,
    /// Bind address for every cable (`None`: all addresses, IPv6 and IPv4).
    pub listen: Option<IpAddr>,
    /// Largest vector accepted per shift.
    pub max_vector_bytes: usize,
    /// How long a graceful stop may take.
    pub shutdown_timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            simulate: None,
            base_port: crate::xvc::DEFAULT_PORT,
            listen: None,
            max_vector_bytes: crate::xvc::DEFAULT_MAX_VECTOR_BYTES,
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

/// An input to the supervisor loop.
#[derive(Debug)]
pub enum Input {
    Cable(CableEvent),
    /// Stop gracefully.
    Shutdown,
}

/// A cable being served.
struct Instance {
    info: CableInfo,
    port: u16,
    server: CableServer,
}

/// Errors that stop the agent from starting.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot watch udev for cables: {0}")]
    Discovery(#[from] hotplug::udev::UdevError),
}

/// Runs the agent until `inputs` delivers [`Input::Shutdown`] or closes.
/// `ready` is told each bound address once the initial cables are served.
pub async fn run_with_inputs(
    opts: RunOptions,
    opener: Arc<dyn CableOpener>,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    initial: Vec<CableEvent>,
    ready: Option<tokio::sync::oneshot::Sender<Vec<(String, SocketAddr)>>>,
) -> anyhow::Result<()> {
    let mut sup = Supervisor::new(opts, opener);
    for ev in initial {
        sup.handle_cable_event(ev).await;
    }
    let summary = sup.summary();
    notify::ready(&summary);
    tracing::info!("ready: {summary}");
    if let Some(tx) = ready {
        let _ = tx.send(sup.bound());
    }
    while let Some(input) = inputs.recv().await {
        match input {
            Input::Cable(ev) => {
                sup.handle_cable_event(ev).await;
                notify::status(&sup.summary());
            }
            Input::Shutdown => break,
        }
    }
    notify::stopping();
    sup.shutdown_all().await;
    Ok(())
}

/// Runs `xvc-agent run`: picks the cable source, wires signals, serves until SIGTERM/SIGINT.
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    let (initial, opener, udev): (Vec<CableEvent>, Arc<dyn CableOpener>, _) = match opts.simulate {
        Some(n) => (
            hotplug::simulated::initial_events(n),
            Arc::new(SimulatedOpener),
            None,
        ),
        None => {
            // The monitor exists before the enumeration runs, so nothing is missed between.
            let mut source = hotplug::udev::UdevSource::new(hotplug::udev::default_filter())
                .map_err(AgentError::from)?;
            let initial = source.enumerate().map_err(AgentError::from)?;
            (initial, Arc::new(UsbOpener::default()), Some(source))
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    if let Some(source) = udev {
        source.spawn(tx.clone(), Input::Cable);
    }
    tokio::spawn(forward_stop_signals(tx.clone()));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        if let Ok(bound) = ready_rx.await {
            for (name, addr) in bound {
                tracing::info!("cable {name} served on {addr}");
            }
        }
    });
    run_with_inputs(opts, opener, rx, initial, Some(ready_tx)).await
}

async fn forward_stop_signals(tx: mpsc::UnboundedSender<Input>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
    let _ = tx.send(Input::Shutdown);
}

struct Supervisor {
    opts: RunOptions,
    opener: Arc<dyn CableOpener>,
    instances: HashMap<PathBuf, Instance>,
    /// Port last used by each cable identity, so a returning cable gets it back.
    leases: HashMap<String, u16>,
}

impl Supervisor {
    fn new(opts: RunOptions, opener: Arc<dyn CableOpener>) -> Self {
        Supervisor {
            opts,
            opener,
            instances: HashMap::new(),
            leases: HashMap::new(),
        }
    }

    fn summary(&self) -> String {
        let mut ports: Vec<u16> = self.instances.values().map(|i| i.port).collect();
        ports.sort_unstable();
        let list: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
        format!(
            "serving {} cable(s){}{}",
            ports.len(),
            if ports.is_empty() { "" } else { " on ports " },
            list.join(", ")
        )
    }

    fn bound(&self) -> Vec<(String, SocketAddr)> {
        let mut v: Vec<_> = self
            .instances
            .values()
            .map(|i| (i.info.identity(), i.server.local_addr()))
            .collect();
        v.sort_by_key(|(_, a)| a.port());
        v
    }

    fn port_for(&mut self, identity: &str) -> Option<u16> {
        if let Some(&p) = self.leases.get(identity) {
            return Some(p);
        }
        let leased: Vec<u16> = self.leases.values().copied().collect();
        let port = (self.opts.base_port..=u16::MAX).find(|p| !leased.contains(p))?;
        self.leases.insert(identity.to_string(), port);
        Some(port)
    }

    async fn handle_cable_event(&mut self, ev: CableEvent) {
        match ev {
            CableEvent::Attached(info) => self.attach(info).await,
            CableEvent::Detached { syspath } => self.detach(&syspath).await,
        }
    }

    async fn attach(&mut self, info: CableInfo) {
        if self.instances.contains_key(&info.syspath) {
            return; // duplicate (enumeration raced with the monitor)
        }
        let identity = info.identity();
        let Some(port) = self.port_for(&identity) else {
            tracing::error!(cable = %identity, "no free port left in the pool");
            return;
        };
        let addr = SocketAddr::new(
            self.opts
                .listen
                .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            port,
        );
        let listener = match bind(addr) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(cable = %identity, port, "cannot listen on {addr}: {e}");
                return;
            }
        };
        let cable = match self.opener.open(&info) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(cable = %identity, "cannot open cable: {e}");
                return;
            }
        };
        let mut settings = ServerSettings::new(identity.clone());
        settings.max_vector_bytes = self.opts.max_vector_bytes;
        match CableServer::start(listener, cable, settings, None) {
            Ok(server) => {
                tracing::info!(cable = %identity, usb_path = %info.usb_path, port, "serving cable on {}", server.local_addr());
                self.instances
                    .insert(info.syspath.clone(), Instance { info, port, server });
            }
            Err(e) => tracing::error!(cable = %identity, "cannot start server: {e}"),
        }
    }

    async fn detach(&mut self, syspath: &std::path::Path) {
        if let Some(inst) = self.instances.remove(syspath) {
            let identity = inst.info.identity();
            inst.server.shutdown(self.opts.shutdown_timeout).await;
            tracing::info!(cable = %identity, port = inst.port, "cable detached, port closed");
        }
    }

    async fn shutdown_all(&mut self) {
        let timeout = self.opts.shutdown_timeout;
        let mut stops = tokio::task::JoinSet::new();
        for (_, inst) in self.instances.drain() {
            stops.spawn(inst.server.shutdown(timeout));
        }
        while stops.join_next().await.is_some() {}
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
    socket.listen(16)?;
    TcpListener::from_std(socket.into())
}
