//! The per-cable XVC server: one TCP listener, at most one JTAG session at a time.
//!
//! XVC has no locking, and two clients interleaving shifts corrupt the TAP state, so a cable
//! belongs to one client at a time — but only to a live one that is using it. The accept
//! loop decides who gets the cable ([`CableSlot`]): a connection whose peer already left
//! (a port check that connected and closed) never takes it; a newcomer whose predecessor is
//! leaving waits for the handoff; a newcomer is refused (or queued, `on_busy: queue`) only by
//! a live holder. Keepalive on every session socket frees a cable held by a vanished host.
//!
//! Stopping is an input, not a kill: [`CableServer::shutdown`] triggers the server's one
//! [`Shutdown`], which closes the listener at once; the in-flight shift finishes and its reply
//! goes out, then the session ends so its client sees EOF, and the cable is handed back.

use super::connection::{configure_socket, peer_state, Connection, Keepalive, PeerState};
use super::session::Session;
pub use super::session::SessionEnd;
use super::shutdown::Shutdown;
use super::slot::{CableSlot, Closing, Holder, Lend};
pub use super::stats::{CableStats, LatencyHistogram, RefuseReason, SHIFT_LATENCY_BUCKETS};
use crate::jtag::{Cable, CableError};
use crate::logging::{cable_log, message_id, CableFields};
use crate::xvc::access::{AccessPolicy, Verdict};
use crate::xvc::reservation::{PortReservation, ReservationGate};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What to do with a second client while a live session holds the cable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBusy {
    /// Close the new connection at once.
    Refuse,
    /// Keep it waiting until the cable is free, up to the given time, then close it.
    Queue(Duration),
}

/// How long a newcomer waits for a holder that is already leaving (its peer closed, or its
/// session is being ended) to hand the cable over.
pub(crate) const HANDOFF_WAIT: Duration = Duration::from_secs(1);

/// How long a holder must stay live before a newcomer is refused as busy. A client that
/// closes and reconnects at once can be accepted a moment before its own FIN is processed
/// (the kernel may handle the two on different CPUs); watching the holder this long tells
/// that case from a real second client.
pub(crate) const BUSY_CONFIRM: Duration = Duration::from_millis(50);

/// How often a newcomer re-checks a live holder while confirming it is busy.
const BUSY_RECHECK: Duration = Duration::from_millis(2);

/// How long a session closed by the server waits for its last replies to reach the client.
const LINGER: Duration = Duration::from_secs(1);

/// How a cable is named in logs: its display name and the identifiers logged as the journal
/// fields `CABLE_SERIAL` and `CABLE_PATH`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CableLabel {
    pub name: String,
    /// The cable's identity: its serial (with the channel letter on a multi-channel board),
    /// else its USB path.
    pub identity: String,
    pub usb_path: String,
}

impl CableLabel {
    /// A label from a name alone (tests, benchmarks).
    pub fn named(name: impl Into<String>) -> Self {
        let name = name.into();
        CableLabel {
            identity: name.clone(),
            name,
            usb_path: String::new(),
        }
    }
}

/// Settings of one cable's server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// How the cable is named in logs.
    pub cable: CableLabel,
    pub max_vector_bytes: usize,
    pub access: AccessPolicy,
    pub on_busy: OnBusy,
    /// End a session that sends nothing for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// How a vanished client is detected (`None`: no keepalive).
    pub keepalive: Option<Keepalive>,
    /// The cable's reservation, checked after `access` for every new connection.
    pub reservation: ReservationGate,
}

impl ServerSettings {
    /// Defaults for a cable: 16 KiB vectors, default access policy, refuse when busy,
    /// keepalive within 45 s.
    pub fn new(cable: impl Into<String>) -> Self {
        ServerSettings {
            cable: CableLabel::named(cable),
            max_vector_bytes: crate::xvc::DEFAULT_MAX_VECTOR_BYTES,
            access: AccessPolicy::default(),
            on_busy: OnBusy::Refuse,
            idle_timeout: None,
            keepalive: Some(Keepalive::default()),
            reservation: ReservationGate::new(),
        }
    }
}

/// Things the server tells its owner.
#[derive(Debug)]
pub enum ServerEvent {
    ClientConnected {
        peer: SocketAddr,
    },
    ClientDisconnected {
        peer: SocketAddr,
        end: SessionEnd,
    },
    Refused {
        peer: SocketAddr,
        reason: RefuseReason,
    },
    /// A shift or clock change failed on the cable.
    CableFailed {
        error: CableError,
    },
}

/// Where a server reports its events: called from the accept loop and session threads, so it
/// must be cheap and must not block (typically a channel send).
pub(crate) type EventSink = Arc<dyn Fn(ServerEvent) + Send + Sync>;

/// An [`EventSink`] feeding an unbounded channel, and its receiving end.
pub fn channel_sink() -> (EventSink, mpsc::UnboundedReceiver<ServerEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Arc::new(move |ev| {
            let _ = tx.send(ev);
        }),
        rx,
    )
}

/// The client currently holding the cable.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub peer: SocketAddr,
    pub since: SystemTime,
    /// Time since its last command.
    pub idle_for: Duration,
}

/// Shared state between the accept loop, waiting clients, the session thread and the handle.
struct Shared {
    settings: ServerSettings,
    port: u16,
    slot: CableSlot,
    /// Session threads not finished yet, counting those still closing their connection
    /// gracefully after handing the cable back (a stopping server waits for them: the
    /// process exiting would cut their last replies off).
    sessions_running: AtomicUsize,
    shutdown: Shutdown,
    stats: Arc<CableStats>,
    events: Option<EventSink>,
}

impl Shared {
    /// The cable's journal fields, for [`cable_log!`].
    fn fields(&self) -> CableFields<'_> {
        CableFields {
            identity: &self.settings.cable.identity,
            usb_path: &self.settings.cable.usb_path,
            port: Some(self.port),
        }
    }

    fn emit(&self, ev: ServerEvent) {
        if let Some(sink) = &self.events {
            sink(ev);
        }
    }
}

/// A running per-cable XVC server.
pub struct CableServer {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    accept_task: tokio::task::JoinHandle<()>,
}

impl CableServer {
    /// Starts serving `cable` on an already bound listener. Without a cable (it failed to
    /// open) clients are refused until one is installed with [`CableServer::install_cable`].
    pub fn start(
        listener: TcpListener,
        cable: Option<Box<dyn Cable>>,
        settings: ServerSettings,
        events: Option<EventSink>,
    ) -> std::io::Result<CableServer> {
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            settings,
            port: local_addr.port(),
            slot: CableSlot::new(cable),
            sessions_running: AtomicUsize::new(0),
            shutdown: Shutdown::new(),
            stats: Arc::new(CableStats::default()),
            events,
        });
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(CableServer {
            shared,
            local_addr,
            accept_task,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Per-cable counters.
    pub(crate) fn stats(&self) -> Arc<CableStats> {
        self.shared.stats.clone()
    }

    /// Hands the server a (re)opened cable. A cable lent to a session is not replaced.
    pub(crate) fn install_cable(&self, cable: Box<dyn Cable>) {
        if self.shared.slot.install(cable).is_some() {
            cable_log!(
                warn,
                self.shared.fields(),
                "reopened cable not installed: a session holds the cable or the server is stopping"
            );
        }
    }

    /// True when the server has a usable cable (none after a cable error until reopened).
    /// A cable lent to the active session counts as present.
    pub fn has_cable(&self) -> bool {
        self.shared.slot.has_cable()
    }

    /// The client holding the cable, if any.
    pub fn client(&self) -> Option<ClientInfo> {
        self.shared.slot.holder().map(|h| ClientInfo {
            peer: h.peer,
            since: h.since,
            idle_for: h.idle_for(),
        })
    }

    /// Ends the current session after its in-flight shift, on `by`'s request (logged); the
    /// cable then serves the next client. Returns the client that held it, if any.
    pub fn disconnect(&self, by: &str) -> Option<SocketAddr> {
        let holder = self.shared.slot.holder()?;
        cable_log!(info, self.shared.fields(), peer = %holder.peer, "ending the session of {} at the request of {by}", holder.peer);
        holder.disconnect(by.to_string());
        Some(holder.peer)
    }

    /// Stops accepting, ends the session after its in-flight shift, and returns the cable once
    /// the session has let go of it (or `None` if that takes longer than `timeout`; the
    /// session's connection is then reset when it closes).
    pub async fn shutdown(mut self, timeout: Duration) -> Option<Box<dyn Cable>> {
        self.shared.shutdown.trigger();
        // The listener is dropped when the accept loop ends: the port closes now.
        let _ = (&mut self.accept_task).await;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut returned = None;
        let mut closed = false;
        loop {
            let changed = self.shared.slot.changed().notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let mut holder = None;
            if !closed {
                match self.shared.slot.close() {
                    Closing::Done(cable) => {
                        returned = cable;
                        closed = true;
                    }
                    Closing::Held(h) => {
                        // Reading side only: the in-flight shift still gets its reply out.
                        h.stop_reading();
                        holder = Some(h);
                    }
                }
            }
            if closed && self.shared.sessions_running.load(Ordering::SeqCst) == 0 {
                return returned;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                // Out of time with a shift still running: its connection will be reset when
                // it closes (at the latest when the process exits), so the client sees an
                // error rather than a clean end of stream after a cut reply. A session that
                // is only finishing its close keeps going until the process exits.
                if let Some(h) = holder {
                    h.reset_on_close();
                }
                return returned;
            }
        }
    }
}

impl Drop for CableServer {
    fn drop(&mut self) {
        // Dropped without `shutdown` (a test, a panic): stop accepting all the same.
        self.shared.shutdown.trigger();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.wait() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                cable_log!(warn, shared.fields(), "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        admit(&shared, stream, peer);
    }
}

/// Decides what a freshly accepted connection gets: refused, dropped, the cable, or a place
/// in line for it.
fn admit(shared: &Arc<Shared>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    match shared.settings.access.check(peer.ip()) {
        Verdict::Allow => {}
        Verdict::AllowWithWarning => cable_log!(
            warn, shared.fields(), peer = %peer,
            "serving a client outside the allowlist (access: permissive)"
        ),
        Verdict::Refuse => return refuse(shared, peer, RefuseReason::NotAllowed, None),
    }
    if let Some(r) = shared
        .settings
        .reservation
        .refusing(peer.ip(), SystemTime::now())
    {
        return refuse_reserved(shared, peer, &r);
    }
    let stream = match stream
        .into_std()
        .and_then(|s| configure_socket(&s, shared.settings.keepalive).map(|()| s))
    {
        Ok(s) => s,
        Err(e) => {
            cable_log!(warn, shared.fields(), peer = %peer, "cannot set up session socket: {e}");
            return;
        }
    };
    if peer_state(&stream) == PeerState::Gone {
        // Connected and closed before it was served — a port check (`nc -z`, a monitoring
        // probe, a script waiting for the port). It must not take the cable from the client
        // behind it in the backlog.
        cable_log!(debug, shared.fields(), peer = %peer, "connection closed by its peer before it was served");
        return;
    }
    let holder = match stream.try_clone() {
        Ok(socket) => Arc::new(Holder::new(peer, socket)),
        Err(e) => {
            cable_log!(warn, shared.fields(), peer = %peer, "cannot set up session socket: {e}");
            return;
        }
    };
    let wait = match shared.slot.lend(None, &holder) {
        Lend::Lent(cable) => return start_session(shared, stream, holder, cable),
        Lend::Unavailable => {
            return refuse(shared, peer, RefuseReason::CableUnavailable, None);
        }
        Lend::Closed => return,
        Lend::Held(_) | Lend::NotYourTurn => match shared.settings.on_busy {
            OnBusy::Refuse => HANDOFF_WAIT,
            OnBusy::Queue(wait) => wait,
        },
    };
    tokio::spawn(wait_in_line(shared.clone(), stream, holder, wait));
}

/// Waits for the cable, first come first served, up to `wait`: a queued client
/// (`on_busy: queue`), or with `on_busy: refuse` a newcomer, which is refused as soon as the
/// holder has been seen live for [`BUSY_CONFIRM`] and otherwise waits for the handoff.
async fn wait_in_line(
    shared: Arc<Shared>,
    stream: std::net::TcpStream,
    holder: Arc<Holder>,
    wait: Duration,
) {
    let peer = holder.peer;
    let ticket = shared.slot.join_line();
    cable_log!(debug, shared.fields(), peer = %peer, "waiting in line for the cable");
    let arrived = tokio::time::Instant::now();
    let deadline = arrived + wait;
    let refusal = loop {
        let mut confirming = false;
        let changed = shared.slot.changed().notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if peer_state(&stream) == PeerState::Gone {
            cable_log!(debug, shared.fields(), peer = %peer, "client left while waiting for the cable");
            break None;
        }
        // The cable may have been reserved for others while this client waited.
        if let Some(r) = shared
            .settings
            .reservation
            .refusing(peer.ip(), SystemTime::now())
        {
            shared.slot.leave_line(ticket);
            return refuse_reserved(&shared, peer, &r);
        }
        match shared.slot.lend(Some(ticket), &holder) {
            Lend::Lent(cable) => return start_session(&shared, stream, holder, cable),
            Lend::Unavailable => break Some((RefuseReason::CableUnavailable, None)),
            Lend::Closed => break None,
            Lend::Held(current)
                if shared.settings.on_busy == OnBusy::Refuse && current.is_live() =>
            {
                if arrived.elapsed() >= BUSY_CONFIRM {
                    break Some((RefuseReason::Busy, Some(current.peer)));
                }
                confirming = true;
            }
            Lend::Held(_) | Lend::NotYourTurn => {}
        }
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep(BUSY_RECHECK), if confirming => {}
            _ = shared.shutdown.wait() => break None,
            _ = tokio::time::sleep_until(deadline) => {
                let current = shared.slot.holder().map(|h| h.peer);
                break Some(match shared.settings.on_busy {
                    OnBusy::Refuse => (RefuseReason::Busy, current),
                    OnBusy::Queue(_) => (RefuseReason::QueueTimeout, current),
                });
            }
        }
    };
    shared.slot.leave_line(ticket);
    if let Some((reason, current)) = refusal {
        refuse(&shared, peer, reason, current);
    }
}

fn refuse(shared: &Shared, peer: SocketAddr, reason: RefuseReason, holder: Option<SocketAddr>) {
    shared.stats.refused[reason as usize].fetch_add(1, Ordering::Relaxed);
    match (reason, holder) {
        (RefuseReason::Busy, Some(h)) => cable_log!(
            info, shared.fields(), peer = %peer, message_id = message_id::CLIENT_REFUSED,
            "refused client: cable busy, {h} holds the JTAG session (on_busy: refuse)"
        ),
        (RefuseReason::QueueTimeout, Some(h)) => cable_log!(
            info, shared.fields(), peer = %peer, message_id = message_id::CLIENT_REFUSED,
            "refused client: waited too long in the queue, {h} still holds the JTAG session"
        ),
        _ => cable_log!(
            info, shared.fields(), peer = %peer, message_id = message_id::CLIENT_REFUSED,
            "refused client: {}", reason.as_str()
        ),
    }
    shared.emit(ServerEvent::Refused { peer, reason });
}

/// Refuses a peer outside the cable's reservation, naming its owner and end time.
fn refuse_reserved(shared: &Shared, peer: SocketAddr, r: &PortReservation) {
    shared.stats.refused[RefuseReason::Reserved as usize].fetch_add(1, Ordering::Relaxed);
    cable_log!(
        info, shared.fields(), peer = %peer, message_id = message_id::CLIENT_REFUSED,
        "refused client: {} (not among its addresses)", r.describe(SystemTime::now())
    );
    shared.emit(ServerEvent::Refused {
        peer,
        reason: RefuseReason::Reserved,
    });
}

fn start_session(
    shared: &Arc<Shared>,
    stream: std::net::TcpStream,
    holder: Arc<Holder>,
    cable: Box<dyn Cable>,
) {
    let peer = holder.peer;
    let connection = match Connection::new(stream, shared.settings.idle_timeout) {
        Ok(c) => c,
        Err(e) => {
            cable_log!(warn, shared.fields(), peer = %peer, "cannot set up session socket: {e}");
            shared.slot.give_back(&holder, Some(cable));
            return;
        }
    };
    shared.stats.sessions.fetch_add(1, Ordering::Relaxed);
    shared.sessions_running.fetch_add(1, Ordering::SeqCst);
    cable_log!(info, shared.fields(), peer = %peer, message_id = message_id::CLIENT_CONNECTED, "client connected");
    shared.emit(ServerEvent::ClientConnected { peer });
    let spawned = std::thread::Builder::new()
        .name(format!("xvc-session-{}", peer.port()))
        .spawn({
            let shared = shared.clone();
            let holder = holder.clone();
            move || run_session_thread(shared, connection, holder, cable)
        });
    if let Err(e) = spawned {
        // std drops the closure, and the cable handle with it, without running it: the
        // owner reopens the cable as after any cable failure.
        cable_log!(error, shared.fields(), peer = %peer, "cannot start session thread: {e}");
        shared.sessions_running.fetch_sub(1, Ordering::SeqCst);
        shared.slot.give_back(&holder, None);
        shared.emit(ServerEvent::CableFailed {
            error: CableError::Io(format!("cannot start session thread: {e}").into()),
        });
    }
}

fn run_session_thread(
    shared: Arc<Shared>,
    mut connection: Connection,
    holder: Arc<Holder>,
    mut cable: Box<dyn Cable>,
) {
    let started = Instant::now();
    // Every session starts at the cable's default clock, the fastest it allows: a client
    // that never sends `settck:` (probe-rs) does not inherit the clock of the one before.
    let end = match cable.set_tck_period(0) {
        Ok(_) => Session::new(
            &mut connection,
            shared.settings.max_vector_bytes,
            &shared.stats,
            &holder,
            &shared.shutdown,
        )
        .run(&mut *cable),
        Err(e) => SessionEnd::CableFailed(e),
    };
    // The session is over: the cable goes back now, before the graceful close below, so the
    // next client is served at once. A failed handle is not handed on: the owner reopens the
    // cable and installs the new handle with `install_cable`.
    let peer = holder.peer;
    if let SessionEnd::CableFailed(error) = &end {
        drop(cable);
        shared.slot.give_back(&holder, None);
        cable_log!(error, shared.fields(), peer = %peer, message_id = message_id::USB_ERROR, "session ended by cable error: {error}");
        shared.emit(ServerEvent::CableFailed {
            error: error.clone(),
        });
    } else {
        shared.slot.give_back(&holder, Some(cable));
    }
    if end != SessionEnd::ClientClosed {
        // The client may still be sending: make sure it gets every reply before the close.
        connection.close_gracefully(LINGER);
    }
    drop(connection); // closes the socket: the client sees EOF
    let elapsed = started.elapsed();
    match &end {
        SessionEnd::ProtocolError(why) => cable_log!(
            warn, shared.fields(), peer = %peer, message_id = message_id::CLIENT_DISCONNECTED,
            "closed client connection: {why}"
        ),
        SessionEnd::PeerUnreachable(why) => cable_log!(
            warn, shared.fields(), peer = %peer, message_id = message_id::CLIENT_DISCONNECTED,
            "client disconnected (peer unreachable: {why}) after {elapsed:.1?}"
        ),
        SessionEnd::CableFailed(_) => {}
        other => cable_log!(
            info, shared.fields(), peer = %peer, message_id = message_id::CLIENT_DISCONNECTED,
            "client disconnected ({other}) after {elapsed:.1?}"
        ),
    }
    shared.emit(ServerEvent::ClientDisconnected { peer, end });
    shared.sessions_running.fetch_sub(1, Ordering::SeqCst);
    shared.slot.changed().notify_waiters();
}
