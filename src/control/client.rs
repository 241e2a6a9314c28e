//! The client side of the control socket: `xvc-agent status` as a table or JSON, and the
//! requests that change something (`disconnect`, `reserve`, `release`).

use crate::agent::status::{AgentStatus, CableStatus};
use crate::control::protocol::{Disconnected, Reply, Request, ReservationDone};
use crate::table::{self, Row};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a request to the agent failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("xvc-agent is not running (nothing answers on {path}: {source})")]
    NotRunning {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("permission denied on {path}: run as root or as a member of the xvc-agent group")]
    PermissionDenied { path: PathBuf },
    #[error("xvc-agent on {path} refused this user: only root, the agent's user and members of its group may use the control socket")]
    NotAllowed { path: PathBuf },
    #[error("talking to xvc-agent on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("xvc-agent answered: {0}")]
    Refused(String),
    #[error("unexpected reply from xvc-agent: {0}")]
    BadReply(String),
}

/// Sends one request and returns the reply.
pub fn request(path: &Path, req: &Request) -> Result<Reply, ClientError> {
    let io = |source| ClientError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::PermissionDenied => ClientError::PermissionDenied {
            path: path.to_path_buf(),
        },
        _ => ClientError::NotRunning {
            path: path.to_path_buf(),
            source,
        },
    })?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    let mut line = serde_json::to_vec(req).map_err(|e| ClientError::BadReply(e.to_string()))?;
    line.push(b'\n');
    let not_allowed = || ClientError::NotAllowed {
        path: path.to_path_buf(),
    };
    if let Err(e) = stream.write_all(&line) {
        return Err(match e.kind() {
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => not_allowed(),
            _ => io(e),
        });
    }
    let mut answer = String::new();
    let answered = BufReader::new(&stream).read_line(&mut answer);
    // The agent closes the connection without a word for peers it does not serve.
    if matches!(answered, Ok(0))
        || matches!(&answered, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
    {
        return Err(not_allowed());
    }
    answered.map_err(io)?;
    let reply: Reply =
        serde_json::from_str(&answer).map_err(|e| ClientError::BadReply(e.to_string()))?;
    if !reply.ok {
        return Err(ClientError::Refused(reply.error.unwrap_or_default()));
    }
    Ok(reply)
}

/// Asks the agent for its status; returns the raw JSON (for `--json`) and the parsed form.
pub fn status(path: &Path) -> Result<(serde_json::Value, AgentStatus), ClientError> {
    let reply = request(path, &Request::Status)?;
    let value = reply
        .status
        .ok_or_else(|| ClientError::BadReply("no status in reply".into()))?;
    let view =
        serde_json::from_value(value.clone()).map_err(|e| ClientError::BadReply(e.to_string()))?;
    Ok((value, view))
}

/// Asks the agent to end the session on `cable` (name, serial, USB path or port).
pub fn disconnect(path: &Path, cable: &str) -> Result<Disconnected, ClientError> {
    let reply = request(
        path,
        &Request::Disconnect {
            cable: cable.to_string(),
        },
    )?;
    reply
        .disconnected
        .ok_or_else(|| ClientError::BadReply("no disconnect result in reply".into()))
}

/// Sends a reserve or release request and returns what the agent did.
pub fn reservation(path: &Path, req: &Request) -> Result<ReservationDone, ClientError> {
    request(path, req)?
        .reservation
        .ok_or_else(|| ClientError::BadReply("no reservation result in reply".into()))
}

fn human_bits(bits: u64) -> String {
    match bits {
        b if b >= 1_000_000_000 => format!("{:.1}G", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1}M", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1}k", b as f64 / 1e3),
        b => b.to_string(),
    }
}

fn human_age(since: u64, now: SystemTime) -> String {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(since);
    human_seconds(now.saturating_sub(since))
}

fn human_seconds(s: u64) -> String {
    match s {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// Renders the status table: one row per cable, the reason for unusual states underneath.
pub(crate) fn render_table(view: &AgentStatus, now: SystemTime) -> String {
    let header = [
        "NAME", "SERIAL", "USB PATH", "PROFILE", "PORT", "STATE", "CLIENT", "SHIFTS", "BITS",
        "CHAIN",
    ];
    let rows: Vec<Row> = view.cables.iter().map(|c| cable_row(c, now)).collect();
    let mut out = table::render(&header, &rows);
    if view.cables.is_empty() {
        out.push_str("(no cables attached)\n");
    }
    for (identity, r) in &view.unplugged_reservations {
        out.push_str(&format!(
            "{identity} (not plugged in): {}\n",
            r.describe(now)
        ));
    }
    out.push_str(&format!(
        "xvc-agent {}, config: {}\n",
        view.version, view.config
    ));
    out
}

/// One cable's row, with its notes: why it is in an unusual state, what its simulated part
/// received, its reservation.
fn cable_row(c: &CableStatus, now: SystemTime) -> Row {
    let mut row = Row::new(vec![
        c.name.clone(),
        c.serial.clone().unwrap_or_else(|| "-".into()),
        c.usb_path.clone(),
        profile_cell(c),
        c.port.map_or("-".into(), |p| p.to_string()),
        c.state.to_string(),
        client_cell(c, now),
        c.shifts.to_string(),
        human_bits(c.bits),
        chain_cell(c),
    ]);
    if let Some(reason) = &c.reason {
        row.note(format!("{}: {reason}", c.state));
    }
    for f in &c.simulated_fpga {
        row.note(format!(
            "simulated {}: {}, {} CFG_IN bits, sha256 {}{}",
            f.part,
            if f.done { "DONE" } else { "not configured" },
            f.cfg_in_bits,
            f.sha256,
            f.error
                .as_deref()
                .map_or(String::new(), |e| format!(" ({e})"))
        ));
    }
    if let Some(r) = &c.reservation {
        row.note(r.describe(now));
        if r.session_continues {
            row.note("the current session began before the reservation and goes on until it ends");
        }
    }
    row
}

/// The profile, with the channel only where it is not the usual A (Nexys Video, Genesys 2).
fn profile_cell(c: &CableStatus) -> String {
    match (&c.profile, c.channel.as_deref()) {
        (Some(p), Some(ch)) if ch != "A" => format!("{p} ({ch})"),
        (Some(p), _) => p.clone(),
        (None, _) => "-".into(),
    }
}

/// The client's address, for how long it has been connected and idle.
fn client_cell(c: &CableStatus, now: SystemTime) -> String {
    let mut client = match (&c.client, c.client_since) {
        (Some(peer), Some(since)) => format!("{peer} for {}", human_age(since, now)),
        (Some(peer), None) => peer.clone(),
        _ => "-".into(),
    };
    if let (Some(_), Some(idle)) = (&c.client, c.client_idle_seconds) {
        client.push_str(&format!(", idle {}", human_seconds(idle)));
    }
    client
}

/// The devices on the JTAG chain, with their IDCODEs.
fn chain_cell(c: &CableStatus) -> String {
    if c.chain.is_empty() {
        return "-".to_string();
    }
    c.chain
        .iter()
        .map(|d| match &d.idcode {
            Some(id) => format!("{} ({id})", d.name),
            None => d.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
