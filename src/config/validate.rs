//! From a YAML tree to a [`Config`], collecting every problem instead of stopping at the first.
//!
//! Two steps. [`read`] walks the tree along the schema and turns each value it recognises
//! into a typed raw field (remembering where it was written), reporting unknown keys, wrong
//! types and malformed values. [`check`] then applies the rules that involve several values
//! (a fixed port inside the pool, duplicate names, empty matches) and fills in defaults.

use super::glob::Glob;
use super::schema::{
    AdvertiseMode, Config, Match, Metrics, OnBusyMode, Preempt, Rule, TdoEdge, DEFAULT_PRIORITY,
};
use super::values::{format_frequency, parse_duration, parse_frequency, PortPool};
use super::yaml::{Node, Pos};
use crate::xvc::access::AccessMode;
use crate::xvc::connection::Keepalive;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// A value and where it was written.
#[derive(Debug, Clone)]
struct Spanned<T> {
    value: T,
    pos: Pos,
}

/// The file as written: only the keys that were given, each already typed.
#[derive(Debug, Default)]
struct RawConfig {
    listen: Option<IpAddr>,
    ports: Option<Spanned<PortPool>>,
    auto_serve: Option<bool>,
    max_cables: Option<usize>,
    preempt: Option<Preempt>,
    allow: Option<Vec<IpNet>>,
    access: Option<AccessMode>,
    on_busy: Option<OnBusyMode>,
    queue_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    /// `Some(None)`: `keepalive: off`.
    keepalive: Option<Option<Duration>>,
    shutdown_timeout: Option<Duration>,
    max_vector_bytes: Option<usize>,
    state_dir: Option<PathBuf>,
    metrics: Option<Spanned<(&'static str, Option<Metrics>)>>,
    advertise: Option<AdvertiseMode>,
    cables: Vec<RawRule>,
}

/// One entry of `cables:` as written.
#[derive(Debug)]
struct RawRule {
    pos: Pos,
    name: Option<Spanned<String>>,
    /// `None`: no `match:` key; else the patterns and how many were written.
    matcher: Option<Spanned<(Match, usize)>>,
    port: Option<Spanned<u16>>,
    priority: Option<u32>,
    allow: Option<Vec<IpNet>>,
    access: Option<AccessMode>,
    listen: Option<IpAddr>,
    max_frequency: Option<u64>,
    tdo_edge: Option<TdoEdge>,
    profile: Option<String>,
}

pub(super) const TOP_KEYS: &[&str] = &[
    "listen",
    "ports",
    "auto_serve",
    "max_cables",
    "preempt",
    "allow",
    "access",
    "on_busy",
    "queue_timeout",
    "idle_timeout",
    "keepalive",
    "shutdown_timeout",
    "max_vector_bytes",
    "state_dir",
    "metrics",
    "http",
    "advertise",
    "cables",
];

pub(super) const RULE_KEYS: &[&str] = &[
    "name",
    "match",
    "port",
    "priority",
    "allow",
    "access",
    "listen",
    "max_frequency",
    "tdo_edge",
    "profile",
];

pub(super) const MATCH_KEYS: &[&str] = &["serial", "usb_path", "vid_pid", "product"];

pub(super) const METRICS_KEYS: &[&str] = &["listen"];

const ACCESS_MODES: &[(&str, AccessMode)] = &[
    ("strict", AccessMode::Strict),
    ("permissive", AccessMode::Permissive),
    ("off", AccessMode::Off),
];

const ADVERTISE_MODES: &[(&str, AdvertiseMode)] = &[
    ("auto", AdvertiseMode::Auto),
    ("on", AdvertiseMode::On),
    ("off", AdvertiseMode::Off),
];

const PREEMPT_MODES: &[(&str, Preempt)] = &[("idle", Preempt::Idle), ("never", Preempt::Never)];

const ON_BUSY_MODES: &[(&str, OnBusyMode)] =
    &[("refuse", OnBusyMode::Refuse), ("queue", OnBusyMode::Queue)];

const TDO_EDGES: &[(&str, TdoEdge)] = &[
    ("rising", TdoEdge::Rising),
    ("falling", TdoEdge::Falling),
    ("auto", TdoEdge::Auto),
];

/// Largest `max_vector_bytes`: a shift's bit count is a u32, so no vector is longer than this.
const MAX_VECTOR_LIMIT: u64 = (u32::MAX as u64).div_ceil(8);

/// Turns a parsed document into a config, or every problem found (position, message).
/// `None` (an empty file) is the built-in defaults.
pub fn config_from_tree(root: Option<&Node>) -> Result<Config, Vec<(Pos, String)>> {
    let mut walker = Walker::default();
    let raw = match root {
        Some(node) => walker.read(node),
        None => RawConfig::default(),
    };
    let config = walker.check(raw);
    if walker.errors.is_empty() {
        Ok(config)
    } else {
        // Report in file order; problems found at the same place keep their order.
        walker.errors.sort_by_key(|(pos, _)| *pos);
        Err(walker.errors)
    }
}

#[derive(Default)]
struct Walker {
    errors: Vec<(Pos, String)>,
}

impl Walker {
    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.errors.push((pos, message.into()));
    }

    fn read(&mut self, root: &Node) -> RawConfig {
        let mut raw = RawConfig::default();
        if !matches!(root, Node::Map(..)) {
            self.error(
                root.pos(),
                format!(
                    "the config must be a mapping of keys (like `listen: \"::\"`), found {}",
                    root.kind()
                ),
            );
            return raw;
        }
        for (key, value) in self.entries(root, "", TOP_KEYS) {
            match key {
                "listen" => raw.listen = self.parsed(value, key, parse_ip),
                "ports" => {
                    raw.ports = self
                        .parsed(value, key, PortPool::parse)
                        .map(|pool| Spanned {
                            value: pool,
                            pos: value.pos(),
                        })
                }
                "auto_serve" => raw.auto_serve = self.boolean(value, key),
                "max_cables" => {
                    raw.max_cables = self
                        .integer(value, key, 1, u32::MAX.into())
                        .map(|n| n as usize)
                }
                "preempt" => raw.preempt = self.choice(value, key, PREEMPT_MODES),
                "allow" => raw.allow = self.networks(value, key),
                "access" => raw.access = self.choice(value, key, ACCESS_MODES),
                "on_busy" => raw.on_busy = self.choice(value, key, ON_BUSY_MODES),
                "queue_timeout" => raw.queue_timeout = self.parsed(value, key, parse_duration),
                "idle_timeout" => raw.idle_timeout = self.parsed(value, key, parse_duration),
                "keepalive" => raw.keepalive = self.parsed(value, key, parse_keepalive),
                "shutdown_timeout" => {
                    raw.shutdown_timeout = self.parsed(value, key, parse_duration)
                }
                "max_vector_bytes" => {
                    raw.max_vector_bytes = self
                        .integer(value, key, 1, MAX_VECTOR_LIMIT)
                        .map(|n| n as usize)
                }
                "state_dir" => {
                    raw.state_dir = self.parsed(value, key, |s| {
                        if s.is_empty() {
                            Err("must not be empty".to_string())
                        } else {
                            Ok(PathBuf::from(s))
                        }
                    })
                }
                "metrics" | "http" => {
                    let section = if key == "http" { "http" } else { "metrics" };
                    let parsed = self.metrics(value, section);
                    if let Some(first) = &raw.metrics {
                        self.error(
                            value.pos(),
                            format!(
                                "{section}: give either http: or its older name metrics:, not both ({}: is at line {})",
                                first.value.0, first.pos.line
                            ),
                        );
                    }
                    raw.metrics = Some(Spanned {
                        value: (section, parsed),
                        pos: value.pos(),
                    });
                }
                "advertise" => raw.advertise = self.choice(value, key, ADVERTISE_MODES),
                "cables" => raw.cables = self.rules(value),
                _ => unreachable!("entries() only returns known keys"),
            }
        }
        raw
    }

    fn metrics(&mut self, node: &Node, section: &'static str) -> Option<Metrics> {
        if node.is_null() {
            return None;
        }
        if !matches!(node, Node::Map(..)) {
            self.type_error(
                node,
                section,
                "a mapping (like `{ listen: 127.0.0.1:9542 }`)",
            );
            return None;
        }
        let mut metrics = Metrics::default();
        let prefix = format!("{section}.");
        for (key, value) in self.entries(node, &prefix, METRICS_KEYS) {
            if key == "listen" {
                let what = format!("{section}.listen");
                if let Some(addr) = self.parsed(value, &what, parse_socket_addr) {
                    metrics.listen = addr;
                }
            }
        }
        Some(metrics)
    }

    fn rules(&mut self, node: &Node) -> Vec<RawRule> {
        if node.is_null() {
            return Vec::new();
        }
        let Node::Seq(items, _) = node else {
            self.type_error(node, "cables", "a list of rules");
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.rule(item, &format!("cables[{i}]")))
            .collect()
    }

    fn rule(&mut self, node: &Node, path: &str) -> Option<RawRule> {
        if !matches!(node, Node::Map(..)) {
            self.type_error(node, path, "a rule (a mapping with `match:`)");
            return None;
        }
        let mut rule = RawRule {
            pos: node.pos(),
            name: None,
            matcher: None,
            port: None,
            priority: None,
            allow: None,
            access: None,
            listen: None,
            max_frequency: None,
            tdo_edge: None,
            profile: None,
        };
        for (key, value) in self.entries(node, &format!("{path}."), RULE_KEYS) {
            let at = format!("{path}.{key}");
            match key {
                "name" => {
                    rule.name = self
                        .parsed(value, &at, |s| {
                            if s.trim().is_empty() {
                                Err("must not be empty".to_string())
                            } else {
                                Ok(s.to_string())
                            }
                        })
                        .map(|name| Spanned {
                            value: name,
                            pos: value.pos(),
                        })
                }
                "match" => {
                    rule.matcher = Some(Spanned {
                        value: self.matcher(value, &at),
                        pos: value.pos(),
                    })
                }
                "port" => {
                    rule.port = self.integer(value, &at, 1, 65535).map(|p| Spanned {
                        value: p as u16,
                        pos: value.pos(),
                    })
                }
                "priority" => {
                    rule.priority = self
                        .integer(value, &at, 1, u32::MAX.into())
                        .map(|p| p as u32)
                }
                "allow" => rule.allow = self.networks(value, &at),
                "access" => rule.access = self.choice(value, &at, ACCESS_MODES),
                "listen" => rule.listen = self.parsed(value, &at, parse_ip),
                "max_frequency" => {
                    rule.max_frequency = self.parsed(value, &at, |s| {
                        let hz = parse_frequency(s)?;
                        if hz > crate::ftdi::clock::BASE_TCK_HZ {
                            return Err(format!(
                                "{} is above the fastest TCK of an FTDI MPSSE cable (30MHz)",
                                format_frequency(hz)
                            ));
                        }
                        Ok(hz)
                    })
                }
                "tdo_edge" => rule.tdo_edge = self.choice(value, &at, TDO_EDGES),
                "profile" => {
                    rule.profile =
                        self.parsed(value, &at, |s| match crate::ftdi::profiles::by_name(s) {
                            Some(p) => Ok(p.name.to_string()),
                            None => Err(format!(
                                "unknown cable profile {s:?} (known: {})",
                                crate::ftdi::profiles::PROFILES
                                    .iter()
                                    .map(|p| p.name)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )),
                        })
                }
                _ => unreachable!("entries() only returns known keys"),
            }
        }
        Some(rule)
    }

    /// The patterns of a `match:`, and how many were written (0: an empty match, reported
    /// by `check`). A bad pattern is reported here and still counts as written.
    fn matcher(&mut self, node: &Node, path: &str) -> (Match, usize) {
        let mut m = Match::default();
        if node.is_null() {
            return (m, 0);
        }
        if !matches!(node, Node::Map(..)) {
            self.type_error(
                node,
                path,
                "a mapping of patterns (like `{ serial: \"210249A2B6C1\" }`)",
            );
            return (m, 1);
        }
        let mut written = 0;
        for (key, value) in self.entries(node, &format!("{path}."), MATCH_KEYS) {
            if !value.is_null() {
                written += 1;
            }
            let at = format!("{path}.{key}");
            let glob = if key == "vid_pid" {
                self.parsed(value, &at, parse_vid_pid)
            } else {
                self.parsed(value, &at, |s| Glob::new(s).map_err(|e| e.to_string()))
            };
            match key {
                "serial" => m.serial = glob,
                "usb_path" => m.usb_path = glob,
                "vid_pid" => m.vid_pid = glob,
                "product" => m.product = glob,
                _ => unreachable!("entries() only returns known keys"),
            }
        }
        (m, written)
    }

    /// The known entries of a mapping, reporting non-mappings, unknown keys and duplicates.
    /// `prefix` is the path of the mapping for messages (`""`, `"cables[0]."`).
    fn entries<'n>(
        &mut self,
        node: &'n Node,
        prefix: &str,
        known: &[&'static str],
    ) -> Vec<(&'static str, &'n Node)> {
        let Node::Map(pairs, _) = node else {
            return Vec::new();
        };
        let mut seen: Vec<(&'static str, Pos)> = Vec::new();
        let mut out = Vec::new();
        for (key, value) in pairs {
            let Node::Scalar(k) = key else {
                self.error(
                    key.pos(),
                    format!("{prefix}: keys must be plain names, found {}", key.kind()),
                );
                continue;
            };
            let Some(&name) = known.iter().find(|&&n| n == k.text) else {
                let hint = match closest(&k.text, known) {
                    Some(near) => format!("did you mean {near:?}?"),
                    None => format!("expected one of: {}", known.join(", ")),
                };
                self.error(k.pos, format!("{prefix}{}: unknown key; {hint}", k.text));
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                self.error(
                    k.pos,
                    format!(
                        "{prefix}{name}: duplicate key (first given at line {})",
                        first.line
                    ),
                );
                continue;
            }
            seen.push((name, k.pos));
            out.push((name, value));
        }
        out
    }

    fn type_error(&mut self, node: &Node, path: &str, expected: &str) {
        self.error(
            node.pos(),
            format!("{path}: expected {expected}, found {}", node.kind()),
        );
    }

    /// The text of a scalar, or a type error. `None` for null (the key counts as not given).
    fn text<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n str> {
        match node {
            _ if node.is_null() => None,
            Node::Scalar(s) => Some(&s.text),
            _ => {
                self.type_error(node, path, "a single value");
                None
            }
        }
    }

    /// A scalar parsed by `parse`; its error message is reported at the value.
    fn parsed<T>(
        &mut self,
        node: &Node,
        path: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.text(node, path)?;
        match parse(text) {
            Ok(v) => Some(v),
            Err(message) => {
                self.error(node.pos(), format!("{path}: {message}"));
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node {
            Node::Scalar(s) if !s.quoted && s.text == "true" => Some(true),
            Node::Scalar(s) if !s.quoted && s.text == "false" => Some(false),
            _ if node.is_null() => None,
            Node::Scalar(s) => {
                self.error(
                    s.pos,
                    format!("{path}: expected true or false, found {:?}", s.text),
                );
                None
            }
            _ => {
                self.type_error(node, path, "true or false");
                None
            }
        }
    }

    /// A whole number in `min..=max`, written as a plain number.
    fn integer(&mut self, node: &Node, path: &str, min: u64, max: u64) -> Option<u64> {
        let s = match node {
            _ if node.is_null() => return None,
            Node::Scalar(s) if !s.quoted => s,
            _ => {
                self.type_error(node, path, "a whole number");
                return None;
            }
        };
        let n = match s.text.parse::<i128>() {
            Ok(n) => n,
            Err(_) => {
                self.error(
                    s.pos,
                    format!("{path}: expected a whole number, found {:?}", s.text),
                );
                return None;
            }
        };
        if n < i128::from(min) || n > i128::from(max) {
            let range = if max >= u64::from(u32::MAX) {
                format!("must be at least {min}")
            } else {
                format!("must be {min}-{max}")
            };
            self.error(s.pos, format!("{path}: {n} is out of range; {range}"));
            return None;
        }
        Some(n as u64)
    }

    fn choice<T: Copy>(&mut self, node: &Node, path: &str, options: &[(&str, T)]) -> Option<T> {
        self.parsed(node, path, |s| {
            options
                .iter()
                .find(|(name, _)| *name == s)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                    format!("invalid value {s:?}; expected one of: {}", names.join(", "))
                })
        })
    }

    /// A list of networks (`10.0.0.0/8`; a bare address means that one host). Every bad
    /// entry is reported.
    fn networks(&mut self, node: &Node, path: &str) -> Option<Vec<IpNet>> {
        if node.is_null() {
            return None;
        }
        let Node::Seq(items, _) = node else {
            self.type_error(node, path, "a list of networks (like `[10.0.0.0/8]`)");
            return None;
        };
        let mut nets = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.parsed(item, &format!("{path}[{i}]"), parse_net) {
                Some(net) => nets.push(net),
                None => {
                    if item.is_null() {
                        self.type_error(item, &format!("{path}[{i}]"), "a network");
                    }
                    ok = false;
                }
            }
        }
        ok.then_some(nets)
    }

    /// Rules involving several values, and defaults for what was not given.
    fn check(&mut self, raw: RawConfig) -> Config {
        let defaults = Config::default();
        let pool = raw
            .ports
            .as_ref()
            .map(|p| p.value)
            .unwrap_or(defaults.ports);
        let pool_given = raw.ports.is_some();
        let mut names: Vec<Spanned<String>> = Vec::new();
        let mut rules = Vec::new();
        for (i, r) in raw.cables.into_iter().enumerate() {
            let path = format!("cables[{i}]");
            match &r.matcher {
                None => self.error(
                    r.pos,
                    format!("{path}: a rule needs `match:` (serial, usb_path, vid_pid or product)"),
                ),
                Some(m) if m.value.1 == 0 => self.error(
                    m.pos,
                    format!(
                        "{path}.match: give at least one of serial, usb_path, vid_pid, product"
                    ),
                ),
                Some(_) => {}
            }
            if let Some(port) = &r.port {
                if pool.contains(port.value) {
                    let whence = if pool_given {
                        ""
                    } else {
                        " (the default `ports:`)"
                    };
                    self.error(
                        port.pos,
                        format!(
                            "{path}.port: port {} is inside the pool {pool}{whence}; fixed ports must be outside the pool",
                            port.value
                        ),
                    );
                }
            }
            if let Some(name) = &r.name {
                match names.iter().find(|n| n.value == name.value) {
                    Some(first) => self.error(
                        name.pos,
                        format!(
                            "{path}.name: duplicate cable name {:?} (first used at line {})",
                            name.value, first.pos.line
                        ),
                    ),
                    None => names.push(name.clone()),
                }
            }
            rules.push(Rule {
                name: r.name.map(|n| n.value),
                matcher: r.matcher.map(|m| m.value.0).unwrap_or_default(),
                port: r.port.map(|p| p.value),
                priority: r.priority.unwrap_or(DEFAULT_PRIORITY),
                allow: r.allow,
                access: r.access,
                listen: r.listen,
                max_frequency: r.max_frequency,
                tdo_edge: r.tdo_edge,
                profile: r.profile,
            });
        }
        Config {
            listen: raw.listen.unwrap_or(defaults.listen),
            ports: pool,
            auto_serve: raw.auto_serve.unwrap_or(defaults.auto_serve),
            max_cables: raw.max_cables.unwrap_or(defaults.max_cables),
            preempt: raw.preempt.unwrap_or(defaults.preempt),
            allow: raw.allow.unwrap_or(defaults.allow),
            access: raw.access.unwrap_or(defaults.access),
            on_busy: raw.on_busy.unwrap_or(defaults.on_busy),
            queue_timeout: raw.queue_timeout.unwrap_or(defaults.queue_timeout),
            idle_timeout: match raw.idle_timeout {
                Some(d) if d.is_zero() => None,
                Some(d) => Some(d),
                None => defaults.idle_timeout,
            },
            keepalive: raw.keepalive.unwrap_or(defaults.keepalive),
            shutdown_timeout: raw.shutdown_timeout.unwrap_or(defaults.shutdown_timeout),
            max_vector_bytes: raw.max_vector_bytes.unwrap_or(defaults.max_vector_bytes),
            state_dir: raw.state_dir.unwrap_or(defaults.state_dir),
            metrics: raw.metrics.and_then(|m| m.value.1),
            advertise: raw.advertise.unwrap_or(defaults.advertise),
            cables: rules,
        }
    }
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "invalid address {s:?}; expected an IP address such as \"::\", 0.0.0.0 or 192.168.1.10"
        )
    })
}

fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse().map_err(|_| {
        format!("invalid address {s:?}; expected address:port such as 127.0.0.1:9542 or [::1]:9542")
    })
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    Err(format!(
        "invalid network {s:?}; expected address/prefix such as 10.0.0.0/8 or fc00::/7"
    ))
}

/// `vvvv:pppp` in hex (wildcards allowed), compared in lower case.
fn parse_vid_pid(s: &str) -> Result<Glob, String> {
    let lower = s.trim().to_ascii_lowercase();
    let glob = Glob::new(&lower).map_err(|e| e.to_string())?;
    let well_formed = lower.split_once(':').is_some_and(|(v, p)| {
        v.len() == 4 && p.len() == 4 && (v.to_string() + p).bytes().all(|b| b.is_ascii_hexdigit())
    });
    if glob.is_literal() && !well_formed {
        return Err(format!(
            "invalid USB id {s:?}; expected vendor:product in hex, like \"0403:6014\""
        ));
    }
    Ok(glob)
}

/// The known name closest to `word`, if it is a plausible typo (edit distance ≤ 2).
fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance: insertions, deletions and substitutions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// `keepalive: off`, or the bound (a duration of at least [`Keepalive::MIN_BOUND`]).
fn parse_keepalive(text: &str) -> Result<Option<Duration>, String> {
    if text == "off" {
        return Ok(None);
    }
    let bound = parse_duration(text).map_err(|e| format!("{e}, or off"))?;
    if bound < Keepalive::MIN_BOUND {
        return Err(format!(
            "{text:?} is too short; at least {}s (or off)",
            Keepalive::MIN_BOUND.as_secs()
        ));
    }
    Ok(Some(bound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("prot", "port"), 2);
        assert_eq!(edit_distance("listne", "listen"), 2);
        assert_eq!(edit_distance("port", "port"), 0);
        assert_eq!(closest("prot", RULE_KEYS), Some("port"));
        assert_eq!(closest("zzzzzz", RULE_KEYS), None);
    }

    #[test]
    fn networks_accept_bare_addresses() {
        assert_eq!(parse_net("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_net("127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert_eq!(parse_net("::1").unwrap().to_string(), "::1/128");
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("lab").is_err());
    }

    #[test]
    fn vid_pid_forms() {
        assert!(parse_vid_pid("0403:6014").is_ok());
        assert!(parse_vid_pid("0403:601?").is_ok());
        assert!(parse_vid_pid("0403:*").is_ok());
        assert_eq!(parse_vid_pid("0403:601A").unwrap().as_str(), "0403:601a");
        assert!(parse_vid_pid("403:6014").is_err());
        assert!(parse_vid_pid("ftdi").is_err());
    }
}
