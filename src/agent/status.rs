//! A snapshot of the agent for operators: what `xvc-agent status` prints, what the control
//! socket returns and what metrics are computed from. Plain serialisable data.

use crate::agent::state::CableState;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A latency histogram: cumulative counts per upper bound (seconds; the last bound is
/// infinite), and the sum of all observations in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Histogram {
    pub bounds: Vec<f64>,
    pub cumulative: Vec<u64>,
    pub sum_seconds: f64,
}

/// One device found on a cable's JTAG chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainDevice {
    /// IDCODE as `0x0362d093`; absent for a bypass-only device.
    pub idcode: Option<String>,
    pub name: String,
    pub family: Option<String>,
}

/// One attached cable.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CableStatus {
    /// Rule name, else the identity.
    pub name: String,
    pub serial: Option<String>,
    pub usb_path: String,
    pub profile: Option<String>,
    pub port: Option<u16>,
    /// The address its port listens on (while it has one).
    pub listen: Option<IpAddr>,
    pub state: CableState,
    /// Why queued / degraded / offline / error / ignored.
    pub reason: Option<String>,
    /// The client holding the session (`ip:port`).
    pub client: Option<String>,
    /// When that client connected (seconds since the Unix epoch).
    pub client_since: Option<u64>,
    /// Seconds since that client's last command: a Vivado that is thinking shows small
    /// numbers now and then, a vanished host only a growing one.
    pub client_idle_seconds: Option<u64>,
    pub sessions: u64,
    pub shifts: u64,
    pub bits: u64,
    /// Refused connections by reason (`not_allowed`, `busy`, `queue_timeout`,
    /// `cable_unavailable`).
    pub refused: BTreeMap<String, u64>,
    /// Cable errors (USB failures, timeouts) since the cable was attached.
    pub usb_errors: u64,
    /// Successful reopens after an error.
    pub reconnects: u64,
    /// Shift latency histogram.
    pub shift_latency: Histogram,
    /// Devices on the JTAG chain, nearest TDO first (read when the cable was opened).
    pub chain: Vec<ChainDevice>,
}

/// The whole agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentStatus {
    pub version: String,
    /// The config file in effect, or `built-in defaults`.
    pub config: String,
    pub reloads: u64,
    pub cables: Vec<CableStatus>,
}

impl AgentStatus {
    /// The one-line summary used for `STATUS=` and logs.
    pub fn summary(&self) -> String {
        let count = |s: CableState| self.cables.iter().filter(|c| c.state == s).count();
        let serving = count(CableState::Serving) + count(CableState::Busy);
        let mut parts = vec![format!("{serving} serving")];
        for s in [
            CableState::Busy,
            CableState::Starting,
            CableState::Queued,
            CableState::Degraded,
            CableState::Offline,
            CableState::Error,
        ] {
            let n = count(s);
            if n > 0 {
                parts.push(format!("{n} {s}"));
            }
        }
        let mut ports: Vec<u16> = self
            .cables
            .iter()
            .filter(|c| matches!(c.state, CableState::Serving | CableState::Busy))
            .filter_map(|c| c.port)
            .collect();
        ports.sort_unstable();
        let mut line = parts.join(", ");
        if !ports.is_empty() {
            let list: Vec<String> = ports.iter().map(u16::to_string).collect();
            line.push_str(&format!("; ports {}", list.join(",")));
        }
        line
    }
}
