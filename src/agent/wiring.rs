//! Wiring the supervisor to the world: what `xvc-agent run` was asked (options, config file,
//! state directory), where cables come from (udev or simulated), and the signals that drive a
//! daemon (SIGTERM/SIGINT stop, SIGHUP reloads, SIGUSR1 rescans, SIGUSR2 logs the status).
//!
//! Nothing here decides anything about cables; it only builds the [`Wiring`] the
//! [`supervisor`](super::supervisor) runs with.

use crate::agent::input::Input;
use crate::agent::opener::{CableOpener, SimulatedOpener, UsbOpener};
use crate::config::{self, Config, ConfigSource};
use crate::hotplug::{self, CableEvent, CableInfo};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
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
    /// Control socket path (`None`: the default, `/run/xvc-agent/control.sock`).
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

/// Errors that stop the agent from starting.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AgentError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("cannot watch udev for cables: {0}")]
    Discovery(#[from] hotplug::udev::UdevError),
    #[error("{SIM_FLIP_CFG_IN_BIT_ENV}={0:?}: not a bit number")]
    SimulatedFault(String),
}

/// Where a cable source gets the current device list from (for SIGUSR1 rescans).
pub(crate) type Enumerate = Arc<dyn Fn() -> Vec<CableInfo> + Send + Sync>;

/// Everything the supervisor is wired to.
pub struct Wiring {
    pub opener: Arc<dyn CableOpener>,
    /// The cables present at start, as attach events (the same events hotplug sends).
    pub initial: Vec<CableEvent>,
    pub enumerate: Option<Enumerate>,
    /// Told once when the initial cables are served.
    pub ready: Option<oneshot::Sender<()>>,
}

/// Reads the config the way `run` does: CLI overrides applied, errors returned.
pub(crate) fn load_config(
    opts: &RunOptions,
) -> Result<(Config, ConfigSource), config::ConfigError> {
    let (mut cfg, source) = config::load_or_default(&opts.config_path, opts.config_explicit)?;
    if let Some(base) = opts.base_port {
        cfg.ports = cfg.ports.moved_to(base);
    }
    if let Some(listen) = opts.listen {
        cfg.listen = listen;
    }
    Ok((cfg, source))
}

/// The state directory: `--state-dir`, else `$STATE_DIRECTORY` (systemd), else `state_dir:`.
pub(crate) fn state_dir(cfg: &Config, opts: &RunOptions) -> PathBuf {
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

/// The environment variable of the simulated cables' test-only fault: the FPGAs receive this
/// CFG_IN bit (counted from 0 after each JPROGRAM) inverted.
pub const SIM_FLIP_CFG_IN_BIT_ENV: &str = "XVC_SIM_FLIP_CFG_IN_BIT";

/// The opener of simulated cables, with the fault [`SIM_FLIP_CFG_IN_BIT_ENV`] asks for.
fn simulated_opener() -> Result<SimulatedOpener, AgentError> {
    match std::env::var(SIM_FLIP_CFG_IN_BIT_ENV) {
        Err(_) => Ok(SimulatedOpener::default()),
        Ok(v) => v
            .trim()
            .parse()
            .map(SimulatedOpener::with_flipped_cfg_in_bit)
            .map_err(|_| AgentError::SimulatedFault(v)),
    }
}

/// The cable source `opts` asks for: `n` simulated cables, or udev (its monitor feeding
/// `inputs` from now on, so nothing is missed between the enumeration and the first event).
pub(crate) fn cable_source(
    opts: &RunOptions,
    inputs: &mpsc::UnboundedSender<Input>,
) -> Result<Wiring, AgentError> {
    if let Some(n) = opts.simulate {
        return Ok(Wiring {
            opener: Arc::new(simulated_opener()?),
            initial: hotplug::simulated::initial_events(n),
            enumerate: Some(Arc::new(move || {
                (1..=n).map(hotplug::simulated::sim_cable).collect()
            })),
            ready: None,
        });
    }
    let filter = device_filter();
    let mut source = hotplug::udev::UdevSource::new(filter.clone())?;
    let initial = source.enumerate()?;
    source.spawn(inputs.clone(), Input::Cable);
    Ok(Wiring {
        opener: Arc::new(UsbOpener),
        initial,
        enumerate: Some(Arc::new(move || {
            hotplug::udev::present(&filter).unwrap_or_else(|e| {
                tracing::error!("rescan failed: {e}");
                Vec::new()
            })
        })),
        ready: None,
    })
}

/// The devices discovery reports: every one with the VID:PID of a chip in the board table
/// (FT232H, FT2232H, FT4232H), so identification can look at each and a rule can name a
/// generic FTDI board with `profile:`; the assignment ignores the ones no rule wants (a UART
/// adapter stays with its driver).
pub(crate) fn device_filter() -> hotplug::udev::DeviceFilter {
    use crate::ftdi::identify::eeprom::Chip;
    hotplug::udev::DeviceFilter::new(
        [Chip::Ft232h, Chip::Ft2232h, Chip::Ft4232h].map(|c| (crate::ftdi::chip::VID, c.pid())),
    )
}

/// Turns the daemon's signals into inputs, until the supervisor is gone.
pub(crate) async fn forward_signals(inputs: mpsc::UnboundedSender<Input>) {
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
        if inputs.send(input).is_err() {
            return;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generic_ft232h_is_reported_without_being_a_cable_profile() {
        let generic = CableInfo {
            manufacturer: Some("FTDI".into()),
            product: None,
            ..hotplug::simulated::sim_cable(1)
        };
        assert!(device_filter().matches(&generic));
        let id = crate::agent::identification::identify_device(&generic, &Err("blank".into()));
        assert_eq!(id.board(), None, "{}", id.evidence);
        let uart = CableInfo {
            pid: 0x6001,
            ..generic
        };
        assert!(
            !device_filter().matches(&uart),
            "an FT232R UART is not a JTAG chip"
        );
    }
}
