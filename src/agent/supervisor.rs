//! The supervisor: the single owner of "which cable is served on which port, and how".
//!
//! Every change arrives as an [`Input`] on one queue — a cable attached or detached, a server
//! reporting a client or a cable error, a cable finished opening, a timer, a signal, a status
//! request — and is applied in order, so a detach can never race a late attach of the same
//! device. After each change the pure [`assign`] decides the wanted picture and
//! [`Supervisor::reconcile`] applies only the difference: a cable whose port and settings did
//! not change keeps its listener and its session.
//!
//! Each cable's [`Lifecycle`] (in [`lifecycle`](super::lifecycle)) decides what a step means — open,
//! serve, reopen after a delay, give up — and [`attached`](super::attached) carries out the
//! [`Effect`]s on that cable's port, server and timers; this loop routes inputs to cables.

use crate::agent::assign::{assign, AttachedCable};
use crate::agent::attached::{
    apply, same_place, start, stop_running, Attached, EffectContext, Endpoint, Placement,
};
use crate::agent::handle::AgentHandle;
use crate::agent::identification::{self, EepromResult};
pub use crate::agent::input::{Input, OpenedCable};
use crate::agent::leases::Leases;
use crate::agent::lifecycle::{Effect, Lifecycle};
use crate::agent::notify;
use crate::agent::opener::CableOpener;
use crate::agent::replies::{Disconnected, HandleError, ReservationDone};
use crate::agent::reservations::{
    Released, Requester, ReservationFileError, Reservations, ReserveRequest, Reserved,
};
use crate::agent::state::CableState;
use crate::agent::status::{self, AgentStatus};
use crate::agent::wiring::{load_config, state_dir, Enumerate, RunOptions, Wiring};
use crate::config::{Config, ConfigSource};
use crate::ftdi::identify::Verdict;
use crate::hotplug::{CableEvent, CableInfo};
use crate::jtag::{Cable, CableError};
use crate::logging::{cable_log, message_id};
use crate::xvc::reservation::{clock_text, ReservationGate};
use crate::xvc::server::ServerEvent;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot, watch};

/// Runs the supervisor loop until [`Input::Shutdown`].
pub async fn run_with(
    opts: RunOptions,
    wiring: Wiring,
    tx: mpsc::UnboundedSender<Input>,
    rx: mpsc::UnboundedReceiver<Input>,
) -> anyhow::Result<()> {
    Supervisor::new(opts, wiring, tx)?.run(rx).await;
    Ok(())
}

/// Whether the systemd readiness notification went out.
enum Readiness {
    /// Some initial cable is still starting; `notify` is told when none is.
    Starting { notify: Option<oneshot::Sender<()>> },
    /// READY=1 sent; from now on only STATUS= changes, the last one being this.
    Ready { last_status: String },
}

/// The loop's state: every attached cable and what it is wired to.
pub(crate) struct Supervisor {
    opts: RunOptions,
    config: Config,
    config_label: String,
    state_dir: PathBuf,
    leases: Leases,
    /// Who holds which cable until when, by cable identity.
    reservations: Reservations,
    /// Sends [`Input::ReservationsDue`] when the next reservation ends.
    reservation_timer: Option<tokio::task::JoinHandle<()>>,
    opener: Arc<dyn CableOpener>,
    enumerate: Option<Enumerate>,
    initial: Vec<CableEvent>,
    /// Attached devices in arrival order.
    attached: Vec<Attached>,
    tx: mpsc::UnboundedSender<Input>,
    next_generation: u64,
    reloads: u64,
    readiness: Readiness,
    /// The latest status, for whoever follows it (the DNS-SD advertiser).
    published: watch::Sender<AgentStatus>,
}

impl Supervisor {
    /// Reads the config and the remembered port leases; serves nothing yet.
    pub fn new(
        opts: RunOptions,
        wiring: Wiring,
        tx: mpsc::UnboundedSender<Input>,
    ) -> Result<Self, crate::config::ConfigError> {
        let (config, source) = load_config(&opts)?;
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
        let state_dir = state_dir(&config, &opts);
        let leases = Leases::load(&state_dir).unwrap_or_else(|e| {
            tracing::warn!("starting without remembered ports: {e}");
            Leases::new()
        });
        let reservations = load_reservations(&state_dir);
        let (published, _) = watch::channel(AgentStatus::default());
        Ok(Supervisor {
            opts,
            config,
            config_label,
            state_dir,
            leases,
            reservations,
            reservation_timer: None,
            opener: wiring.opener,
            enumerate: wiring.enumerate,
            initial: wiring.initial,
            attached: Vec::new(),
            tx,
            next_generation: 1,
            reloads: 0,
            readiness: Readiness::Starting {
                notify: wiring.ready,
            },
            published,
        })
    }

    /// The config in effect at start.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A handle for the control socket and the HTTP listener.
    pub fn handle(&self) -> AgentHandle {
        AgentHandle::new(self.tx.clone())
    }

    /// Follows the status as it changes.
    pub(crate) fn status_feed(&self) -> watch::Receiver<AgentStatus> {
        self.published.subscribe()
    }

    /// Serves the initial cables, then applies inputs until [`Input::Shutdown`] (or until
    /// every sender is gone), and stops every server gracefully.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Input>) {
        // Reservations that ended while the agent was down end now, before any port opens.
        self.expire_reservations();
        for ev in std::mem::take(&mut self.initial) {
            self.cable_event(ev).await;
        }
        self.reconcile().await;
        self.after_input();

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
            self.apply_input(input).await;
            self.after_input();
        }
        notify::stopping();
        self.shutdown().await;
    }

    async fn apply_input(&mut self, input: Input) {
        match input {
            Input::Cable(ev) => {
                self.cable_event(ev).await;
                self.reconcile().await;
            }
            Input::Identify {
                key,
                devnum,
                eeprom,
                took,
            } => {
                self.identified(&key, devnum, eeprom, took);
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
            Input::RetryOpen { key, generation } => {
                self.with_placement(&key, generation, |a, _| a.life.reopen_due());
            }
            Input::RetryBind { key, generation } => {
                if let Some(a) = self.find_mut(&key) {
                    if a.placement
                        .as_ref()
                        .is_some_and(|r| r.generation == generation)
                    {
                        a.placement = None;
                    }
                }
                self.reconcile().await;
            }
            Input::Reload => self.reload().await,
            Input::Rescan => self.rescan(),
            Input::LogStatus => self.log_status(),
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
            Input::Reserve {
                cable,
                who,
                request,
                reply,
            } => {
                let _ = reply.send(self.reserve(&cable, &who, request));
            }
            Input::Release {
                cable,
                who,
                force,
                reply,
            } => {
                let _ = reply.send(self.release(&cable, &who, force));
            }
            Input::ReservationsDue => self.expire_reservations(),
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
        match &mut self.readiness {
            Readiness::Starting { notify } => {
                if self
                    .attached
                    .iter()
                    .any(|a| matches!(a.state(), CableState::Starting | CableState::Identifying))
                {
                    return;
                }
                notify::ready(&status);
                tracing::info!("ready: {status}");
                if let Some(tx) = notify.take() {
                    let _ = tx.send(());
                }
                self.readiness = Readiness::Ready {
                    last_status: status,
                };
            }
            Readiness::Ready { last_status } => {
                if status != *last_status {
                    notify::status(&status);
                    *last_status = status;
                }
            }
        }
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

    /// A device arrived: it is listed as identifying while its EEPROM is read on a blocking
    /// thread; [`Input::Identify`] brings the image back.
    fn attach(&mut self, info: CableInfo) {
        if self.attached.iter().any(|a| a.info.syspath == info.syspath) {
            return; // seen already (enumeration and monitor overlap)
        }
        let a = Attached {
            gate: ReservationGate::new(),
            identity: info.identity(),
            name: info.identity(),
            info,
            identification: None,
            life: Lifecycle::default(),
            placement: None,
            chain: Vec::new(),
            usb_errors: 0,
            reconnects: 0,
        };
        cable_log!(
            info,
            a.fields(),
            message_id = message_id::CABLE_ATTACHED,
            "attached {:04x}:{:04x} {} {}",
            a.info.vid,
            a.info.pid,
            a.info.manufacturer.as_deref().unwrap_or("?"),
            a.info.product.as_deref().unwrap_or("?")
        );
        let (opener, tx, info) = (self.opener.clone(), self.tx.clone(), a.info.clone());
        self.attached.push(a);
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let eeprom = opener.read_eeprom(&info);
            let _ = tx.send(Input::Identify {
                key: info.syspath,
                devnum: info.devnum,
                eeprom,
                took: started.elapsed(),
            });
        });
    }

    /// The EEPROM of an attached device was read: decide what it is, name it, and log why.
    fn identified(&mut self, key: &Path, devnum: u8, eeprom: EepromResult, took: Duration) {
        let Some(a) = self.attached.iter_mut().find(|a| a.key() == key) else {
            return; // detached meanwhile
        };
        if a.info.devnum != devnum || a.identification.is_some() {
            return; // a read for an earlier attachment of this syspath
        }
        let id = identification::identify_device(&a.info, &eeprom);
        a.info.naming = identification::naming(&a.info, &id);
        a.identity = a.info.identity();
        a.name = a.identity.clone();
        a.gate
            .set(self.reservations.get(&a.identity).map(|r| r.for_port()));
        let name = id
            .eeprom_name
            .as_deref()
            .map_or(String::new(), |n| format!("{n}: "));
        let took = format!("EEPROM read in {:.1} ms", took.as_secs_f64() * 1000.0);
        match &id.verdict {
            Verdict::Serve { .. } => cable_log!(
                info,
                a.fields(),
                message_id = message_id::CABLE_IDENTIFIED,
                "identified ({took}) {name}{}",
                id.evidence
            ),
            Verdict::Never | Verdict::AskForRule { .. } => cable_log!(
                warn,
                a.fields(),
                message_id = message_id::CABLE_IDENTIFIED,
                "not identified for serving ({took}): {name}{}",
                id.evidence
            ),
        }
        a.identification = Some(id);
        self.warn_shared_serial(key);
    }

    /// Two attached devices with one serial cannot both be named by it: say so once, when
    /// the second is identified.
    fn warn_shared_serial(&self, key: &Path) {
        let Some(a) = self.attached.iter().find(|a| a.key() == key) else {
            return;
        };
        let Some(serial) = a.info.serial.as_deref() else {
            return;
        };
        let others: Vec<&str> = self
            .attached
            .iter()
            .filter(|o| o.key() != key && o.info.serial.as_deref() == Some(serial))
            .map(|o| o.info.usb_path.as_str())
            .collect();
        if !others.is_empty() {
            cable_log!(
                warn,
                a.fields(),
                "serial {serial:?} is also carried by the device at {}: rules and reservations \
                 that name this serial match every one of them; name them by USB path",
                others.join(", ")
            );
        }
    }

    async fn detach(&mut self, syspath: &Path) {
        let Some(i) = self.attached.iter().position(|a| a.info.syspath == syspath) else {
            return;
        };
        let mut a = self.attached.remove(i);
        let port = a.placement.as_ref().map(|r| r.port);
        stop_running(&mut a, self.config.shutdown_timeout).await;
        cable_log!(
            info,
            a.fields(),
            message_id = message_id::CABLE_DETACHED,
            "detached{}",
            port.map_or(String::new(), |p| format!(", port {p} closed"))
        );
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
            if a.placement.is_none() {
                a.life.rescan();
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
        // A device still being identified is neither served nor ignored yet. Nor is one not yet
        // served that was attached after it: pool ports go out in arrival order, whichever
        // EEPROM read ends first (a read stops at its first failed word, so the wait is short).
        let first_identifying = self
            .attached
            .iter()
            .position(|a| a.identification.is_none());
        let cables: Vec<AttachedCable> = self
            .attached
            .iter()
            .enumerate()
            .filter(|(i, a)| {
                a.placement.is_some() || first_identifying.is_none_or(|first| *i < first)
            })
            .filter_map(|(_, a)| {
                Some(AttachedCable {
                    info: a.info.clone(),
                    identification: a.identification.clone()?,
                    port: a.placement.as_ref().map(|r| r.port),
                    session_active: a.session_active(),
                })
            })
            .collect();
        let plan = assign(&self.config, &cables, &self.leases);

        // Stop first, so a port handed from one cable to another is free before it is bound.
        let timeout = self.config.shutdown_timeout;
        for a in &mut self.attached {
            let keep = match (plan.served(a.key()), &a.placement) {
                (Some(s), Some(r)) => s.kept_for_session || same_place(s, r),
                (_, None) => true,
                (None, Some(_)) => false,
            };
            if !keep {
                stop_running(a, timeout).await;
            }
        }
        let ctx = EffectContext {
            opener: &self.opener,
            tx: &self.tx,
        };
        for a in &mut self.attached {
            if let Some(s) = plan.served(a.key()) {
                a.name = s.name.clone();
                if a.placement.is_none() && a.life.may_start() {
                    let generation = self.next_generation;
                    self.next_generation += 1;
                    start(a, s, generation, &ctx);
                }
            } else if let Some(q) = plan.queued(a.key()) {
                a.name = q.name.clone();
                let effects = a.life.queue(&q.reason);
                apply(a, effects, None, &ctx);
            } else if let Some(ig) = plan.ignored.iter().find(|i| i.key == a.key()) {
                let effects = a.life.ignore(&ig.reason);
                apply(a, effects, None, &ctx);
            }
        }
        if plan.leases != self.leases {
            self.leases = plan.leases;
            if let Err(e) = self.leases.save(&self.state_dir) {
                tracing::warn!("cannot remember port leases: {e}");
            }
        }
    }

    /// Runs a transition on the cable `key` if its current placement is `generation`, and carries
    /// out the effects.
    fn with_placement(
        &mut self,
        key: &Path,
        generation: u64,
        transition: impl FnOnce(&mut Attached, &mut Option<Box<dyn Cable>>) -> Vec<Effect>,
    ) {
        let ctx = EffectContext {
            opener: &self.opener,
            tx: &self.tx,
        };
        let Some(a) = self.attached.iter_mut().find(|a| a.key() == key) else {
            return;
        };
        if a.placement.as_ref().map(|r| r.generation) != Some(generation) {
            return; // stopped meanwhile: a late result (and its cable) is dropped here
        }
        let mut cable = None;
        let effects = transition(a, &mut cable);
        apply(a, effects, cable, &ctx);
    }

    async fn server_event(&mut self, key: &Path, generation: u64, event: ServerEvent) {
        match event {
            ServerEvent::ClientConnected { .. } | ServerEvent::Refused { .. } => {}
            ServerEvent::ClientDisconnected { .. } => {
                if self.placement_is(key, generation) {
                    // A deferred config change or a waiting better cable may apply now.
                    self.reconcile().await;
                }
            }
            ServerEvent::CableFailed { error } => {
                self.with_placement(key, generation, |a, _| a.life.failed(&error.to_string()));
            }
        }
    }

    fn placement_is(&self, key: &Path, generation: u64) -> bool {
        self.attached.iter().any(|a| {
            a.key() == key && a.placement.as_ref().map(|r| r.generation) == Some(generation)
        })
    }

    fn opened(&mut self, key: &Path, generation: u64, result: Result<OpenedCable, CableError>) {
        self.with_placement(key, generation, |a, cable| match result {
            Ok(opened) => {
                a.chain = opened.chain;
                *cable = Some(opened.cable);
                a.life.opened()
            }
            Err(e) => a.life.open_failed(&e.to_string()),
        });
    }

    fn log_status(&self) {
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

    /// The attached cable `which` names (rule name, serial, USB path or port).
    fn find(&self, which: &str) -> Result<&Attached, HandleError> {
        let port: Option<u16> = which.parse().ok();
        self.attached
            .iter()
            .find(|a| {
                a.name == which
                    || a.identity == which
                    || a.info.serial.as_deref() == Some(which)
                    || a.info.usb_path == which
                    || (port.is_some() && a.placement.as_ref().map(|r| r.port) == port)
            })
            .ok_or_else(|| {
                let known: Vec<&str> = self.attached.iter().map(|a| a.name.as_str()).collect();
                HandleError::NoSuchCable(if known.is_empty() {
                    format!("no cable {which:?}: no cables attached")
                } else {
                    format!(
                        "no cable {which:?} (give a name, serial, USB path or port; attached: {})",
                        known.join(", ")
                    )
                })
            })
    }

    /// Ends the session on the cable `which` names (rule name, serial, USB path or port).
    fn disconnect(&self, which: &str, requested_by: &str) -> Result<Disconnected, HandleError> {
        let a = self.find(which)?;
        let client = a.server().and_then(|s| s.disconnect(requested_by));
        if client.is_none() {
            cable_log!(
                info,
                a.fields(),
                "disconnect requested by {requested_by}: {} has no client",
                a.name
            );
        }
        Ok(Disconnected {
            cable: a.name.clone(),
            port: a.placement.as_ref().map(|r| r.port),
            client: client.map(|p| p.to_string()),
        })
    }

    fn status(&self) -> AgentStatus {
        AgentStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            config: self.config_label.clone(),
            reloads: self.reloads,
            cables: self
                .attached
                .iter()
                .map(|a| a.status(&*self.opener, self.reservations.get(&a.identity)))
                .collect(),
            unplugged_reservations: self
                .reservations
                .iter()
                .filter(|(id, _)| !self.attached.iter().any(|a| a.identity == *id))
                .map(|(id, r)| (id.to_string(), status::reservation_status(r, false)))
                .collect(),
        }
    }

    /// Reserves the cable `which` names for `who`, or extends `who`'s reservation. The port
    /// enforces it from the moment this returns; a session already running goes on.
    fn reserve(
        &mut self,
        which: &str,
        who: &Requester,
        request: ReserveRequest,
    ) -> Result<ReservationDone, HandleError> {
        let a = self.find(which)?;
        let (identity, name) = (a.identity.clone(), a.name.clone());
        let now = SystemTime::now();
        let (outcome, r) = self.reservations.reserve(
            &identity,
            &name,
            who,
            request,
            &self.config.reservations,
            now,
        )?;
        let a = self.find(which)?;
        a.gate.set(Some(r.for_port()));
        let from: Vec<String> = r.from.iter().map(ToString::to_string).collect();
        let note = r
            .note
            .as_deref()
            .map_or(String::new(), |n| format!(" ({n})"));
        let (id, verb) = match outcome {
            Reserved::New => (message_id::CABLE_RESERVED, ""),
            Reserved::Extended => (message_id::RESERVATION_EXTENDED, "reservation extended: "),
        };
        cable_log!(
            info, a.fields(), message_id = id, reservation_owner = %r.owner,
            "{verb}{} for {}{note}", r.describe(now), from.join(", ")
        );
        let outside = a
            .server()
            .and_then(|s| s.client())
            .filter(|c| !r.for_port().admits(c.peer.ip()))
            .map(|c| c.peer.to_string());
        if let Some(peer) = &outside {
            cable_log!(
                info, a.fields(), peer = %peer,
                "the session of {peer} began before the reservation and goes on until it ends"
            );
        }
        let done = ReservationDone {
            cable: name,
            port: a.placement.as_ref().map(|r| r.port),
            outcome: ReservationDone::outcome_of_reserve(outcome).into(),
            owner: Some(r.owner.clone()),
            until: Some(crate::xvc::reservation::epoch_seconds(r.until())),
            until_text: Some(clock_text(r.until(), now)),
            from,
            note: r.note.clone(),
            session_continues: outside,
        };
        self.reservations_changed();
        Ok(done)
    }

    /// Ends the reservation of the cable `which` names: an attached cable, or the identity
    /// of one that is unplugged.
    fn release(
        &mut self,
        which: &str,
        who: &Requester,
        force: bool,
    ) -> Result<ReservationDone, HandleError> {
        let (identity, name, port) = match self.find(which) {
            Ok(a) => (
                a.info.identity(),
                a.name.clone(),
                a.placement.as_ref().map(|r| r.port),
            ),
            Err(_) if self.reservations.get(which).is_some() => {
                (which.to_string(), which.to_string(), None)
            }
            Err(e) => return Err(e),
        };
        let now = SystemTime::now();
        let (outcome, ended) = self
            .reservations
            .release(&identity, &name, who, force, now)?;
        let fields = self.find(which).ok().map(Attached::fields);
        let fields = fields.unwrap_or(crate::logging::CableFields {
            identity: &identity,
            usb_path: "",
            port: None,
        });
        if let Some(r) = &ended {
            match outcome {
                Released::Forced => cable_log!(
                    warn, fields, message_id = message_id::RESERVATION_BROKEN,
                    reservation_owner = %r.owner,
                    "reservation broken by {} (--force): was {}", who.name, r.describe(now)
                ),
                _ => cable_log!(
                    info, fields, message_id = message_id::RESERVATION_RELEASED,
                    reservation_owner = %r.owner,
                    "reservation released by {}: was {}", who.name, r.describe(now)
                ),
            }
        }
        if let Ok(a) = self.find(which) {
            a.gate.set(None);
        }
        let done = ReservationDone {
            cable: name,
            port,
            outcome: ReservationDone::outcome_of_release(outcome).into(),
            owner: ended.as_ref().map(|r| r.owner.clone()),
            until: ended
                .as_ref()
                .map(|r| crate::xvc::reservation::epoch_seconds(r.until())),
            until_text: ended.as_ref().map(|r| clock_text(r.until(), now)),
            from: ended
                .as_ref()
                .map(|r| r.from.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            note: ended.and_then(|r| r.note),
            session_continues: None,
        };
        if outcome != Released::NotReserved {
            self.reservations_changed();
        }
        Ok(done)
    }

    /// Ends the reservations whose time has come: logged, opened to everyone `allow:`
    /// admits, stored.
    fn expire_reservations(&mut self) {
        let now = SystemTime::now();
        let ended = self.reservations.expire(now);
        for (identity, r) in &ended {
            let attached = self.attached.iter().find(|a| a.identity == *identity);
            let fields = attached
                .map(Attached::fields)
                .unwrap_or(crate::logging::CableFields {
                    identity,
                    usb_path: "",
                    port: None,
                });
            cable_log!(
                info, fields, message_id = message_id::RESERVATION_EXPIRED,
                reservation_owner = %r.owner,
                "reservation of {} ended at {}", r.owner, clock_text(r.until(), now)
            );
            if let Some(a) = attached {
                a.gate.set(None);
            }
        }
        if ended.is_empty() {
            self.schedule_reservation_end();
        } else {
            self.reservations_changed();
        }
    }

    /// Stores the reservations and sets the timer for the next end.
    fn reservations_changed(&mut self) {
        if let Err(e) = self.reservations.save(&self.state_dir) {
            tracing::warn!("cannot store the reservations: {e}");
        }
        self.schedule_reservation_end();
    }

    fn schedule_reservation_end(&mut self) {
        if let Some(t) = self.reservation_timer.take() {
            t.abort();
        }
        let Some(end) = self.reservations.next_end() else {
            return;
        };
        // Wall-clock end: a tokio timer cannot follow a clock step, so a long wait is
        // re-checked at least every minute.
        let wait = end
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .min(std::time::Duration::from_secs(60))
            + std::time::Duration::from_millis(1);
        let tx = self.tx.clone();
        self.reservation_timer = Some(tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = tx.send(Input::ReservationsDue);
        }));
    }

    async fn shutdown(&mut self) {
        let timeout = self.config.shutdown_timeout;
        let mut stops = tokio::task::JoinSet::new();
        for a in &mut self.attached {
            if let Some(Placement {
                endpoint: Endpoint::Server(server),
                ..
            }) = a.placement.take()
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

/// The stored reservations; a damaged file is logged, set aside for a person to look at,
/// and replaced by an empty one, and the agent goes on serving.
fn load_reservations(state_dir: &Path) -> Reservations {
    match Reservations::load(state_dir) {
        Ok(r) => r,
        Err(e @ ReservationFileError::Damaged { .. }) => {
            let aside = Reservations::set_aside(state_dir, SystemTime::now());
            let empty = Reservations::new();
            let saved = empty.save(state_dir);
            match (aside, saved) {
                (Ok(aside), Ok(())) => tracing::error!(
                    message_id = message_id::RESERVATIONS_DAMAGED,
                    "{e}; kept as {} and starting without reservations",
                    aside.display()
                ),
                (aside, saved) => tracing::error!(
                    message_id = message_id::RESERVATIONS_DAMAGED,
                    "{e}; starting without reservations (setting it aside: {}; replacing it: {})",
                    aside.map_or_else(|e| e.to_string(), |p| p.display().to_string()),
                    saved.map_or_else(|e| e.to_string(), |()| "done".into())
                ),
            }
            empty
        }
        Err(e) => {
            tracing::error!(
                message_id = message_id::RESERVATIONS_DAMAGED,
                "{e}; starting without reservations"
            );
            Reservations::new()
        }
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
