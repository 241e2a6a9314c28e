//! What a cable's DNS-SD announcement says, and how a browsed one reads back. Pure: no D-Bus,
//! no sockets, so naming, TXT records and the lab table are tested directly.

use crate::agent::state::CableState;
use crate::agent::status::{AgentStatus, CableStatus};
use crate::table::{self, Row};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Avahi's "any interface" and "any protocol".
pub(crate) const IF_UNSPEC: i32 = -1;
pub(crate) const PROTO_UNSPEC: i32 = -1;
pub(crate) const PROTO_INET: i32 = 0;
pub(crate) const PROTO_INET6: i32 = 1;

/// Longest DNS-SD instance name (one DNS label).
const MAX_INSTANCE_BYTES: usize = 63;
/// Longest single TXT string.
const MAX_TXT_BYTES: usize = 255;

/// Where an announcement is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// Interface index, or [`IF_UNSPEC`].
    pub interface: i32,
    /// [`PROTO_INET`], [`PROTO_INET6`] or [`PROTO_UNSPEC`].
    pub protocol: i32,
}

/// Where a cable listening on `listen` can be reached from other hosts, if anywhere.
/// `interface_of` finds the interface holding a specific address (the system's list).
pub fn reach(listen: IpAddr, interface_of: impl Fn(IpAddr) -> Option<u32>) -> Option<Scope> {
    let protocol = if listen.is_ipv4() {
        PROTO_INET
    } else {
        PROTO_INET6
    };
    if listen.is_loopback() {
        None
    } else if listen.is_unspecified() {
        // `::` is dual-stack: reachable over both; `0.0.0.0` over IPv4 only.
        Some(Scope {
            interface: IF_UNSPEC,
            protocol: if listen.is_ipv6() {
                PROTO_UNSPEC
            } else {
                PROTO_INET
            },
        })
    } else {
        let index = interface_of(listen)?;
        Some(Scope {
            interface: i32::try_from(index).ok()?,
            protocol,
        })
    }
}

/// One service the agent wants published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The cable's identity (serial, else USB path): stable across state changes.
    pub key: String,
    /// The instance name asked for (Avahi may hand out an alternative on a collision).
    pub name: String,
    pub port: u16,
    pub scope: Scope,
    /// TXT records in order, as `key=value`.
    pub txt: Vec<(String, String)>,
}

/// `"<cable name> on <host>"`, cut to one DNS label (63 bytes) on a character boundary.
pub(crate) fn instance_name(cable: &str, host: &str) -> String {
    let full = format!("{cable} on {host}");
    truncate(&full, MAX_INSTANCE_BYTES).to_string()
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The chain as the TXT record and the lab table show it: part names, nearest TDO first.
pub(crate) fn chain_text(cable: &CableStatus) -> String {
    cable
        .chain
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The TXT records of a served cable.
pub(crate) fn txt_records(cable: &CableStatus, version: &str) -> Vec<(String, String)> {
    let mut txt = vec![
        ("name".to_string(), cable.name.clone()),
        (
            "serial".to_string(),
            cable.serial.clone().unwrap_or_default(),
        ),
        ("usb_path".to_string(), cable.usb_path.clone()),
        (
            "profile".to_string(),
            cable.profile.clone().unwrap_or_default(),
        ),
        (
            "channel".to_string(),
            cable.channel.clone().unwrap_or_default(),
        ),
        (
            "device".to_string(),
            cable.device.clone().unwrap_or_default(),
        ),
        ("chain".to_string(), chain_text(cable)),
        ("state".to_string(), cable.state.to_string()),
        ("version".to_string(), version.to_string()),
    ];
    if let Some(r) = &cable.reservation {
        txt.push(("reserved_by".to_string(), r.owner.clone()));
        txt.push(("reserved_until".to_string(), r.until.to_string()));
        txt.push((
            "reserved_note".to_string(),
            r.note.clone().unwrap_or_default(),
        ));
    }
    txt.retain(|(_, v)| !v.is_empty());
    txt
}

/// TXT records on the wire: one `key=value` string each, at most 255 bytes.
pub(crate) fn encode_txt(txt: &[(String, String)]) -> Vec<Vec<u8>> {
    txt.iter()
        .map(|(k, v)| {
            truncate(&format!("{k}={v}"), MAX_TXT_BYTES)
                .as_bytes()
                .to_vec()
        })
        .collect()
}

/// TXT strings back into keys and values (a key without `=` has an empty value; the first
/// occurrence of a key wins, as RFC 6763 says).
pub(crate) fn decode_txt(strings: &[Vec<u8>]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for s in strings {
        let s = String::from_utf8_lossy(s);
        let (k, v) = s.split_once('=').unwrap_or((&s, ""));
        if !k.is_empty() {
            out.entry(k.to_ascii_lowercase())
                .or_insert_with(|| v.to_string());
        }
    }
    out
}

/// What the agent should publish for `status`: every serving or busy cable whose listener is
/// reachable from other hosts. `scope_of` gives a cable's reach (see [`reach`]).
pub(crate) fn announcements(
    status: &AgentStatus,
    host: &str,
    scope_of: impl Fn(&CableStatus) -> Option<Scope>,
) -> Vec<Announcement> {
    status
        .cables
        .iter()
        .filter(|c| matches!(c.state, CableState::Serving | CableState::Busy))
        .filter_map(|c| {
            let port = c.port?;
            let scope = scope_of(c)?;
            Some(Announcement {
                key: c.serial.clone().unwrap_or_else(|| c.usb_path.clone()),
                name: instance_name(&c.name, host),
                port,
                scope,
                txt: txt_records(c, &status.version),
            })
        })
        .collect()
}

/// A cable found on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabCable {
    /// The DNS-SD instance name.
    pub instance: String,
    /// The cable's name on its host (rule name, else serial).
    pub name: String,
    /// The host's mDNS name (`labpi.local`).
    pub host: String,
    /// The address the announcement resolved to.
    pub address: String,
    pub port: u16,
    pub serial: Option<String>,
    pub usb_path: Option<String>,
    pub profile: Option<String>,
    /// The FTDI channel the profile drives (`A`, `B`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// What the cable's EEPROM calls it ("Digilent Nexys Video").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Part names on the JTAG chain, nearest TDO first.
    pub chain: Vec<String>,
    pub state: Option<String>,
    pub version: Option<String>,
    /// Who reserved the cable (`xvc-agent reserve` on its host), until when (seconds since
    /// the Unix epoch) and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_until: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_note: Option<String>,
}

impl LabCable {
    /// A resolved announcement.
    pub(crate) fn from_resolved(
        instance: &str,
        host: &str,
        address: &str,
        port: u16,
        txt: &[Vec<u8>],
    ) -> LabCable {
        let mut txt = decode_txt(txt);
        let mut take = |k: &str| txt.remove(k).filter(|v| !v.is_empty());
        let chain = take("chain")
            .map(|c| c.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        LabCable {
            instance: instance.to_string(),
            name: take("name").unwrap_or_else(|| instance.to_string()),
            host: host.to_string(),
            address: address.to_string(),
            port,
            serial: take("serial"),
            usb_path: take("usb_path"),
            profile: take("profile"),
            channel: take("channel"),
            device: take("device"),
            chain,
            state: take("state"),
            version: take("version"),
            reserved_by: take("reserved_by"),
            reserved_until: take("reserved_until").and_then(|t| t.parse().ok()),
            reserved_note: take("reserved_note"),
        }
    }

    /// The Tcl line that opens this cable in Vivado's hardware manager.
    pub(crate) fn vivado_line(&self) -> String {
        vivado_line(&self.host, self.port)
    }
}

/// `open_hw_target -xvc_url HOST:PORT` (IPv6 literals in brackets).
pub(crate) fn vivado_line(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("open_hw_target -xvc_url [{host}]:{port}")
    } else {
        format!("open_hw_target -xvc_url {host}:{port}")
    }
}

/// Sorts by host, then port, and drops repeats of one instance (seen on several interfaces
/// or over both IPv4 and IPv6).
pub(crate) fn tidy(mut cables: Vec<LabCable>) -> Vec<LabCable> {
    // An IPv4 address first among an instance's repeats: it is the one kept.
    cables.sort_by(|a, b| {
        (
            &a.host,
            a.port,
            &a.instance,
            a.address.contains(':'),
            &a.address,
        )
            .cmp(&(
                &b.host,
                b.port,
                &b.instance,
                b.address.contains(':'),
                &b.address,
            ))
    });
    cables.dedup_by(|b, a| a.instance == b.instance && a.host == b.host && a.port == b.port);
    cables
}

/// The table `xvc-agent browse` prints, then one Vivado line per cable.
pub(crate) fn render_table(cables: &[LabCable]) -> String {
    if cables.is_empty() {
        return "no cables found\n".to_string();
    }
    let header = ["HOST", "PORT", "NAME", "SERIAL", "FPGA", "STATE"];
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<Row> = cables
        .iter()
        .map(|c| {
            let mut row = Row::new(vec![
                c.host.clone(),
                c.port.to_string(),
                c.name.clone(),
                dash(&c.serial),
                if c.chain.is_empty() {
                    "-".into()
                } else {
                    c.chain.join(",")
                },
                dash(&c.state),
            ]);
            if let (Some(owner), Some(until)) = (&c.reserved_by, c.reserved_until) {
                let now = std::time::SystemTime::now();
                let until = crate::xvc::reservation::clock_text(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(until),
                    now,
                );
                let note = c
                    .reserved_note
                    .as_deref()
                    .map_or(String::new(), |n| format!(": {n}"));
                row.note(format!("reserved by {owner} until {until}{note}"));
            }
            row
        })
        .collect();
    let mut out = table::render(&header, &rows);
    out.push('\n');
    for c in cables {
        out.push_str(&format!("{}    # {}\n", c.vivado_line(), c.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::status::{ChainDevice, Histogram};

    fn cable(name: &str, serial: Option<&str>, state: CableState, port: u16) -> CableStatus {
        CableStatus {
            name: name.into(),
            serial: serial.map(String::from),
            usb_path: "1-1.4".into(),
            identity: "SIM1".into(),
            device: Some("Digilent JTAG-HS2".into()),
            profile: Some("hs2".into()),
            channel: Some("A".into()),
            identified_by: None,
            port: Some(port),
            listen: Some("::".parse().unwrap()),
            state,
            reason: None,
            client: None,
            client_since: None,
            client_idle_seconds: None,
            sessions: 0,
            shifts: 0,
            bits: 0,
            refused: Default::default(),
            usb_errors: 0,
            reconnects: 0,
            shift_latency: Histogram::default(),
            chain: vec![ChainDevice {
                idcode: Some("0x0362d093".into()),
                name: "xc7a35t".into(),
                family: Some("Artix-7".into()),
            }],
            simulated_fpga: vec![],
            reservation: None,
        }
    }

    fn status(cables: Vec<CableStatus>) -> AgentStatus {
        AgentStatus {
            version: "0.1.0".into(),
            config: "t".into(),
            reloads: 0,
            cables,
            unplugged_reservations: Default::default(),
        }
    }

    #[test]
    fn instance_names_fit_one_label() {
        assert_eq!(instance_name("bench-a", "labpi"), "bench-a on labpi");
        let long = instance_name(&"é".repeat(40), "host");
        assert!(long.len() <= 63 && long.starts_with('é'), "{long}");
    }

    #[test]
    fn txt_records_round_trip() {
        let c = cable("bench-a", Some("210249A85A1E"), CableState::Busy, 2542);
        let txt = txt_records(&c, "0.1.0");
        let keys: Vec<&str> = txt.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "name", "serial", "usb_path", "profile", "channel", "device", "chain", "state",
                "version"
            ]
        );
        let wire = encode_txt(&txt);
        assert_eq!(wire[1], b"serial=210249A85A1E");
        assert_eq!(wire[7], b"state=busy");
        let back = LabCable::from_resolved("bench-a on pi", "pi.local", "10.0.0.2", 2542, &wire);
        assert_eq!(back.name, "bench-a");
        assert_eq!(back.serial.as_deref(), Some("210249A85A1E"));
        assert_eq!(back.chain, ["xc7a35t"]);
        assert_eq!(back.state.as_deref(), Some("busy"));
        assert_eq!(back.vivado_line(), "open_hw_target -xvc_url pi.local:2542");
    }

    #[test]
    fn txt_strings_are_bounded_and_decoding_is_lenient() {
        let wire = encode_txt(&[("chain".into(), "x".repeat(400))]);
        assert_eq!(wire[0].len(), 255);
        let m = decode_txt(&[
            b"Serial=A".to_vec(),
            b"serial=B".to_vec(),
            b"flag".to_vec(),
            b"=novalue".to_vec(),
        ]);
        assert_eq!(m.get("serial").map(String::as_str), Some("A"));
        assert_eq!(m.get("flag").map(String::as_str), Some(""));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn only_served_reachable_cables_are_announced() {
        let mut local = cable("local", Some("L"), CableState::Serving, 2544);
        local.listen = Some("127.0.0.1".parse().unwrap());
        let st = status(vec![
            cable("a", Some("A"), CableState::Serving, 2542),
            cable("b", Some("B"), CableState::Queued, 2543),
            local,
            cable("c", None, CableState::Busy, 2545),
        ]);
        let ann = announcements(&st, "pi", |c| reach(c.listen.unwrap(), |_| None));
        let keys: Vec<&str> = ann.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["A", "1-1.4"]);
        assert_eq!(ann[0].name, "a on pi");
        assert_eq!(ann[1].scope.protocol, PROTO_UNSPEC);
    }

    #[test]
    fn reach_follows_listen() {
        let none = |_| None;
        assert_eq!(reach("::1".parse().unwrap(), none), None);
        assert_eq!(reach("127.0.0.1".parse().unwrap(), none), None);
        assert_eq!(
            reach("0.0.0.0".parse().unwrap(), none),
            Some(Scope {
                interface: IF_UNSPEC,
                protocol: PROTO_INET
            })
        );
        assert_eq!(reach("10.0.0.5".parse().unwrap(), none), None);
        assert_eq!(
            reach("10.0.0.5".parse().unwrap(), |_| Some(3)),
            Some(Scope {
                interface: 3,
                protocol: PROTO_INET
            })
        );
    }

    #[test]
    fn table_and_repeats() {
        let wire = encode_txt(&txt_records(
            &cable("a", Some("A"), CableState::Serving, 2542),
            "0.1.0",
        ));
        let v6 = LabCable::from_resolved("a on h", "h.local", "fe80::1", 2542, &wire);
        let v4 = LabCable::from_resolved("a on h", "h.local", "10.0.0.2", 2542, &wire);
        let list = tidy(vec![v6, v4.clone(), v4]);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].address, "10.0.0.2");
        let table = render_table(&list);
        assert!(
            table.starts_with("HOST     PORT  NAME  SERIAL  FPGA     STATE\n"),
            "{table}"
        );
        assert!(
            table.contains("open_hw_target -xvc_url h.local:2542"),
            "{table}"
        );
        assert_eq!(render_table(&[]), "no cables found\n");
        assert_eq!(
            vivado_line("fd00::2", 1),
            "open_hw_target -xvc_url [fd00::2]:1"
        );
    }
}
