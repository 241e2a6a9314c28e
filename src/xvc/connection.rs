//! One client's TCP connection, apart from what its commands mean: socket options (no Nagle,
//! quick ACKs, keepalive), buffered reads for the streaming codec, replies, a check whether
//! the peer is still there, and a close that loses no reply.
//!
//! [`Session`](super::session::Session) executes commands over a `Connection`; the server
//! uses [`peer_state`] to tell a live client from one that has already left.

use bytes::BytesMut;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// TCP keepalive and user timeout on a session socket: how a client whose host vanished
/// (powered off, asleep, link down — no FIN, no RST) is noticed.
///
/// Keepalive probes find a silent dead peer while the session waits for a command; the user
/// timeout ends a connection whose replies stay unacknowledged while the session writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Silence before the first probe.
    pub idle: Duration,
    /// Time between probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is given up.
    pub probes: u32,
    /// Longest time written data may stay unacknowledged.
    pub user_timeout: Duration,
}

impl Keepalive {
    /// The shortest bound accepted: below it, probes every second would still not fit.
    pub(crate) const MIN_BOUND: Duration = Duration::from_secs(9);

    /// Settings under which a vanished client is detected within `bound`: a third of it
    /// silent, then four probes a ninth apart (idle + 4 × interval = 7/9), and written data
    /// unacknowledged for at most two thirds. 45 s gives 15 s, 5 s, 4 probes, 30 s.
    pub fn within(bound: Duration) -> Keepalive {
        let secs = bound.max(Self::MIN_BOUND).as_secs();
        Keepalive {
            idle: Duration::from_secs(secs / 3),
            interval: Duration::from_secs((secs / 9).max(1)),
            probes: 4,
            user_timeout: Duration::from_secs(secs * 2 / 3),
        }
    }

    /// The longest a vanished client can keep its connection under these settings.
    pub fn bound(&self) -> Duration {
        (self.idle + self.interval * self.probes).max(self.user_timeout + self.interval)
    }
}

impl Default for Keepalive {
    /// A vanished client is detected within 45 s.
    fn default() -> Self {
        Keepalive::within(Duration::from_secs(45))
    }
}

/// Sets the options every session socket gets: TCP_NODELAY (replies go out at once), and
/// keepalive with TCP_USER_TIMEOUT unless turned off.
pub(crate) fn configure_socket(
    stream: &TcpStream,
    keepalive: Option<Keepalive>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let sock = socket2::SockRef::from(stream);
    match keepalive {
        Some(k) => {
            sock.set_tcp_keepalive(
                &socket2::TcpKeepalive::new()
                    .with_time(k.idle)
                    .with_interval(k.interval)
                    .with_retries(k.probes),
            )?;
            sock.set_tcp_user_timeout(Some(k.user_timeout))?;
        }
        None => sock.set_keepalive(false)?,
    }
    Ok(())
}

/// What can be told about a connection's peer without reading from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerState {
    /// Nothing says the peer has gone.
    Open,
    /// The peer has sent its FIN, with commands still unread: it wants its replies.
    Finished,
    /// The peer has closed (FIN with nothing unread, reset, or a socket error).
    Gone,
}

/// Polls `fd` without blocking: has the peer closed or reset its side?
pub(crate) fn peer_state(fd: &impl AsRawFd) -> PeerState {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: poll on one valid pollfd that lives across the call, timeout 0 (no blocking).
    let r = unsafe { libc::poll(&mut pfd, 1, 0) };
    if r <= 0 {
        return PeerState::Open;
    }
    if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        return PeerState::Gone;
    }
    if pfd.revents & libc::POLLRDHUP != 0 {
        return if unread_bytes(fd) > 0 {
            PeerState::Finished
        } else {
            PeerState::Gone
        };
    }
    PeerState::Open
}

/// Received bytes not read yet (FIONREAD).
fn unread_bytes(fd: &impl AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer we pass.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if r == 0 {
        n.max(0) as usize
    } else {
        0
    }
}

/// Sent bytes the peer has not acknowledged yet, a sent FIN counting as one (SIOCOUTQ).
fn unacked_bytes(fd: &impl AsRawFd) -> Option<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one c_int through the pointer we pass.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    (r == 0).then_some(n.max(0) as usize)
}

/// Asks the kernel to acknowledge received data at once instead of delaying the ACK.
///
/// Clients such as openFPGALoader send a `shift:` header and its vectors in two writes without
/// TCP_NODELAY; with Nagle on their side waiting for our ACK and delayed ACK on ours, every
/// shift would stall for tens of milliseconds. Linux clears the flag after a while, so it is
/// re-armed after every read.
fn quick_ack(stream: &TcpStream) {
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

/// The result of waiting for more input.
#[derive(Debug)]
pub(crate) enum Received {
    /// More bytes were added to the input buffer.
    Bytes,
    /// The peer closed its side.
    Eof,
    /// Nothing arrived within the read timeout (the idle timeout).
    Idle,
    /// The peer is unreachable: keepalive probes or written data went unanswered.
    Unreachable(std::io::Error),
    /// Any other socket error.
    Failed(std::io::Error),
}

/// True for the errors that mean the peer's host or network went away.
fn is_unreachable(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ETIMEDOUT | libc::EHOSTUNREACH | libc::ENETUNREACH)
    )
}

/// Why a reply could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("peer unreachable: {0}")]
    Unreachable(std::io::Error),
    #[error("{0}")]
    Failed(std::io::Error),
}

const READ_CHUNK: usize = 64 * 1024;

/// A client connection over a blocking socket, with the input not consumed yet.
pub struct Connection {
    stream: TcpStream,
    input: BytesMut,
    scratch: Vec<u8>,
}

impl Connection {
    /// Wraps a blocking socket; `idle_timeout` bounds each wait for input.
    pub fn new(stream: TcpStream, idle_timeout: Option<Duration>) -> std::io::Result<Self> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(idle_timeout)?;
        Ok(Connection {
            stream,
            input: BytesMut::with_capacity(READ_CHUNK),
            scratch: vec![0; READ_CHUNK],
        })
    }

    /// Input received and not consumed yet, for the codec.
    pub fn input(&mut self) -> &mut BytesMut {
        &mut self.input
    }

    /// Waits for more input, reserving room for `needed` bytes in all.
    pub(crate) fn receive(&mut self, needed: usize) -> Received {
        self.input.reserve(needed.saturating_sub(self.input.len()));
        loop {
            match self.stream.read(&mut self.scratch) {
                Ok(0) => return Received::Eof,
                Ok(n) => {
                    self.input.extend_from_slice(&self.scratch[..n]);
                    quick_ack(&self.stream);
                    return Received::Bytes;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Received::Idle,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if is_unreachable(&e) => return Received::Unreachable(e),
                Err(e) => return Received::Failed(e),
            }
        }
    }

    /// Writes a whole reply.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.stream.write_all(bytes).map_err(|e| {
            if is_unreachable(&e) {
                WriteError::Unreachable(e)
            } else {
                WriteError::Failed(e)
            }
        })
    }

    /// Ends the connection without losing replies: closing a socket that still has unread
    /// input makes the kernel reset the connection and drop unsent output, so send FIN, then
    /// discard input until the client has acknowledged everything (or closes, or `linger`
    /// runs out).
    ///
    /// The connection is then reset on purpose: the client has its replies and the end of
    /// stream already, and one still writing commands fails at once, instead of waiting for
    /// the closed socket's FIN timeout on a window nobody reads any more.
    pub(crate) fn close_gracefully(&mut self, linger: Duration) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn default_keepalive_frees_a_cable_within_45_seconds() {
        let k = Keepalive::default();
        assert_eq!(k.idle, Duration::from_secs(15));
        assert_eq!(k.interval, Duration::from_secs(5));
        assert_eq!(k.probes, 4);
        assert_eq!(k.user_timeout, Duration::from_secs(30));
        assert!(k.bound() <= Duration::from_secs(45), "{:?}", k.bound());
        for secs in [1, 9, 10, 30, 100, 3600] {
            let bound = Duration::from_secs(secs).max(Keepalive::MIN_BOUND);
            let k = Keepalive::within(bound);
            assert!(k.bound() <= bound, "{secs}s gives {:?}", k.bound());
            assert!(k.idle >= Duration::from_secs(1));
        }
    }

    #[test]
    fn peer_state_tells_open_finished_and_gone() {
        let (client, server) = pair();
        assert_eq!(peer_state(&server), PeerState::Open);
        let (client2, server2) = pair();
        let mut c = client2;
        c.write_all(b"getinfo:").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        wait_until(|| peer_state(&server2) != PeerState::Open);
        assert_eq!(peer_state(&server2), PeerState::Finished);
        drop(client);
        wait_until(|| peer_state(&server) != PeerState::Open);
        assert_eq!(peer_state(&server), PeerState::Gone);
    }

    #[test]
    fn keepalive_options_reach_the_socket() {
        let (_client, server) = pair();
        configure_socket(&server, Some(Keepalive::default())).unwrap();
        let sock = socket2::SockRef::from(&server);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.keepalive_time().unwrap(), Duration::from_secs(15));
        assert_eq!(sock.keepalive_interval().unwrap(), Duration::from_secs(5));
        assert_eq!(sock.keepalive_retries().unwrap(), 4);
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(30))
        );
        assert!(sock.nodelay().unwrap());
        configure_socket(&server, None).unwrap();
        assert!(!sock.keepalive().unwrap());
    }

    fn wait_until(mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < deadline, "condition not reached in 5 s");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
