//! One client's JTAG session: decodes commands from its [`Connection`] and executes them on
//! the cable, until the client leaves, misbehaves, goes silent or unreachable, the cable
//! fails, the server stops, or an administrator ends it.
//!
//! Runs on its own thread: every shift is blocking USB I/O anyway, and a dedicated thread
//! keeps a shift's round trip to two syscalls and the cable.

use super::codec::{self, Command, Decoded};
use super::connection::{Connection, Received, WriteError};
use super::shutdown::Shutdown;
use super::slot::Holder;
use super::stats::CableStats;
use crate::jtag::{bytes_for_bits, Cable, CableError};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The client closed the connection.
    ClientClosed,
    /// The server was shut down (detach, reload, stop).
    Shutdown,
    /// An administrator ended the session (`xvc-agent disconnect`); who asked.
    Disconnected(String),
    /// The client sent something that is not XVC or is over the limits.
    ProtocolError(String),
    /// No command within the idle timeout.
    IdleTimeout,
    /// The client's host stopped answering (keepalive or unacknowledged replies).
    PeerUnreachable(String),
    /// Socket error talking to the client.
    NetworkError(String),
    /// The cable failed; the server stays up, the supervisor decides what to do.
    CableFailed(CableError),
}

impl std::fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionEnd::ClientClosed => f.write_str("client closed the connection"),
            SessionEnd::Shutdown => f.write_str("server stopping"),
            SessionEnd::Disconnected(by) => write!(f, "disconnected by {by}"),
            SessionEnd::ProtocolError(why) => write!(f, "protocol error: {why}"),
            SessionEnd::IdleTimeout => f.write_str("idle timeout"),
            SessionEnd::PeerUnreachable(why) => write!(f, "peer unreachable: {why}"),
            SessionEnd::NetworkError(why) => write!(f, "network error: {why}"),
            SessionEnd::CableFailed(e) => write!(f, "cable error: {e}"),
        }
    }
}

impl From<WriteError> for SessionEnd {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Unreachable(e) => SessionEnd::PeerUnreachable(e.to_string()),
            WriteError::Failed(e) => SessionEnd::NetworkError(e.to_string()),
        }
    }
}

/// A session: the connection, the limits, and where it reports what it did.
pub struct Session<'a> {
    connection: &'a mut Connection,
    max_vector_bytes: usize,
    stats: &'a CableStats,
    holder: &'a Holder,
    shutdown: &'a Shutdown,
    tdo: Vec<u8>,
}

impl<'a> Session<'a> {
    pub fn new(
        connection: &'a mut Connection,
        max_vector_bytes: usize,
        stats: &'a CableStats,
        holder: &'a Holder,
        shutdown: &'a Shutdown,
    ) -> Self {
        Session {
            connection,
            max_vector_bytes,
            stats,
            holder,
            shutdown,
            tdo: Vec::new(),
        }
    }

    /// Serves commands until the session ends, and says why it ended.
    pub fn run(&mut self, cable: &mut dyn Cable) -> SessionEnd {
        let end = self.serve(cable);
        // A read that ended because the server shut our reading side is the server's doing.
        if let Some(by) = self.holder.disconnected_by() {
            if !matches!(end, SessionEnd::CableFailed(_)) {
                return SessionEnd::Disconnected(by);
            }
        }
        if self.shutdown.is_triggered() && !matches!(end, SessionEnd::CableFailed(_)) {
            return SessionEnd::Shutdown;
        }
        end
    }

    fn serve(&mut self, cable: &mut dyn Cable) -> SessionEnd {
        loop {
            // The in-flight command has finished; pipelined ones are not started any more.
            if self.shutdown.is_triggered() || self.holder.is_disconnected() {
                return SessionEnd::Shutdown;
            }
            match codec::decode(self.connection.input(), self.max_vector_bytes) {
                Ok(Decoded::Command(cmd)) => {
                    self.holder.touch();
                    if let Err(end) = self.execute(cmd, cable) {
                        return end;
                    }
                }
                Ok(Decoded::Incomplete { needed }) => match self.connection.receive(needed) {
                    Received::Bytes => {}
                    Received::Eof if self.connection.input().is_empty() => {
                        return SessionEnd::ClientClosed
                    }
                    Received::Eof => {
                        return SessionEnd::ProtocolError(format!(
                            "connection closed in the middle of a command ({} bytes pending)",
                            self.connection.input().len()
                        ))
                    }
                    Received::Idle => return SessionEnd::IdleTimeout,
                    Received::Unreachable(e) => return SessionEnd::PeerUnreachable(e.to_string()),
                    Received::Failed(e) => return SessionEnd::NetworkError(e.to_string()),
                },
                Err(e) => return SessionEnd::ProtocolError(e.to_string()),
            }
        }
    }

    fn execute(&mut self, cmd: Command, cable: &mut dyn Cable) -> Result<(), SessionEnd> {
        match cmd {
            Command::GetInfo => {
                let reply = codec::getinfo_reply(self.max_vector_bytes);
                Ok(self.connection.send(&reply)?)
            }
            Command::SetTck { period_ns } => {
                let applied = cable
                    .set_tck_period(period_ns)
                    .map_err(SessionEnd::CableFailed)?;
                tracing::debug!("settck {period_ns} ns -> {applied} ns");
                Ok(self.connection.send(&codec::settck_reply(applied))?)
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
                Ok(self.connection.send(&self.tdo)?)
            }
        }
    }
}
