//! A snapshot of the agent for operators: what `xvc-agent status` prints, what the control
//! socket returns and what metrics are computed from. Plain data, written as JSON by the agent
//! and read back by `xvc-agent status` as the same type (fields added since the first release
//! read with a default, so a newer client reads an older agent); and the view that builds a
//! cable's entry from what the supervisor knows and what its server counted.

use crate::agent::reservations::Reservation;
use crate::agent::state::CableState;
use crate::ftdi::identify::Identification;
use crate::ftdi::profiles::Profile;
use crate::hotplug::CableInfo;
use crate::jtag::identify::ChainEntry;
use crate::xvc::server::{CableServer, CableStats, RefuseReason, SHIFT_LATENCY_BUCKETS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

/// A latency histogram: cumulative counts per upper bound (seconds; the last bound is
/// infinite), and the sum of all observations in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Histogram {
    pub bounds: Vec<f64>,
    pub cumulative: Vec<u64>,
    pub sum_seconds: f64,
}

/// One device found on a cable's JTAG chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainDevice {
    /// IDCODE as `0x0362d093`; absent for a bypass-only device.
    pub idcode: Option<String>,
    pub name: String,
    pub family: Option<String>,
}

/// What a simulated 7-series FPGA received through CFG_IN since its last JPROGRAM: what a
/// person compares with the file they loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatedFpga {
    /// The part, e.g. `xc7a35t`.
    pub part: String,
    /// CFG_IN bits received.
    pub cfg_in_bits: u64,
    /// SHA-256 (hex) of those bits packed most significant bit first per byte, in arrival
    /// order: `sha256sum` of the raw bitstream a client sent MSB first.
    pub sha256: String,
    /// The DONE signal.
    pub done: bool,
    /// The configuration error the part flagged (bad CRC, wrong IDCODE, bad packet).
    #[serde(default)]
    pub error: Option<String>,
}

impl From<crate::sim::series7::ConfigRecord> for SimulatedFpga {
    fn from(r: crate::sim::series7::ConfigRecord) -> Self {
        SimulatedFpga {
            part: r.part.to_string(),
            cfg_in_bits: r.cfg_in_bits,
            sha256: r.sha256_hex(),
            done: r.done,
            error: r.error,
        }
    }
}

/// One attached cable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CableStatus {
    /// Rule name, else the identity.
    pub name: String,
    pub serial: Option<String>,
    pub usb_path: String,
    /// How rules, leases and reservations name it: its serial, its serial and the channel
    /// letter (a channel of a multi-channel board), or its USB path.
    #[serde(default)]
    pub identity: String,
    /// What its EEPROM calls it (Digilent product name, or Xilinx vendor and board).
    #[serde(default)]
    pub device: Option<String>,
    pub profile: Option<String>,
    /// The FTDI channel its profile drives (`A`, `B`).
    #[serde(default)]
    pub channel: Option<String>,
    /// What identification found and how it decided (absent while identifying).
    #[serde(default)]
    pub identified_by: Option<String>,
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
    #[serde(default)]
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
    /// For a simulated cable, the configuration record of each 7-series device on its
    /// chain; empty (and left out of the JSON) for real cables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub simulated_fpga: Vec<SimulatedFpga>,
    /// Who holds the cable until when (`xvc-agent reserve`).
    #[serde(default)]
    pub reservation: Option<ReservationStatus>,
}

/// A cable's reservation, as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationStatus {
    /// The user holding it.
    pub owner: String,
    /// When it was made and when it ends (seconds since the Unix epoch).
    pub since: u64,
    pub until: u64,
    /// Client addresses the port serves while it lasts.
    #[serde(default)]
    pub from: Vec<String>,
    pub note: Option<String>,
    /// The client holding the session is not among those addresses: its session began
    /// before the reservation and goes on until it ends.
    #[serde(default)]
    pub session_continues: bool,
}

impl ReservationStatus {
    /// `reserved by alice until 17:00 for 10.0.0.5/32: note`, the clock as the host shows it.
    pub(crate) fn describe(&self, now: std::time::SystemTime) -> String {
        let until = crate::xvc::reservation::clock_text(
            UNIX_EPOCH + std::time::Duration::from_secs(self.until),
            now,
        );
        let mut out = format!("reserved by {} until {until}", self.owner);
        if !self.from.is_empty() {
            out.push_str(&format!(" for {}", self.from.join(", ")));
        }
        if let Some(note) = &self.note {
            out.push_str(&format!(": {note}"));
        }
        out
    }
}

/// The whole agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AgentStatus {
    pub version: String,
    /// The config file in effect, or `built-in defaults`.
    pub config: String,
    pub reloads: u64,
    pub cables: Vec<CableStatus>,
    /// Reservations of cables that are not plugged in now, by identity (serial, else USB
    /// path): they hold again when the cable comes back.
    #[serde(default)]
    pub unplugged_reservations: BTreeMap<String, ReservationStatus>,
}

impl AgentStatus {
    /// The one-line summary used for `STATUS=` and logs.
    pub(crate) fn summary(&self) -> String {
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

/// What the supervisor knows of a cable, for [`cable_status`].
pub(crate) struct CableFacts<'a> {
    pub name: &'a str,
    pub info: &'a CableInfo,
    pub identity: &'a str,
    pub profile: Option<&'static Profile>,
    /// `None` while the EEPROM is being read.
    pub identification: Option<&'a Identification>,
    pub port: Option<u16>,
    pub listen: Option<IpAddr>,
    pub state: CableState,
    pub reason: Option<&'a str>,
    pub usb_errors: u64,
    pub reconnects: u64,
    pub chain: &'a [ChainDevice],
    pub simulated_fpga: Vec<SimulatedFpga>,
    pub reservation: Option<&'a Reservation>,
}

/// A cable's status entry: the supervisor's facts plus its server's client and counters
/// (zero without a server).
pub(crate) fn cable_status(facts: CableFacts<'_>, server: Option<&CableServer>) -> CableStatus {
    let stats = server.map(|s| s.stats());
    let client = server.and_then(|s| s.client());
    let load = |f: fn(&CableStats) -> &AtomicU64| {
        stats.as_ref().map_or(0, |s| f(s).load(Ordering::Relaxed))
    };
    let (cumulative, sum_seconds) = stats
        .as_ref()
        .map(|s| s.shift_latency.snapshot())
        .unwrap_or_else(|| (vec![0; SHIFT_LATENCY_BUCKETS.len() + 1], 0.0));
    CableStatus {
        name: facts.name.to_string(),
        serial: facts.info.serial.clone(),
        usb_path: facts.info.usb_path.clone(),
        identity: facts.identity.to_string(),
        device: facts.identification.and_then(|i| i.eeprom_name.clone()),
        profile: facts.profile.map(|p| p.name.to_string()),
        channel: facts
            .profile
            .map(|p| crate::hotplug::channel_letter(p.interface).to_string()),
        identified_by: facts.identification.map(|i| i.evidence.clone()),
        port: facts.port,
        listen: facts.listen,
        state: facts.state,
        reason: facts.reason.map(String::from),
        client: client.as_ref().map(|c| c.peer.to_string()),
        client_since: client
            .as_ref()
            .and_then(|c| c.since.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())),
        client_idle_seconds: client.as_ref().map(|c| c.idle_for.as_secs()),
        sessions: load(|s| &s.sessions),
        shifts: load(|s| &s.shifts),
        bits: load(|s| &s.bits),
        refused: RefuseReason::ALL
            .iter()
            .map(|&r| {
                let n = stats
                    .as_ref()
                    .map_or(0, |s| s.refused[r as usize].load(Ordering::Relaxed));
                (r.as_str().to_string(), n)
            })
            .collect(),
        usb_errors: facts.usb_errors,
        reconnects: facts.reconnects,
        shift_latency: Histogram {
            bounds: SHIFT_LATENCY_BUCKETS.to_vec(),
            cumulative,
            sum_seconds,
        },
        chain: facts.chain.to_vec(),
        simulated_fpga: facts.simulated_fpga,
        reservation: facts.reservation.map(|r| {
            reservation_status(
                r,
                client
                    .as_ref()
                    .is_some_and(|c| !r.for_port().admits(c.peer.ip())),
            )
        }),
    }
}

/// A reservation as status shows it; `session_continues`: the cable's client is outside it.
pub(crate) fn reservation_status(r: &Reservation, session_continues: bool) -> ReservationStatus {
    ReservationStatus {
        owner: r.owner.clone(),
        since: r.since_ms / 1000,
        until: r.until_ms.div_ceil(1000),
        from: r.from.iter().map(ToString::to_string).collect(),
        note: r.note.clone(),
        session_continues,
    }
}

/// A chain entry as status shows it: the IDCODE and the part's name, when known.
pub(crate) fn chain_device(entry: ChainEntry) -> ChainDevice {
    match entry {
        ChainEntry::Idcode(id) => {
            let part = crate::jtag::parts::describe(id);
            ChainDevice {
                idcode: Some(format!("{id:#010x}")),
                name: part.name,
                family: part.family.map(String::from),
            }
        }
        ChainEntry::BypassOnly => ChainDevice {
            idcode: None,
            name: "bypass-only device".into(),
            family: None,
        },
    }
}

/// The chain in one line, for the log.
pub(crate) fn describe_chain(chain: &[ChainDevice]) -> String {
    if chain.is_empty() {
        return "no devices found".into();
    }
    chain
        .iter()
        .map(|d| match &d.idcode {
            Some(id) => format!("{} {id}", d.name),
            None => d.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON of one cable as an agent that predates the identification fields wrote it.
    const OLDER_CABLE: &str = r#"{"name":"a","serial":"S1","usb_path":"1-2","profile":"hs2",
        "port":2542,"listen":"::","state":"busy","reason":null,"client":"10.0.0.5:4000",
        "client_since":1700000000,"sessions":1,"shifts":2,"bits":3,"refused":{"busy":1},
        "usb_errors":0,"reconnects":0,
        "shift_latency":{"bounds":[0.1],"cumulative":[1,1],"sum_seconds":0.01},"chain":[]}"#;

    #[test]
    fn the_status_reads_back_as_itself_and_an_older_agents_status_still_reads() {
        let older: CableStatus = serde_json::from_str(OLDER_CABLE).unwrap();
        assert_eq!(older.state, CableState::Busy);
        assert_eq!((older.identity.as_str(), older.channel), ("", None));
        let status = AgentStatus {
            version: "1".into(),
            config: "c".into(),
            reloads: 2,
            cables: vec![CableStatus {
                identity: "S1".into(),
                channel: Some("B".into()),
                ..older
            }],
            unplugged_reservations: BTreeMap::new(),
        };
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(serde_json::from_str::<AgentStatus>(&json).unwrap(), status);
    }
}
