//! The per-cable XVC server: one TCP listener, at most one JTAG session at a time.
//!
//! XVC has no locking, and two clients interleaving shifts corrupt the TAP state, so a cable
//! belongs to one client until it disconnects. The accept loop is async; a session runs on its
//! own thread because every shift is blocking USB I/O anyway, and a dedicated thread keeps a
//! shift's round trip to two syscalls and the cable. Threads exist only for active sessions.
//!
//! Stopping is an input, not a kill: [`CableServer::shutdown`] closes the listener at once,
//! lets the in-flight shift finish and its reply go out, then ends the session so its client
//! sees EOF, and hands the cable back.

use crate::jtag::{bytes_for_bits, Cable, CableError};
use crate::logging::message_id;
use crate::xvc::access::{AccessPolicy, Verdict};
use crate::xvc::codec::{self, Command, Decoded};
use bytes::BytesMut;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};

/// What to do with a second client while a session is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBusy {
    /// Close the new connection at once.
    Refuse,
    /// Keep it waiting until the cable is free, up to the given time, then close it.
    Queue(Duration),
}

/// How a cable is named in logs: its display name and the identifiers logged as the journal
/// fields `CABLE_SERIAL` and `CABLE_PATH`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CableLabel {
    pub name: String,
    /// Serial number, else the USB path (the cable's identity).
    pub serial: String,
    pub usb_path: String,
}

impl CableLabel {
    /// A label from a name alone (tests, benchmarks).
    pub fn named(name: impl Into<String>) -> Self {
        let name = name.into();
        CableLabel {
            serial: name.clone(),
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
}

impl ServerSettings {
    /// Defaults for a cable: 1 MiB vectors, default access policy, refuse when busy.
    pub fn new(cable: impl Into<String>) -> Self {
        ServerSettings {
            cable: CableLabel::named(cable),
            max_vector_bytes: crate::xvc::DEFAULT_MAX_VECTOR_BYTES,
            access: AccessPolicy::default(),
            on_busy: OnBusy::Refuse,
            idle_timeout: None,
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    /// Peer outside the allowlist (strict access).
    NotAllowed,
    /// Another client holds the cable.
    Busy,
    /// Waited in the queue longer than allowed.
    QueueTimeout,
    /// The cable failed and is being reopened.
    CableUnavailable,
}

impl RefuseReason {
    pub const ALL: [RefuseReason; 4] = [
        RefuseReason::NotAllowed,
        RefuseReason::Busy,
        RefuseReason::QueueTimeout,
        RefuseReason::CableUnavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefuseReason::NotAllowed => "not_allowed",
            RefuseReason::Busy => "busy",
            RefuseReason::QueueTimeout => "queue_timeout",
            RefuseReason::CableUnavailable => "cable_unavailable",
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The client closed the connection.
    ClientClosed,
    /// The server was shut down (detach, reload, stop).
    Shutdown,
    /// The client sent something that is not XVC or is over the limits.
    ProtocolError(String),
    /// No command within the idle timeout.
    IdleTimeout,
    /// Socket error talking to the client.
    NetworkError(String),
    /// The cable failed; the server stays up, the supervisor decides what to do.
    CableFailed(CableError),
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
pub type EventSink = Arc<dyn Fn(ServerEvent) + Send + Sync>;

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

/// Upper bounds (seconds) of the shift latency histogram buckets: from a short scan on a fast
/// cable to a megabyte at a slow clock.
pub const SHIFT_LATENCY_BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
];

/// A fixed-bucket latency histogram updated with atomics (no lock on the shift path).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Per-bucket counts (not cumulative); the last slot is `+Inf`.
    counts: [AtomicU64; SHIFT_LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = SHIFT_LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(SHIFT_LATENCY_BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket bound (the last is `+Inf`, i.e. the total) and the sum in
    /// seconds, as Prometheus wants them.
    pub fn snapshot(&self) -> (Vec<u64>, f64) {
        let mut total = 0;
        let cumulative = self
            .counts
            .iter()
            .map(|c| {
                total += c.load(Ordering::Relaxed);
                total
            })
            .collect();
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        (cumulative, sum)
    }
}

/// Counters kept per cable, readable at any time.
#[derive(Debug, Default)]
pub struct CableStats {
    pub sessions: AtomicU64,
    pub shifts: AtomicU64,
    pub bits: AtomicU64,
    /// Refused connections, indexed like [`RefuseReason::ALL`].
    pub refused: [AtomicU64; RefuseReason::ALL.len()],
    pub shift_latency: LatencyHistogram,
}

impl CableStats {
    /// Refused connections of every reason.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// The client currently holding the cable.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub peer: SocketAddr,
    pub since: SystemTime,
}

/// Shared state between the accept loop, the session thread and the handle.
struct Shared {
    settings: ServerSettings,
    port: u16,
    /// One permit: whoever holds it owns the cable.
    permit: Arc<Semaphore>,
    cable: Mutex<Option<Box<dyn Cable>>>,
    /// The active session's socket (to end it) and client.
    active: Mutex<Option<(TcpStream, ClientInfo)>>,
    session_ended: Notify,
    /// Set when the server is being shut down: a session's EOF is then ours, not the client's.
    stopping: Arc<AtomicBool>,
    stats: Arc<CableStats>,
    events: Option<EventSink>,
}

impl Shared {
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
    stop: watch::Sender<bool>,
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
            permit: Arc::new(Semaphore::new(1)),
            cable: Mutex::new(cable),
            active: Mutex::new(None),
            session_ended: Notify::new(),
            stopping: Arc::new(AtomicBool::new(false)),
            stats: Arc::new(CableStats::default()),
            events,
        });
        let (stop, stop_rx) = watch::channel(false);
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone(), stop_rx));
        Ok(CableServer {
            shared,
            local_addr,
            stop,
            accept_task,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Per-cable counters.
    pub fn stats(&self) -> Arc<CableStats> {
        self.shared.stats.clone()
    }

    /// Hands the server a (re)opened cable, replacing any previous handle.
    pub fn install_cable(&self, cable: Box<dyn Cable>) {
        *lock(&self.shared.cable) = Some(cable);
    }

    /// True when the server has a usable cable (none after a cable error until reopened).
    /// A cable lent to the active session counts as present.
    pub fn has_cable(&self) -> bool {
        lock(&self.shared.cable).is_some() || lock(&self.shared.active).is_some()
    }

    /// The client holding the cable, if any.
    pub fn client(&self) -> Option<ClientInfo> {
        lock(&self.shared.active).as_ref().map(|(_, c)| c.clone())
    }

    /// Stops accepting, ends the session after its in-flight shift, and returns the cable once
    /// the session has let go of it (or `None` if that takes longer than `timeout`; the
    /// session's connection is then reset when it closes).
    pub async fn shutdown(self, timeout: Duration) -> Option<Box<dyn Cable>> {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop.send(true);
        // The listener is dropped when the accept loop ends: the port closes now.
        let _ = self.accept_task.await;
        self.shared.permit.close();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ended = self.shared.session_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            match lock(&self.shared.active).as_ref() {
                Some((sock, _)) => {
                    // Reading side only: the in-flight shift still gets its reply out.
                    let _ = sock.shutdown(Shutdown::Read);
                }
                None => return lock(&self.shared.cable).take(),
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                // Out of time with a shift still running: its connection will be reset when
                // it closes (at the latest when the process exits), so the client sees an
                // error rather than a clean end of stream after a cut reply.
                if let Some((sock, _)) = lock(&self.shared.active).as_ref() {
                    let _ = socket2::SockRef::from(sock).set_linger(Some(Duration::ZERO));
                }
                return None;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(cable_serial = %shared.settings.cable.serial, cable_path = %shared.settings.cable.usb_path, xvc_port = shared.port, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match shared.settings.access.check(peer.ip()) {
            Verdict::Allow => {}
            Verdict::AllowWithWarning => tracing::warn!(
                cable_serial = %shared.settings.cable.serial, cable_path = %shared.settings.cable.usb_path, xvc_port = shared.port, peer = %peer,
                "serving a client outside the allowlist (access: permissive)"
            ),
            Verdict::Refuse => {
                refuse(&shared, peer, RefuseReason::NotAllowed);
                continue;
            }
        }
        match shared.permit.clone().try_acquire_owned() {
            Ok(permit) => start_session(&shared, stream, peer, permit),
            Err(_) => match shared.settings.on_busy {
                OnBusy::Refuse => refuse(&shared, peer, RefuseReason::Busy),
                OnBusy::Queue(wait) => {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let acquire = shared.permit.clone().acquire_owned();
                        match tokio::time::timeout(wait, acquire).await {
                            Ok(Ok(permit)) => start_session(&shared, stream, peer, permit),
                            Ok(Err(_)) => {} // server shutting down
                            Err(_) => refuse(&shared, peer, RefuseReason::QueueTimeout),
                        }
                    });
                }
            },
        }
    }
}

fn refuse(shared: &Shared, peer: SocketAddr, reason: RefuseReason) {
    shared.stats.refused[reason as usize].fetch_add(1, Ordering::Relaxed);
    let holder = lock(&shared.active).as_ref().map(|(_, c)| c.peer);
    match (reason, holder) {
        (RefuseReason::Busy, Some(h)) => tracing::info!(
            cable_serial = %shared.settings.cable.serial, cable_path = %shared.settings.cable.usb_path, xvc_port = shared.port, peer = %peer,
            message_id = message_id::CLIENT_REFUSED, "refused client: cable busy, {h} holds the JTAG session (on_busy: refuse)"
        ),
        _ => tracing::info!(
            cable_serial = %shared.settings.cable.serial, cable_path = %shared.settings.cable.usb_path, xvc_port = shared.port, peer = %peer,
            message_id = message_id::CLIENT_REFUSED, "refused client: {}", reason.as_str()
        ),
    }
    shared.emit(ServerEvent::Refused { peer, reason });
}

fn start_session(
    shared: &Arc<Shared>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let prepared = stream.into_std().and_then(|s| {
        s.set_nonblocking(false)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(shared.settings.idle_timeout)?;
        let control = s.try_clone()?;
        Ok((s, control))
    });
    let (stream, control) = match prepared {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(cable_serial = %shared.settings.cable.serial, cable_path = %shared.settings.cable.usb_path, xvc_port = shared.port, peer = %peer, "cannot set up session socket: {e}");
            return;
        }
    };
    let Some(cable) = lock(&shared.cable).take() else {
        // The cable failed and has not been reopened yet (or the server is stopping).
        refuse(shared, peer, RefuseReason::CableUnavailable);
        return;
    };
    let info = ClientInfo {
        peer,
        since: SystemTime::now(),
    };
    *lock(&shared.active) = Some((control, info));
    shared.stats.sessions.fetch_add(1, Ordering::Relaxed);
    tracing::info!(cable_serial = %shared.settings.cable.serial, cable_path = %shared.settings.cable.usb_path, xvc_port = shared.port, peer = %peer, message_id = message_id::CLIENT_CONNECTED, "client connected");
    shared.emit(ServerEvent::ClientConnected { peer });
    let shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("xvc-session-{}", peer.port()))
        .spawn({
            let shared = shared.clone();
            move || run_session_thread(shared, stream, peer, cable, permit)
        });
    if let Err(e) = spawned {
        // The closure (with the cable) is lost only if spawning failed before running it;
        // std returns the error without running it, so the cable is dropped: report it.
        tracing::error!(cable_serial = %shared.settings.cable.serial, cable_path = %shared.settings.cable.usb_path, xvc_port = shared.port, "cannot start session thread: {e}");
        *lock(&shared.active) = None;
        shared.session_ended.notify_waiters();
    }
}

fn run_session_thread(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    mut cable: Box<dyn Cable>,
    permit: OwnedSemaphorePermit,
) {
    let started = Instant::now();
    let mut session = Session::new(
        stream,
        shared.settings.max_vector_bytes,
        shared.stats.clone(),
        shared.stopping.clone(),
    );
    let mut end = session.run(&mut *cable);
    if shared.stopping.load(Ordering::SeqCst) && !matches!(end, SessionEnd::CableFailed(_)) {
        end = SessionEnd::Shutdown;
    }
    if end != SessionEnd::ClientClosed {
        // The client may still be sending: make sure it gets every reply before the close.
        session.close_gracefully(LINGER);
    }
    drop(session); // closes the socket: the client sees EOF
    if matches!(end, SessionEnd::CableFailed(_)) {
        // A failed handle is not handed to the next client; the owner reopens the cable and
        // installs the new handle with `install_cable`.
        drop(cable);
    } else {
        *lock(&shared.cable) = Some(cable);
    }
    *lock(&shared.active) = None;
    drop(permit);
    match &end {
        SessionEnd::ProtocolError(why) => tracing::warn!(
            cable_serial = %shared.settings.cable.serial, cable_path = %shared.settings.cable.usb_path, xvc_port = shared.port, peer = %peer,
            message_id = message_id::CLIENT_DISCONNECTED, "closed client connection: {why}"
        ),
        SessionEnd::CableFailed(error) => {
            tracing::error!(cable_serial = %shared.settings.cable.serial, cable_path = %shared.settings.cable.usb_path, xvc_port = shared.port, peer = %peer, message_id = message_id::USB_ERROR, "session ended by cable error: {error}");
            shared.emit(ServerEvent::CableFailed {
                error: error.clone(),
            });
        }
        other => tracing::info!(
            cable_serial = %shared.settings.cable.serial, cable_path = %shared.settings.cable.usb_path, xvc_port = shared.port, peer = %peer,
            message_id = message_id::CLIENT_DISCONNECTED, "client disconnected ({other:?}) after {:.1?}", started.elapsed()
        ),
    }
    shared.emit(ServerEvent::ClientDisconnected { peer, end });
    shared.session_ended.notify_waiters();
}

/// Asks the kernel to acknowledge received data at once instead of delaying the ACK.
///
/// Clients such as openFPGALoader send a `shift:` header and its vectors in two writes without
/// TCP_NODELAY; with Nagle on their side waiting for our ACK and delayed ACK on ours, every
/// shift would stall for tens of milliseconds. Linux clears the flag after a while, so it is
/// re-armed after every read.
fn quick_ack(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own, with a pointer to a live c_int and its size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// How long a session closed by the server waits for its last replies to reach the client.
const LINGER: Duration = Duration::from_secs(1);

/// Bytes written to the socket that the peer has not acknowledged yet (SIOCOUTQ).
fn unacked_bytes(stream: &TcpStream) -> Option<usize> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one c_int through the pointer we pass.
    let r = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    (r == 0).then_some(n.max(0) as usize)
}

/// One client's JTAG session over a blocking socket.
pub struct Session {
    stream: TcpStream,
    max_vector_bytes: usize,
    inbuf: BytesMut,
    scratch: Vec<u8>,
    tdo: Vec<u8>,
    stats: Arc<CableStats>,
    /// Set when the server stops: no further command is started.
    stopping: Arc<AtomicBool>,
}

const READ_CHUNK: usize = 64 * 1024;

impl Session {
    pub fn new(
        stream: TcpStream,
        max_vector_bytes: usize,
        stats: Arc<CableStats>,
        stopping: Arc<AtomicBool>,
    ) -> Self {
        Session {
            stream,
            max_vector_bytes,
            inbuf: BytesMut::with_capacity(READ_CHUNK),
            scratch: vec![0; READ_CHUNK],
            tdo: Vec::new(),
            stats,
            stopping,
        }
    }

    /// Serves commands until the client leaves, misbehaves, or the cable fails.
    pub fn run(&mut self, cable: &mut dyn Cable) -> SessionEnd {
        loop {
            // The in-flight command has finished; pipelined ones are not started any more.
            if self.stopping.load(Ordering::SeqCst) {
                return SessionEnd::Shutdown;
            }
            match codec::decode(&mut self.inbuf, self.max_vector_bytes) {
                Ok(Decoded::Command(cmd)) => {
                    if let Err(end) = self.execute(cmd, cable) {
                        return end;
                    }
                }
                Ok(Decoded::Incomplete { needed }) => {
                    self.inbuf.reserve(needed.saturating_sub(self.inbuf.len()));
                    match self.stream.read(&mut self.scratch) {
                        Ok(0) => {
                            return if self.inbuf.is_empty() {
                                SessionEnd::ClientClosed
                            } else {
                                SessionEnd::ProtocolError(format!(
                                    "connection closed in the middle of a command ({} bytes pending)",
                                    self.inbuf.len()
                                ))
                            };
                        }
                        Ok(n) => {
                            self.inbuf.extend_from_slice(&self.scratch[..n]);
                            quick_ack(&self.stream);
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                        {
                            return SessionEnd::IdleTimeout
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return SessionEnd::NetworkError(e.to_string()),
                    }
                }
                Err(e) => return SessionEnd::ProtocolError(e.to_string()),
            }
        }
    }

    fn execute(&mut self, cmd: Command, cable: &mut dyn Cable) -> Result<(), SessionEnd> {
        match cmd {
            Command::GetInfo => self.reply(&codec::getinfo_reply(self.max_vector_bytes)),
            Command::SetTck { period_ns } => {
                let applied = cable
                    .set_tck_period(period_ns)
                    .map_err(SessionEnd::CableFailed)?;
                tracing::debug!("settck {period_ns} ns -> {applied} ns");
                self.reply(&codec::settck_reply(applied))
            }
            Command::Shift { nbits, vectors } => {
                let n = bytes_for_bits(nbits);
                let (tms, tdi) = Command::shift_vectors(&vectors);
                self.tdo.clear();
                self.tdo.resize(n, 0);
                let started = Instant::now();
                cable
                    .shift(nbits, tms, tdi, &mut self.tdo)
                    .map_err(SessionEnd::CableFailed)?;
                self.stats.shift_latency.observe(started.elapsed());
                self.stats.shifts.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .bits
                    .fetch_add(u64::from(nbits), Ordering::Relaxed);
                let tdo = std::mem::take(&mut self.tdo);
                let r = self.reply(&tdo);
                self.tdo = tdo;
                r
            }
        }
    }

    /// Ends the connection without losing replies: closing a socket that still has unread
    /// input makes the kernel reset the connection and drop unsent output, so send FIN, then
    /// discard input until the client has everything (or closes, or `linger` runs out).
    ///
    /// The connection is then reset on purpose: the client has its replies and the end of
    /// stream already, and one still writing commands fails at once, instead of waiting for
    /// the closed socket's FIN timeout on a window nobody reads any more.
    pub fn close_gracefully(&mut self, linger: Duration) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + linger;
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(20)));
        while Instant::now() < deadline && unacked_bytes(&self.stream).unwrap_or(0) > 0 {
            match self.stream.read(&mut self.scratch) {
                // The read side is shut (by the client, or by a stopping server, after which
                // reads return at once): only the acknowledgements are awaited now.
                Ok(0) => std::thread::sleep(Duration::from_millis(1)),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => break,
            }
        }
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
    }

    fn reply(&mut self, bytes: &[u8]) -> Result<(), SessionEnd> {
        self.stream
            .write_all(bytes)
            .map_err(|e| SessionEnd::NetworkError(e.to_string()))
    }
}
