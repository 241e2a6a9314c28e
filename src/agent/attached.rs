//! An attached cable and what its lifecycle holds: the port, its XVC server, the blocking
//! open, the timers, the log lines.
//!
//! [`Lifecycle`](super::lifecycle::Lifecycle) decides; [`apply`] carries its effects out on the
//! cable's resources. The supervisor calls these for one cable at a time and owns the list.

use crate::agent::assign::Served;
use crate::agent::input::{Input, OpenedCable};
use crate::agent::lifecycle::{Effect, Lifecycle, Report};
use crate::agent::opener::CableOpener;
use crate::agent::reservations::Reservation;
use crate::agent::state::CableState;
use crate::agent::status::{self, CableFacts, ChainDevice};
use crate::agent::wiring::bind;
use crate::config::CableSettings;
use crate::ftdi::identify::Identification;
use crate::ftdi::profiles::Profile;
use crate::ftdi::CableOptions;
use crate::hotplug::CableInfo;
use crate::jtag::identify;
use crate::jtag::Cable;
use crate::logging::{cable_log, message_id, CableFields};
use crate::xvc::reservation::ReservationGate;
use crate::xvc::server::{CableLabel, CableServer, EventSink, ServerSettings};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Where and how an attached cable is served now: its port (bound, or to be bound again), the
/// settings and profile it was opened with, and the server once it runs.
pub(super) struct Placement {
    pub(super) port: u16,
    pub(super) settings: CableSettings,
    pub(super) profile: &'static Profile,
    /// Tells this placement's late events (open results, timers, server events) from a later
    /// placement's.
    pub(super) generation: u64,
    pub(super) endpoint: Endpoint,
}

pub(super) enum Endpoint {
    /// Port bound, cable being opened; clients wait in the listen backlog.
    Listening(TcpListener),
    /// Serving (or degraded, when the server has no cable).
    Server(CableServer),
    /// The port could not be bound; bound again after a delay.
    Unbound,
}

/// An attached device and what the supervisor does with it.
pub(super) struct Attached {
    pub(super) info: CableInfo,
    /// What the device is (`None`: its EEPROM is still being read).
    pub(super) identification: Option<Identification>,
    /// Its identity as rules, leases and reservations know it ([`CableInfo::identity`]),
    /// fixed once it is identified.
    pub(super) identity: String,
    pub(super) name: String,
    pub(super) life: Lifecycle,
    pub(super) placement: Option<Placement>,
    pub(super) chain: Vec<ChainDevice>,
    pub(super) usb_errors: u64,
    pub(super) reconnects: u64,
    /// Its reservation as its port enforces it (shared with every server it gets).
    pub(super) gate: ReservationGate,
}

impl Attached {
    pub(super) fn key(&self) -> &Path {
        &self.info.syspath
    }

    pub(super) fn server(&self) -> Option<&CableServer> {
        match &self.placement {
            Some(Placement {
                endpoint: Endpoint::Server(server),
                ..
            }) => Some(server),
            _ => None,
        }
    }

    pub(super) fn session_active(&self) -> bool {
        self.server().is_some_and(|s| s.client().is_some())
    }

    pub(super) fn state(&self) -> CableState {
        if self.identification.is_none() {
            return CableState::Identifying;
        }
        self.life.state(self.session_active())
    }

    /// The profile identification chose, if it serves the device without a rule.
    pub(super) fn detected(&self) -> Option<&'static Profile> {
        self.identification
            .as_ref()
            .and_then(Identification::profile)
    }

    /// Its journal fields: serial, USB path and, while it has one, the port.
    pub(super) fn fields(&self) -> CableFields<'_> {
        CableFields {
            identity: &self.identity,
            usb_path: &self.info.usb_path,
            port: self.placement.as_ref().map(|r| r.port),
        }
    }

    /// Its status entry; `opener` tells what a simulated FPGA behind it received.
    pub(super) fn status(
        &self,
        opener: &dyn CableOpener,
        reservation: Option<&Reservation>,
    ) -> status::CableStatus {
        status::cable_status(
            CableFacts {
                name: &self.name,
                info: &self.info,
                identity: &self.identity,
                profile: self
                    .placement
                    .as_ref()
                    .map(|r| r.profile)
                    .or(self.detected()),
                identification: self.identification.as_ref(),
                port: self.placement.as_ref().map(|r| r.port),
                listen: self.placement.as_ref().map(|r| r.settings.listen),
                state: self.state(),
                reason: self.life.reason(),
                usb_errors: self.usb_errors,
                reconnects: self.reconnects,
                chain: &self.chain,
                simulated_fpga: opener
                    .simulated_fpga(&self.info)
                    .into_iter()
                    .map(Into::into)
                    .collect(),
                reservation,
            },
            self.server(),
        )
    }
}

/// What carrying out effects needs besides the cable itself.
pub(super) struct EffectContext<'a> {
    pub(super) opener: &'a Arc<dyn CableOpener>,
    pub(super) tx: &'a mpsc::UnboundedSender<Input>,
}

/// True when the running server already matches what the plan wants.
pub(super) fn same_place(s: &Served, r: &Placement) -> bool {
    s.port == r.port
        && s.settings == r.settings
        && s.profile.map(|p| p.name) == Some(r.profile.name)
}

/// Binds the port the plan gives the cable and starts its lifecycle.
pub(super) fn start(a: &mut Attached, s: &Served, generation: u64, ctx: &EffectContext<'_>) {
    let Some(profile) = s.profile else {
        return; // only a cable kept for its session has no profile, and it is running
    };
    let addr = SocketAddr::new(s.settings.listen, s.port);
    let (endpoint, effects) = match bind(addr) {
        Ok(listener) => (Endpoint::Listening(listener), a.life.start()),
        Err(e) => (
            Endpoint::Unbound,
            a.life.bind_failed(format!("cannot listen on {addr}: {e}")),
        ),
    };
    a.placement = Some(Placement {
        port: s.port,
        settings: s.settings.clone(),
        profile,
        generation,
        endpoint,
    });
    apply(a, effects, None, ctx);
}

/// Carries out a transition's effects in order. `cable` is the cable an open just produced.
pub(super) fn apply(
    a: &mut Attached,
    effects: Vec<Effect>,
    mut cable: Option<Box<dyn Cable>>,
    ctx: &EffectContext<'_>,
) {
    let mut effects = VecDeque::from(effects);
    while let Some(effect) = effects.pop_front() {
        match effect {
            Effect::OpenCable => {
                if let Some(placement) = &a.placement {
                    spawn_open(a.info.clone(), placement, ctx);
                }
            }
            Effect::StartServer { with_cable } => {
                if let Err(e) = start_server(a, with_cable.then(|| cable.take()).flatten(), ctx) {
                    // Nothing else of this step happens: the cable is not served.
                    effects = a.life.serve_failed(e.to_string()).into();
                    a.placement = None;
                }
            }
            Effect::InstallCable => {
                if let (Some(server), Some(cable)) = (a.server(), cable.take()) {
                    server.install_cable(cable);
                }
            }
            Effect::RetryOpenAfter(delay) => {
                if let Some(placement) = &a.placement {
                    let key = a.info.syspath.clone();
                    let generation = placement.generation;
                    send_after(ctx.tx, delay, Input::RetryOpen { key, generation });
                }
            }
            Effect::RetryBindAfter(delay) => {
                if let Some(placement) = &mut a.placement {
                    placement.endpoint = Endpoint::Unbound;
                    let key = a.info.syspath.clone();
                    let generation = placement.generation;
                    send_after(ctx.tx, delay, Input::RetryBind { key, generation });
                }
            }
            Effect::CloseServer => {
                if let Some(Placement {
                    endpoint: Endpoint::Server(server),
                    ..
                }) = a.placement.take()
                {
                    tokio::spawn(server.shutdown(Duration::from_secs(1)));
                }
            }
            Effect::CountUsbError => a.usb_errors += 1,
            Effect::CountReconnect => a.reconnects += 1,
            Effect::Log(report) => log_report(a, &report),
        }
    }
}

/// The log line of each report, with the cable's journal fields.
fn log_report(a: &Attached, report: &Report) {
    let fields = a.fields();
    match report {
        Report::Queued(reason) => {
            cable_log!(
                info,
                fields,
                message_id = message_id::CABLE_QUEUED,
                "queued: {reason}"
            )
        }
        Report::NotServed(reason) => cable_log!(info, fields, "not served: {reason}"),
        Report::Serving => {
            let addr = a.server().map(|s| s.local_addr().to_string());
            cable_log!(
                info,
                fields,
                message_id = message_id::CABLE_SERVING,
                "serving on {} (chain: {})",
                addr.unwrap_or_default(),
                status::describe_chain(&a.chain)
            )
        }
        Report::Reopened => cable_log!(
            info,
            fields,
            message_id = message_id::CABLE_SERVING,
            "cable reopened, serving again"
        ),
        Report::CannotOpen(error) => cable_log!(
            warn,
            fields,
            message_id = message_id::USB_ERROR,
            "cannot open cable: {error}"
        ),
        Report::CableFailed(error) => cable_log!(
            warn,
            fields,
            message_id = message_id::USB_ERROR,
            "cable error, reopening: {error}"
        ),
        Report::Offline => cable_log!(
            error,
            fields,
            message_id = message_id::CABLE_OFFLINE,
            "cable offline after {} reopen attempts; replug it or send SIGUSR1",
            crate::agent::retry::MAX_REOPEN_ATTEMPTS
        ),
        Report::CannotListen(why) => cable_log!(
            error,
            fields,
            "{why}; retrying every {:?}",
            crate::agent::retry::BIND_RETRY
        ),
        Report::CannotServe(why) => cable_log!(error, fields, "cannot start server: {why}"),
    }
}

/// Starts the server on the bound port, with `cable` or without one (degraded).
fn start_server(
    a: &mut Attached,
    cable: Option<Box<dyn Cable>>,
    ctx: &EffectContext<'_>,
) -> std::io::Result<()> {
    let label = CableLabel {
        name: a.name.clone(),
        identity: a.identity.clone(),
        usb_path: a.info.usb_path.clone(),
    };
    let key = a.info.syspath.clone();
    let Some(placement) = a.placement.as_mut() else {
        return Ok(());
    };
    let Endpoint::Listening(listener) =
        std::mem::replace(&mut placement.endpoint, Endpoint::Unbound)
    else {
        return Ok(());
    };
    let sink = event_sink(ctx.tx, key, placement.generation);
    let server = CableServer::start(
        listener,
        cable,
        server_settings(&placement.settings, label, a.gate.clone()),
        Some(sink),
    )?;
    placement.endpoint = Endpoint::Server(server);
    Ok(())
}

fn event_sink(tx: &mpsc::UnboundedSender<Input>, key: PathBuf, generation: u64) -> EventSink {
    let tx = tx.clone();
    Arc::new(move |event| {
        let _ = tx.send(Input::Server {
            key: key.clone(),
            generation,
            event,
        });
    })
}

fn send_after(tx: &mpsc::UnboundedSender<Input>, delay: Duration, input: Input) {
    let tx = tx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = tx.send(input);
    });
}

/// How the cable's XVC server runs with these settings; `cable` names it in logs.
fn server_settings(
    settings: &CableSettings,
    cable: CableLabel,
    reservation: ReservationGate,
) -> ServerSettings {
    ServerSettings {
        cable,
        max_vector_bytes: settings.max_vector_bytes,
        access: settings.access.clone(),
        on_busy: settings.on_busy,
        idle_timeout: settings.idle_timeout,
        keepalive: settings.keepalive,
        reservation,
    }
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
fn spawn_open(info: CableInfo, placement: &Placement, ctx: &EffectContext<'_>) {
    let (profile, options, generation) = (
        placement.profile,
        cable_options(&placement.settings),
        placement.generation,
    );
    let (opener, tx) = (ctx.opener.clone(), ctx.tx.clone());
    tokio::task::spawn_blocking(move || {
        let result = opener.open(&info, profile, &options).and_then(|mut cable| {
            let chain = identify::read_chain(&mut *cable)?;
            Ok(OpenedCable {
                cable,
                chain: chain.into_iter().map(status::chain_device).collect(),
            })
        });
        let _ = tx.send(Input::Opened {
            key: info.syspath,
            generation,
            result,
        });
    });
}

pub(super) async fn stop_running(a: &mut Attached, timeout: Duration) {
    if let Some(placement) = a.placement.take() {
        if let Endpoint::Server(server) = placement.endpoint {
            server.shutdown(timeout).await;
        }
        a.life.stopped();
        let fields = CableFields {
            port: Some(placement.port),
            ..a.fields()
        };
        cable_log!(info, fields, "stopped serving on port {}", placement.port);
    }
}
