//! The effective configuration: what the agent runs with once a file has been read and
//! checked (or the built-in defaults when there is no file). Every value here is valid; the
//! types say so (ports are `u16`, networks are `IpNet`, patterns are compiled). How each
//! field is written in a file is the key table's business (`keys`).

use super::glob::Glob;
use super::values::PortPool;
pub use crate::ftdi::TdoEdge;
use crate::hotplug::CableInfo;
use crate::xvc::access::{default_allow, AccessMode, AccessPolicy};
use crate::xvc::connection::Keepalive;
use crate::xvc::server::OnBusy;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// `advertise:` — publish served cables over DNS-SD?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdvertiseMode {
    /// When avahi-daemon is on the system bus; say so once when it is not.
    #[default]
    Auto,
    /// Always try; warn when the system bus or avahi-daemon is missing, and keep trying.
    On,
    /// Never.
    Off,
}

impl AdvertiseMode {
    pub fn name(self) -> &'static str {
        match self {
            AdvertiseMode::Auto => "auto",
            AdvertiseMode::On => "on",
            AdvertiseMode::Off => "off",
        }
    }
}

/// Default rule priority (1 is the most important).
pub const DEFAULT_PRIORITY: u32 = 100;

/// Default `keepalive:` bound: how long a vanished client can hold a cable.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(45);

/// Default HTTP listener address when `http:` (or `metrics:`) is given without `listen:`.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:9542";

/// The whole configuration. `Default` is the built-in configuration used when there is no
/// file; the shipped `config/config.yaml` spells the same values out.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Bind address for every cable unless a rule overrides it. `::` (the default) listens on
    /// all addresses, IPv6 and IPv4.
    pub(crate) listen: IpAddr,
    /// Ports for cables without a fixed port.
    pub(crate) ports: PortPool,
    /// Serve cables that match no rule but are a known cable profile, with the worst priority.
    pub(crate) auto_serve: bool,
    /// Serve at most this many cables at once.
    pub(crate) max_cables: usize,
    /// May a better-priority cable take the place of a worse one that has no client?
    pub(crate) preempt: Preempt,
    /// Networks allowed to connect (see [`Config::access`]).
    pub(crate) allow: Vec<IpNet>,
    pub(crate) access: AccessMode,
    /// What a second client gets while a session is active.
    pub(crate) on_busy: OnBusyMode,
    /// How long a second client waits when `on_busy` is `queue`.
    pub(crate) queue_timeout: Duration,
    /// End a session that sends nothing for this long (`None`: never).
    pub(crate) idle_timeout: Option<Duration>,
    /// A client whose host vanished loses the cable within this time (`None`: keepalive off).
    pub(crate) keepalive: Option<Duration>,
    /// How long a graceful stop may take.
    pub(crate) shutdown_timeout: Duration,
    /// Largest TMS/TDI vector accepted per shift, in bytes (advertised in `getinfo:`).
    pub(crate) max_vector_bytes: usize,
    /// Where port leases are kept.
    pub(crate) state_dir: PathBuf,
    /// The HTTP listener: metrics, JSON API and status pages (`http:`, formerly `metrics:`;
    /// `None`: off).
    pub(crate) http: Option<HttpListener>,
    /// Publish served cables over DNS-SD (`advertise:`).
    pub(crate) advertise: AdvertiseMode,
    /// How long reservations last (`reservations:`).
    pub(crate) reservations: ReservationLimits,
    /// Cable rules, in file order.
    pub(crate) cables: Vec<Rule>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ports: PortPool::default(),
            auto_serve: true,
            max_cables: 32,
            preempt: Preempt::Idle,
            allow: default_allow(),
            access: AccessMode::Strict,
            on_busy: OnBusyMode::Refuse,
            queue_timeout: Duration::from_secs(30),
            idle_timeout: None,
            keepalive: Some(DEFAULT_KEEPALIVE),
            shutdown_timeout: Duration::from_secs(5),
            max_vector_bytes: crate::xvc::DEFAULT_MAX_VECTOR_BYTES,
            state_dir: PathBuf::from("/var/lib/xvc-agent"),
            http: None,
            advertise: AdvertiseMode::Auto,
            reservations: ReservationLimits::default(),
            cables: Vec::new(),
        }
    }
}

/// `reservations:` — how long `xvc-agent reserve` holds a cable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservationLimits {
    /// Without `--for`.
    pub default: Duration,
    /// The longest `--for` accepted.
    pub max: Duration,
}

impl Default for ReservationLimits {
    fn default() -> Self {
        ReservationLimits {
            default: Duration::from_secs(4 * 3600),
            max: Duration::from_secs(24 * 3600),
        }
    }
}

/// `preempt:` — may a better-priority cable displace a worse one?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preempt {
    /// Only while the worse one has no client (an active session is never cut).
    #[default]
    Idle,
    /// Never: whoever holds a port or a place keeps it until unplugged.
    Never,
}

/// `on_busy:` — see [`OnBusy`], which adds the queue timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBusyMode {
    #[default]
    Refuse,
    Queue,
}

/// `http:` (older name `metrics:`) — the HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpListener {
    pub listen: SocketAddr,
}

impl Default for HttpListener {
    fn default() -> Self {
        HttpListener {
            listen: DEFAULT_HTTP_LISTEN.parse().expect("built-in address"),
        }
    }
}

/// One entry of `cables:`: which cables it is about, where to serve them, and overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Name shown in status and logs.
    pub name: Option<String>,
    /// Which cables the rule applies to.
    pub matcher: Match,
    /// Fixed port (`None`: from the pool, remembered per cable).
    pub port: Option<u16>,
    /// 1 is the most important.
    pub priority: u32,
    pub allow: Option<Vec<IpNet>>,
    pub access: Option<AccessMode>,
    pub listen: Option<IpAddr>,
    /// Upper bound on TCK in Hz (`None`: the cable's own limit).
    pub max_frequency: Option<u64>,
    pub tdo_edge: Option<TdoEdge>,
    /// Cable profile name (from `ftdi::profiles`); lets a generic FTDI chip be served.
    pub profile: Option<String>,
}

impl Rule {
    /// A rule matching `matcher` with every other field at its default.
    pub fn new(matcher: Match) -> Rule {
        Rule {
            name: None,
            matcher,
            port: None,
            priority: DEFAULT_PRIORITY,
            allow: None,
            access: None,
            listen: None,
            max_frequency: None,
            tdo_edge: None,
            profile: None,
        }
    }
}

/// `match:` — all the given patterns must hold (at least one is given in a valid config).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Match {
    pub serial: Option<Glob>,
    /// USB port path, e.g. `1-1.4`.
    pub usb_path: Option<Glob>,
    /// `vvvv:pppp` in hex, compared in lower case.
    pub vid_pid: Option<Glob>,
    pub product: Option<Glob>,
}

impl Match {
    /// True when every given pattern matches the cable. A pattern on a string the cable does
    /// not have (no serial, no product) does not match. `serial` matches the USB serial or,
    /// for a channel of a multi-channel board, the serial with the channel letter as Vivado
    /// shows it (`210276A1B2C3B`).
    pub fn matches(&self, cable: &CableInfo) -> bool {
        let vid_pid = format!("{:04x}:{:04x}", cable.vid, cable.pid);
        fn holds(pattern: &Option<Glob>, value: Option<&str>) -> bool {
            match pattern {
                None => true,
                Some(glob) => value.is_some_and(|v| glob.matches(v)),
            }
        }
        let serial_holds = holds(&self.serial, cable.serial.as_deref())
            || (matches!(cable.naming, crate::hotplug::Naming::SerialAndChannel(_))
                && holds(&self.serial, Some(&cable.identity())));
        serial_holds
            && holds(&self.usb_path, Some(&cable.usb_path))
            && holds(&self.vid_pid, Some(&vid_pid))
            && holds(&self.product, cable.product.as_deref())
    }

    /// True when no pattern is given.
    pub fn is_empty(&self) -> bool {
        self.serial.is_none()
            && self.usb_path.is_none()
            && self.vid_pid.is_none()
            && self.product.is_none()
    }
}

/// Everything that decides how one cable's server runs. Compared on reload: a cable whose
/// settings (and port) did not change keeps its listener and its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CableSettings {
    pub listen: IpAddr,
    pub access: AccessPolicy,
    pub on_busy: OnBusy,
    pub idle_timeout: Option<Duration>,
    pub keepalive: Option<Keepalive>,
    pub max_vector_bytes: usize,
    /// Upper bound on TCK in Hz (`None`: the profile's own limit).
    pub max_frequency: Option<u64>,
    /// TDO sampling edge (`None`: the cable profile's default).
    pub tdo_edge: Option<TdoEdge>,
    /// Profile named by the rule (`None`: the detected one).
    pub profile: Option<String>,
}

impl Config {
    /// The best-priority rule matching `cable` (ties: first in the file), with its index.
    pub fn rule_for(&self, cable: &CableInfo) -> Option<(usize, &Rule)> {
        self.cables
            .iter()
            .enumerate()
            .filter(|(_, rule)| rule.matcher.matches(cable))
            // min_by_key keeps the first of equal keys.
            .min_by_key(|(_, rule)| rule.priority)
    }

    /// The effective settings of a cable served under `rule` (`None`: auto-served).
    pub fn cable_settings(&self, rule: Option<&Rule>) -> CableSettings {
        CableSettings {
            listen: rule.and_then(|r| r.listen).unwrap_or(self.listen),
            access: AccessPolicy {
                mode: rule.and_then(|r| r.access).unwrap_or(self.access),
                allow: rule
                    .and_then(|r| r.allow.clone())
                    .unwrap_or_else(|| self.allow.clone()),
            },
            on_busy: match self.on_busy {
                OnBusyMode::Refuse => OnBusy::Refuse,
                OnBusyMode::Queue => OnBusy::Queue(self.queue_timeout),
            },
            idle_timeout: self.idle_timeout,
            keepalive: self.keepalive.map(Keepalive::within),
            max_vector_bytes: self.max_vector_bytes,
            max_frequency: rule.and_then(|r| r.max_frequency),
            tdo_edge: rule.and_then(|r| r.tdo_edge),
            profile: rule.and_then(|r| r.profile.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn cable(serial: Option<&str>, usb_path: &str, product: Option<&str>) -> CableInfo {
        CableInfo {
            syspath: PathBuf::from(format!("/sys/bus/usb/devices/{usb_path}")),
            serial: serial.map(String::from),
            usb_path: usb_path.into(),
            busnum: 1,
            devnum: 4,
            product: product.map(String::from),
            ..crate::hotplug::simulated::sim_cable(1)
        }
    }

    fn glob(s: &str) -> Option<Glob> {
        Some(Glob::new(s).unwrap())
    }

    #[test]
    fn match_requires_every_given_pattern() {
        let hs2 = cable(
            Some("210249A2B6C1"),
            "1-1.4",
            Some("Digilent Adept USB Device"),
        );
        let m = Match {
            serial: glob("2102*"),
            usb_path: glob("1-1.*"),
            ..Match::default()
        };
        assert!(m.matches(&hs2));
        let m = Match {
            serial: glob("2102*"),
            usb_path: glob("1-2.*"),
            ..Match::default()
        };
        assert!(!m.matches(&hs2));
        let m = Match {
            vid_pid: glob("0403:6014"),
            product: glob("Digilent*"),
            ..Match::default()
        };
        assert!(m.matches(&hs2));
    }

    #[test]
    fn pattern_on_a_missing_string_does_not_match() {
        let no_serial = cable(None, "1-1.4", None);
        let m = Match {
            serial: glob("*"),
            ..Match::default()
        };
        assert!(!m.matches(&no_serial));
        let m = Match {
            product: glob("*"),
            ..Match::default()
        };
        assert!(!m.matches(&no_serial));
    }

    #[test]
    fn best_priority_rule_wins_ties_go_to_the_first() {
        let hs2 = cable(Some("A"), "1-1.4", None);
        let mut config = Config::default();
        let mut any = Rule::new(Match {
            usb_path: glob("*"),
            ..Match::default()
        });
        any.priority = 50;
        let mut exact = Rule::new(Match {
            serial: glob("A"),
            ..Match::default()
        });
        exact.priority = 50;
        let mut important = exact.clone();
        important.priority = 1;
        config.cables = vec![any.clone(), exact.clone()];
        assert_eq!(config.rule_for(&hs2).map(|(i, _)| i), Some(0));
        config.cables = vec![any, exact, important];
        assert_eq!(config.rule_for(&hs2).map(|(i, _)| i), Some(2));
        assert_eq!(Config::default().rule_for(&hs2), None);
    }

    #[test]
    fn rule_overrides_reach_cable_settings() {
        let config = Config::default();
        let base = config.cable_settings(None);
        assert_eq!(base.listen, config.listen);
        assert_eq!(base.access, AccessPolicy::default());
        assert_eq!(base.on_busy, OnBusy::Refuse);
        assert_eq!(base.tdo_edge, None);

        let mut rule = Rule::new(Match::default());
        rule.allow = Some(vec!["192.168.10.0/24".parse().unwrap()]);
        rule.access = Some(AccessMode::Permissive);
        rule.max_frequency = Some(15_000_000);
        let s = config.cable_settings(Some(&rule));
        assert_eq!(s.access.mode, AccessMode::Permissive);
        assert_eq!(s.access.allow.len(), 1);
        assert_eq!(s.max_frequency, Some(15_000_000));
        assert_ne!(s, base);
    }

    #[test]
    fn queue_timeout_applies_only_when_queueing() {
        let mut config = Config {
            queue_timeout: Duration::from_secs(7),
            ..Config::default()
        };
        assert_eq!(config.cable_settings(None).on_busy, OnBusy::Refuse);
        config.on_busy = OnBusyMode::Queue;
        assert_eq!(
            config.cable_settings(None).on_busy,
            OnBusy::Queue(Duration::from_secs(7))
        );
    }
}
