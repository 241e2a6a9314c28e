//! The one poller of the Rust tests, and the two questions tests ask of a port by connecting
//! to it (as users' tools do): does it accept yet, is it closed.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Polls `f` every millisecond until it returns `Some`, or panics after `timeout` naming
/// `what`.
pub fn poll<R>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until a TCP connection to `addr` is accepted.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) {
    poll(&format!("{addr} to accept"), timeout, || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            .ok()
            .map(|_| ())
    });
}

/// True when nothing listens on `port` on 127.0.0.1.
///
/// A port in the ephemeral range can be picked as the source port of the probe itself; the
/// kernel then connects the socket to itself (TCP simultaneous open), which says nothing about
/// a listener and counts as refused.
pub fn refused(port: u16) -> bool {
    match TcpStream::connect_timeout(&super::loopback(port), Duration::from_secs(2)) {
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        Ok(s) => s.local_addr().ok() == s.peer_addr().ok(),
    }
}
